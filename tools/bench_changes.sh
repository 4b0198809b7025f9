#!/usr/bin/env bash
# Change-feed read benchmark: `pgpipe changes` over ROWS result rows (default 100,000) on Postgres, written to a file,
# with wall time, changes/s and peak resident memory; the baseline, in the same run on the same rows, is psql copying
# the same columns in the same (txid, change_seq) order to a file, i.e. what the database itself delivers.
#
#   tools/bench_changes.sh [ROWS] [REPEATS]
#
# Uses the PostgreSQL of .ci/services.sh (PGPIPE_TEST_POSTGRES, or .ci/services.env) and a scratch database of its own,
# pgpipe_bench_changes, dropped and re-created each run. Rows are inserted in transactions of 1,000 (as worker batches
# commit), every fourth with two boxes; text is about 80 characters. Each tool runs REPEATS times (default 3), and the
# fastest run is reported (the rest is noise from other work on the machine). CPU is the process's user + system time:
# on a busy machine it is the steadier figure, since wall time then includes waiting for a core. "pgpipe start-up" is
# `pgpipe changes --limit 1` (runtime start, configuration, store check, one page), to be subtracted from the full run.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
rows="${1:-100000}"
repeats="${2:-3}"
if [[ -z "${PGPIPE_TEST_POSTGRES:-}" ]]; then
  [[ -f .ci/services.env ]] || bash .ci/services.sh
  set -a; source .ci/services.env; set +a
fi

# psql takes the same server and credentials as the tests' connection string (Host=...;Port=...;Username=...;Password=...).
field() { tr ';' '\n' <<<"$PGPIPE_TEST_POSTGRES" | sed -n "s/^$1=//Ip" | head -1; }
export PGHOST="$(field Host)" PGPORT="$(field Port)" PGUSER="$(field Username)" PGPASSWORD="$(field Password)"
export PGPORT="${PGPORT:-5432}"
db=pgpipe_bench_changes
psql -d postgres -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
export Database__Provider=Postgres
export Database__ConnectionString="Host=$PGHOST;Port=$PGPORT;Username=$PGUSER;Password=$PGPASSWORD;Database=$db"

dotnet build src/PaliGemma.Pipeline.Cli -c Release -v q -nologo >/dev/null
pgpipe=src/PaliGemma.Pipeline.Cli/bin/Release/net10.0/pgpipe
"$pgpipe" migrate >/dev/null

work="$(mktemp -d -t pgpipe-bench-changes.XXXXXX)"
trap 'rm -rf "$work"' EXIT
{
  for ((start = 0; start < rows; start += 1000)); do
    end=$((start + 1000 < rows ? start + 1000 : rows))
    cat <<SQL
INSERT INTO results (uri, etag, model, task, text, boxes, prompt_tokens, generated_tokens, latency_ms, created_at, updated_at, superseded)
SELECT 's3://bench/photos/' || lpad(i::text, 8, '0') || '.jpg', md5(i::text), 'paligemma2-3b-pt-448',
       CASE WHEN i % 4 = 0 THEN 'detect cat ; dog' ELSE 'caption en' END,
       'a photograph number ' || i || ' of a cat sleeping on a red sofa next to a window',
       CASE WHEN i % 4 = 0 THEN jsonb_build_array(
              jsonb_build_object('label', 'cat', 'x1', 12.5, 'y1', 40, 'x2', 300.25, 'y2', 280),
              jsonb_build_object('label', 'dog', 'x1', 310, 'y1', 22.75, 'x2', 640, 'y2', 470.5)) END,
       1030, 12, 95.5, now(), now(), FALSE
FROM generate_series($((start + 1)), $end) AS i;
SQL
  done
} | psql -d "$db" -q
psql -d "$db" -qc "VACUUM ANALYZE results"

best() { sort -n -k1,1 | head -1; }
measure() { # label, output file, command...
  local label=$1 out=$2; shift 2
  for ((r = 0; r < repeats; r++)); do
    /usr/bin/time -f "%e %U %S %M" -o "$work/time" "$@" >"$out"
    cat "$work/time"
  done | best | { read -r seconds user system rss; echo "$label $seconds $(awk -v u="$user" -v s="$system" 'BEGIN { print u + s }') $rss $(stat -c %s "$out")"; }
}

pg=$(measure psql "$work/psql.tsv" psql -d "$db" -qc "\\copy (SELECT id, uri, etag, model, task, text, boxes::text, prompt_tokens, generated_tokens, superseded, updated_at, txid, change_seq FROM results ORDER BY txid, change_seq) TO STDOUT")
start=$(measure start-up "$work/one.jsonl" "$pgpipe" changes --limit 1)
cli=$(measure pgpipe "$work/changes.jsonl" "$pgpipe" changes)
lines=$(wc -l <"$work/changes.jsonl")
[[ $lines -eq $rows ]] || { echo "pgpipe changes printed $lines lines, expected $rows" >&2; exit 1; }

echo "rows: $rows, best of $repeats runs, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-16s %8s %8s %12s %12s %9s %10s\n' TOOL WALL_S CPU_S ROWS/WALL_S ROWS/CPU_S RSS_MiB OUT_MiB
for line in "$pg" "$start" "$cli"; do
  read -r label seconds cpu rss bytes <<<"$line"
  awk -v l="$label" -v s="$seconds" -v c="$cpu" -v r="$rss" -v b="$bytes" -v n="$rows" 'BEGIN {
    name = l == "psql" ? "psql \\copy" : l == "start-up" ? "pgpipe start-up" : "pgpipe changes"
    if (l == "start-up") printf "%-16s %8.2f %8.2f %12s %12s %9.1f %10.3f\n", name, s, c, "-", "-", r / 1024, b / 1048576
    else printf "%-16s %8.2f %8.2f %12.0f %12.0f %9.1f %10.1f\n", name, s, c, n / s, (c > 0 ? n / c : 0), r / 1024, b / 1048576 }'
done
read -r _ pgs _ _ _ <<<"$pg"
read -r _ sts stc _ _ <<<"$start"
read -r _ clis clic _ _ <<<"$cli"
awk -v a="$clis" -v b="$pgs" -v s="$sts" -v c="$clic" -v sc="$stc" -v n="$rows" 'BEGIN {
  printf "pgpipe changes / psql \\copy wall time: %.2fx\n", a / b
  printf "pgpipe changes less start-up: %.2f s wall, %.2f s CPU: %.0f changes/s wall, %.0f changes/s per CPU second\n", a - s, c - sc, n / (a - s), n / (c - sc) }'
