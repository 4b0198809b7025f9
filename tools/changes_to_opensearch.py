#!/usr/bin/env python3
"""Keep an OpenSearch or Elasticsearch index in step with the pgpipe result store.

Runs `pgpipe changes --follow --after CURSOR`, turns its JSON Lines into `_bulk` NDJSON (an `index` action for
op "upsert", a `delete` action for op "supersede", both keyed by the result's id) and, after each bulk response
that reports no failed item, stores the cursor of the bulk's last line in a state file (write, then rename). On
start it reads that file and resumes after the stored cursor, so a crash anywhere costs at most a re-send of the
lines of one bulk: at-least-once per line, and re-applying an index or delete by id is harmless.

    tools/changes_to_opensearch.py --url http://localhost:9200 --index pgpipe-results --state indexer.cursor \
        -- --db "Host=db;Database=pgpipe"        # everything after -- goes to pgpipe changes

    tools/changes_to_opensearch.py --dry-run --state /tmp/cursor -- --db pgpipe.db | head    # print the NDJSON

Only the Python standard library is used. The pgpipe binary is taken from $PGPIPE (default: `pgpipe` on PATH).
Authentication: --api-key (sent as "Authorization: ApiKey ...") or --user/--password (basic); TLS verification
follows the system's trust store.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import selectors
import shlex
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request


def read_cursor(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read().strip()
    except FileNotFoundError:
        return None
    return text or None


def write_cursor(path: str, cursor: str) -> None:
    """Atomic replace: a crash leaves the old cursor or the new one, never a torn file."""
    temporary = f"{path}.{os.getpid()}.tmp"
    with open(temporary, "w", encoding="utf-8") as f:
        f.write(cursor + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, path)


def bulk_body(lines: list[dict], index: str) -> bytes:
    out = []
    for line in lines:
        action = {"_index": index, "_id": str(line["id"])}
        if line["op"] == "upsert":
            out.append(json.dumps({"index": action}))
            # The document: the result as the feed carries it, without the feed's own bookkeeping.
            out.append(json.dumps({k: v for k, v in line.items() if k not in ("cursor", "op")}, ensure_ascii=False))
        elif line["op"] == "supersede":
            out.append(json.dumps({"delete": action}))
        else:
            raise ValueError(f"unknown op {line['op']!r} at cursor {line['cursor']}")
    return ("\n".join(out) + "\n").encode("utf-8")


def post_bulk(args: argparse.Namespace, body: bytes) -> None:
    """POSTs one bulk; raises unless every item succeeded (a delete of an absent id counts as success)."""
    request = urllib.request.Request(args.url.rstrip("/") + "/_bulk", data=body, method="POST",
                                     headers={"Content-Type": "application/x-ndjson"})
    if args.api_key:
        request.add_header("Authorization", "ApiKey " + args.api_key)
    elif args.user:
        token = base64.b64encode(f"{args.user}:{args.password or ''}".encode()).decode()
        request.add_header("Authorization", "Basic " + token)
    with urllib.request.urlopen(request, timeout=args.timeout) as response:
        result = json.load(response)
    if result.get("errors"):
        failed = [item for item in result.get("items", [])
                  for action, outcome in item.items()
                  if outcome.get("status", 500) >= 300 and not (action == "delete" and outcome.get("status") == 404)]
        if failed:
            raise RuntimeError(f"{len(failed)} bulk item(s) failed, first: {json.dumps(failed[0])[:500]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="OpenSearch/Elasticsearch base URL, e.g. http://localhost:9200")
    parser.add_argument("--index", default="pgpipe-results", help="target index (default: %(default)s)")
    parser.add_argument("--state", required=True, help="file holding the last indexed cursor")
    parser.add_argument("--bulk-lines", type=int, default=500, help="most lines per bulk request (default: %(default)s)")
    parser.add_argument("--bulk-wait", type=float, default=1.0,
                        help="send a partial bulk once no line arrived for this many seconds (default: %(default)s)")
    parser.add_argument("--timeout", type=float, default=60, help="HTTP timeout in seconds (default: %(default)s)")
    parser.add_argument("--api-key")
    parser.add_argument("--user")
    parser.add_argument("--password", default=os.environ.get("OPENSEARCH_PASSWORD"))
    parser.add_argument("--dry-run", action="store_true", help="print the NDJSON to stdout instead of sending it")
    parser.add_argument("pgpipe_args", nargs="*", help="after --: extra `pgpipe changes` options, e.g. --db ...")
    args = parser.parse_args()
    if not args.dry_run and not args.url:
        parser.error("--url is required unless --dry-run is given")

    command = shlex.split(os.environ.get("PGPIPE", "pgpipe")) + ["changes", "--follow"]
    cursor = read_cursor(args.state)
    if cursor:
        command += ["--after", cursor]
    command += args.pgpipe_args
    print(f"following after {cursor or 'the beginning'}: {' '.join(command[:3])} ...", file=sys.stderr)

    feed = subprocess.Popen(command, stdout=subprocess.PIPE, bufsize=0)
    stop = False

    def on_signal(signum, _frame):
        nonlocal stop
        stop = True
        feed.send_signal(signal.SIGTERM)  # pgpipe flushes what it printed and exits 0

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    selector = selectors.DefaultSelector()
    selector.register(feed.stdout, selectors.EVENT_READ)
    pending: list[dict] = []
    indexed = 0

    def flush() -> None:
        nonlocal pending, indexed
        if not pending:
            return
        body = bulk_body(pending, args.index)
        if args.dry_run:
            sys.stdout.write(body.decode("utf-8"))
            sys.stdout.flush()
        else:
            post_bulk(args, body)
        # Only now, after the index acknowledged every line of the bulk, does the cursor move.
        write_cursor(args.state, pending[-1]["cursor"])
        indexed += len(pending)
        pending = []

    # Unbuffered reads of whatever the pipe holds, split into lines here: a buffered reader could keep complete lines
    # in its own buffer while select() reports the pipe empty, and a quiet feed would never send them.
    fd = feed.stdout.fileno()
    partial = b""
    try:
        while True:
            if not selector.select(timeout=args.bulk_wait):
                flush()
                continue
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break  # pgpipe ended (signal, --limit, or an error it reported on stderr)
            *lines, partial = (partial + chunk).split(b"\n")
            for raw in lines:
                if raw:
                    pending.append(json.loads(raw))
                    if len(pending) >= args.bulk_lines:
                        flush()
        flush()
    except (urllib.error.URLError, RuntimeError, OSError) as error:
        # Nothing past the last stored cursor counts as indexed: a restart re-sends this bulk.
        print(f"error: {error}; {indexed} line(s) indexed in this run, restart to resume", file=sys.stderr)
        feed.send_signal(signal.SIGTERM)
        feed.wait()
        return 1
    code = feed.wait()
    print(f"{indexed} line(s) indexed in this run; pgpipe changes exited {code}", file=sys.stderr)
    return 0 if stop or code == 0 else code


if __name__ == "__main__":
    sys.exit(main())
