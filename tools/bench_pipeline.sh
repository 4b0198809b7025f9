#!/usr/bin/env bash
# End-to-end pipeline benchmark (S3 -> RabbitMQ -> worker -> Postgres) against the local services of
# .ci/services.sh, with the raw decode+resize limit, producer and insert rates measured in the same process.
#
#   tools/bench_pipeline.sh [extra `pgpipe-bench pipeline` options, e.g. --images 1000 --keys 100000]
#
# Builds the benchmark (tools/PaliGemma.Pipeline.Benchmarks, not part of pgpipe) in Release (a Debug build would
# understate every rate) and uses the tiny fixture model (56x56, so inference is negligible) unless --model is given,
# and the scratch database pgpipe_bench unless --db is given.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
[[ -f .ci/services.env ]] || bash .ci/services.sh
set -a; source .ci/services.env; set +a
export S3__ServiceUrl="$PGPIPE_TEST_S3" S3__AccessKey=S3RVER S3__SecretKey=S3RVER
export Messaging__Transport=RabbitMq Messaging__Host=127.0.0.1 Messaging__Port=5672 Messaging__Username=guest Messaging__Password=guest
# A scratch database of its own: the benchmark writes bench:// rows and runs that nobody else should see. It is
# passed as --db: the benchmark never takes its database from Database__* settings.
export PGPASSWORD=pgpipe
psql -h 127.0.0.1 -U pgpipe -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='pgpipe_bench'" | grep -q 1 \
  || psql -h 127.0.0.1 -U pgpipe -d postgres -qc "CREATE DATABASE pgpipe_bench"
db="${PGPIPE_TEST_POSTGRES/Database=postgres/Database=pgpipe_bench}"
dotnet build tools/PaliGemma.Pipeline.Benchmarks -c Release -v q -nologo >/dev/null
# The runtime promotes a method to tier 1 only after 100 ms without new tier-0 JIT activity; a process that keeps
# meeting new code (warm-up, then timing) defers that, and a profile of the timed phase showed the tiering thread
# (libclrjit) at 15% of this process's CPU, about 1 ms per image, rising through the phase. A worker that runs for
# hours has long finished that; 0 lets this short benchmark reach the same steady state during its warm-up
# (measured: pipeline 7.1 -> 5.8 ms CPU/image, raw decode unchanged at 4.1 ms).
export DOTNET_TC_CallCountingDelayMs="${DOTNET_TC_CallCountingDelayMs:-0}"
# Tiered PGO adds a second, instrumented tier before tier 1, so a method needs twice the calls to reach its final
# code: after the 1,000-image warm-up, and after waiting for the JIT to go quiet, 800 methods (MassTransit, RabbitMQ,
# the store's per-batch code) were still being compiled to tier 1 during the timed phase, 0.5 ms of CPU per image
# (measured under load 5-13 on 2 cores: JIT thread 0.5-0.9 ms/image with PGO, 0.0 without; raw decode 3.9-4.3 ms
# either way). It applies to the raw phase in the same process too; a worker that runs for hours is past it either way.
export DOTNET_TieredPGO="${DOTNET_TieredPGO:-0}"
model=()
[[ " $* " == *" --model "* || " $* " == *" -m "* ]] || model=(--model tests/fixtures/models/tiny)
scratch=()
[[ " $* " == *" --db "* ]] || scratch=(--db "$db")
exec tools/PaliGemma.Pipeline.Benchmarks/bin/Release/net10.0/pgpipe-bench pipeline "${model[@]}" "${scratch[@]}" "$@"
