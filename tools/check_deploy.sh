#!/usr/bin/env bash
# Static checks of the deployment files that need no Docker engine and no cluster:
#   1. docker-compose config -q   validates docker-compose.yml (with .env.example standing in for .env)
#   2. yamllint                   lints compose, the chart's values*.yaml and Chart.yaml, and deploy/**.yaml
#   3. helm lint --strict         the chart with its defaults and with each examples/ and ci/ values file
#   4. helm template              renders each of those values files (the install commands the README gives)
# helm is $PGPIPE_HELM (tools/install_helm.sh, run by .ci/services.sh) or helm on PATH. What the rendered objects
# hold (schemas, configuration keys, probes, queue names, security) is checked by tests/PaliGemma.Pipeline.Deploy.Tests.
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
helm=${PGPIPE_HELM:-helm}
need "$helm" "bash tools/install_helm.sh DIR, then PGPIPE_HELM=DIR/helm"

echo "== ${compose[*]} config -q (env: .env.example)"
if "${compose[@]}" --env-file .env.example -f docker-compose.yml config -q; then
  echo "ok"
else
  echo "FAIL: docker-compose.yml does not validate" >&2
  fail=1
fi

yaml_files=(docker-compose.yml helm/pgpipe/Chart.yaml helm/pgpipe/values.yaml)
while IFS= read -r f; do yaml_files+=("$f"); done < <(find helm/pgpipe/examples helm/pgpipe/ci deploy -name '*.yaml' -o -name '*.yml' | sort)

echo "== yamllint (${#yaml_files[@]} files)"
if yamllint --strict -c .yamllint "${yaml_files[@]}"; then
  echo "ok"
else
  echo "FAIL: yamllint" >&2
  fail=1
fi

chart=helm/pgpipe
values_files=()
while IFS= read -r f; do values_files+=("$f"); done < <(find "$chart/examples" "$chart/ci" -name '*.yaml' | sort)

echo "== $("$helm" version --template '{{.Version}}') lint --strict ($chart defaults, then ${#values_files[@]} values files)"
lint_fail=0
for args in "" "${values_files[@]/#/-f }"; do
  # $args is empty or "-f FILE". The defaults lack required values: helm lint reports them as warnings, and the
  # deploy tests check that helm template refuses them with the chart's own message.
  # shellcheck disable=SC2086
  if ! "$helm" lint --strict --quiet "$chart" $args 2> >(grep -v 'msg="missing required values"' >&2); then
    echo "FAIL: helm lint --strict $chart $args" >&2
    lint_fail=1
  fi
done
if [[ $lint_fail -eq 0 ]]; then echo "ok"; else fail=1; fi

echo "== helm template (each values file)"
for f in "${values_files[@]}"; do
  if out=$("$helm" template pgpipe "$chart" --namespace pgpipe -f "$f" 2>&1); then
    echo "ok  $f: $(grep -c '^kind: ' <<<"$out") objects"
  else
    echo "FAIL: helm template -f $f" >&2
    echo "$out" >&2
    fail=1
  fi
done

exit "$fail"
