#!/usr/bin/env bash
# Static checks of the deployment files that need no Docker engine and no helm binary:
#   1. docker-compose config -q   validates docker-compose.yml (with .env.example standing in for .env)
#   2. yamllint                   lints compose, the chart's values*.yaml and Chart.yaml, and deploy/**.yaml
# The configuration keys and the values schema are checked by tests/PaliGemma.Pipeline.Deploy.Tests.
# Exits non-zero when a check fails or a tool is missing (CI must not pass a check it did not run).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

fail=0
need() {
  if ! command -v "$1" >/dev/null 2>&1; then
    echo "check_deploy: '$1' is not installed ($2)" >&2
    exit 2
  fi
}

if command -v docker-compose >/dev/null 2>&1; then
  compose=(docker-compose)
elif docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
else
  need docker-compose "apt-get install docker-compose"
fi
need yamllint "apt-get install yamllint"

echo "== ${compose[*]} config -q (env: .env.example)"
if "${compose[@]}" --env-file .env.example -f docker-compose.yml config -q; then
  echo "ok"
else
  echo "FAIL: docker-compose.yml does not validate" >&2
  fail=1
fi

yaml_files=(docker-compose.yml helm/pgpipe/Chart.yaml helm/pgpipe/values.yaml)
while IFS= read -r f; do yaml_files+=("$f"); done < <(find helm/pgpipe/examples deploy -name '*.yaml' -o -name '*.yml' | sort)

echo "== yamllint (${#yaml_files[@]} files)"
if yamllint --strict -c .yamllint "${yaml_files[@]}"; then
  echo "ok"
else
  echo "FAIL: yamllint" >&2
  fail=1
fi

exit "$fail"
