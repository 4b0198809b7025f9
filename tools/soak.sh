#!/usr/bin/env bash
# The soak benchmark: small images flow S3 -> RabbitMQ -> two `pgpipe worker` processes -> Postgres for MINUTES
# (default 20) against the local services of .ci/services.sh, while each worker's RSS, managed heap, open descriptors
# and database connections are sampled every 5 s. Prints the least-squares RSS and heap slopes after the first
# 2 minutes with the RSS gained per image finished, the maxima, and checks that every image ended exactly once. CI runs the same scenario for 3 minutes
# (SoakTests in the end-to-end suite).
#
#   tools/soak.sh [MINUTES=20]
#
# Writes the table and the raw samples (CSV) under a temporary folder and prints both paths.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
minutes="${1:-20}"
[[ -f .ci/services.env ]] || bash .ci/services.sh
set -a; source .ci/services.env; set +a
out="$(mktemp -d /tmp/pgpipe-soak.XXXXXX)"
export CI=true PGPIPE_SOAK_MINUTES="$minutes" PGPIPE_SOAK_FIGURES="$out/soak.md"
dotnet build tests/PaliGemma.Pipeline.EndToEnd.Tests -c Release -v q -nologo >/dev/null
status=0
dotnet test tests/PaliGemma.Pipeline.EndToEnd.Tests -c Release --no-build --nologo -v q --filter "Category=Soak" \
  --logger "console;verbosity=minimal" > "$out/test.log" 2>&1 || status=$?
cat "$out/soak.md" 2>/dev/null || tail -40 "$out/test.log"
echo "(table $out/soak.md, samples $out/soak.samples.csv, test log $out/test.log)"
exit "$status"
