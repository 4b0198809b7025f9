#!/usr/bin/env bash
# CPU profile of the timed phase of `pgpipe-bench pipeline` with Linux perf (needs root or
# perf_event_paranoid <= 1): starts tools/bench_pipeline.sh, waits for the warm-up to finish, records
# pgpipe for SECONDS, then prints the hottest symbols and the share per component.
#
#   tools/profile_pipeline.sh [SECONDS=10] [extra bench options; default --images 3000 --rounds 1 so timing outlasts the record]
#
# JIT-compiled frames are named through /tmp/perf-PID.map (DOTNET_PerfMapEnabled=1); W^X is turned off
# because its double-mapped code pages hide those names from perf.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds="${1:-10}"; shift || true
(( $# )) || set -- --s3-keys 0 --keys 10000 --store-rows 0 --images 3000 --rounds 1
command -v perf >/dev/null || { echo "perf is not installed (apt-get install linux-perf)" >&2; exit 1; }
out="$(mktemp -d /tmp/pgpipe-profile.XXXXXX)"
export DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0
"$repo/tools/bench_pipeline.sh" "$@" > "$out/bench.txt" 2>&1 &
bench=$!
# The first round's raw decode phase runs after the warm-up; its line marks the start of that round's pipeline phase,
# so the recording holds pipeline work only (SECONDS must stay below one round's pipeline time).
for _ in $(seq 1 1500); do grep -q "^round 1: raw" "$out/bench.txt" 2>/dev/null && break; kill -0 "$bench" 2>/dev/null || break; sleep 0.2; done
grep -q "^round 1: raw" "$out/bench.txt" || { cat "$out/bench.txt" >&2; echo "the benchmark ended before its first timed round began" >&2; exit 1; }
pid="$(pgrep -n -f "pgpipe-bench pipeline")"
perf record -F 499 -g -p "$pid" -o "$out/perf.data" -- sleep "$seconds" > "$out/record.txt" 2>&1
wait "$bench"
grep -E "^round 1: pipeline:|CPU per image" "$out/bench.txt"
echo "--- share of pgpipe's CPU by library"
perf report -i "$out/perf.data" --no-children --sort dso --stdio -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -8
echo "--- hottest symbols"
perf report -i "$out/perf.data" --no-children --sort sym --stdio -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -30 | cut -c1-180
echo "(perf data and bench output in $out)"
