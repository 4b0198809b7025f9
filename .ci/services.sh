#!/usr/bin/env bash
# Starts the three real services the test suite talks to (PostgreSQL 15, RabbitMQ with management,
# s3rver as the S3-compatible store) on a Debian 12 machine without Docker, as root.
#
#   .ci/services.sh            # execute: starts what is down, writes .ci/services.env
#   source .ci/services.sh     # source: the same, and exports the PGPIPE_TEST_* variables here
#
# Idempotent: a service whose port already answers is left alone (its credentials are still ensured).
# Packages are installed only when missing, and `apt-get update` runs at most once per invocation.
# Environment knobs:
#   PGPIPE_SERVICES_DIR   state folder for logs and s3rver data (default /var/tmp/pgpipe-services);
#                         outside the repo so every worktree shares the one set of fixed ports.
#   PGPIPE_SERVICES_TIMEOUT  seconds to wait for each service to answer (default 90).

_pgpipe_services_main() (
  set -euo pipefail

  local repo state_dir timeout env_file t0 t_all
  repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  state_dir="${PGPIPE_SERVICES_DIR:-/var/tmp/pgpipe-services}"
  timeout="${PGPIPE_SERVICES_TIMEOUT:-90}"
  env_file="$repo/.ci/services.env"
  t_all=$SECONDS

  log()  { printf '[services] %s\n' "$*" >&2; }
  fail() { printf '[services] ERROR: %s\n' "$*" >&2; exit 1; }

  # /dev/tcp avoids depending on nc; a refused connect fails fast.
  port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

  # wait_for DESCRIPTION LOGFILE CMD...: polls CMD every 0.5 s until it succeeds or the timeout passes.
  wait_for() {
    local what="$1" logfile="$2"; shift 2
    local deadline=$((SECONDS + timeout))
    until "$@" >/dev/null 2>&1; do
      if (( SECONDS >= deadline )); then
        log "last lines of $logfile:"
        tail -n 30 "$logfile" >&2 2>/dev/null || true
        fail "$what did not come up within ${timeout}s (see $logfile; raise PGPIPE_SERVICES_TIMEOUT if the machine is slow)"
      fi
      sleep 0.5
    done
  }

  [[ $(id -u) -eq 0 ]] || fail "must run as root (it installs packages and starts system services); got uid $(id -u)"
  mkdir -p "$state_dir"

  # ---- packages -------------------------------------------------------------------------------
  t0=$SECONDS
  local missing=() pkg
  # poppler-utils img2pdf python3-reportlab qpdf libtiff-tools imagemagick fonts-dejavu-core: tools/gen_documents.py and the
  # document reader's reference renderings (pdftoppm, pdfinfo, tiffinfo).
  for pkg in postgresql rabbitmq-server python3-pil python3-numpy python3-onnx python3-torch curl yamllint docker-compose chromium \
    poppler-utils img2pdf python3-reportlab qpdf libtiff-tools imagemagick fonts-dejavu-core; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    missing+=(nodejs npm)
  fi
  if (( ${#missing[@]} > 0 )); then
    log "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || fail "apt-get update failed; check network access to the Debian mirrors"
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$state_dir/apt.log" 2>&1 \
      || { tail -n 30 "$state_dir/apt.log" >&2; fail "apt-get install ${missing[*]} failed (log: $state_dir/apt.log)"; }
  fi
  log "packages ready ($((SECONDS - t0))s)"

  # ---- node tools (s3rver) ----------------------------------------------------------------------
  t0=$SECONDS
  local node_dir="$repo/tools/node"
  local s3rver_bin="$node_dir/node_modules/.bin/s3rver"
  # Also when node_modules predates a package added to the lock (an existing checkout after a pull).
  if [[ ! -e "$node_dir/node_modules" ]] || ! node "$node_dir/check-installed.cjs" "$node_dir" 2>/dev/null; then
    # In a git worktree node_modules is a symlink to the main checkout's copy; a dangling one is a
    # setup problem to report, not something to paper over by installing through the link.
    [[ -L "$node_dir/node_modules" ]] \
      && fail "$node_dir/node_modules is a symlink to a missing or out-of-date folder ($(readlink "$node_dir/node_modules")); run 'npm ci' in the checkout it points to"
    log "npm ci in tools/node"
    (cd "$node_dir" && npm ci --no-audit --no-fund --loglevel=error) >"$state_dir/npm.log" 2>&1 \
      || { tail -n 30 "$state_dir/npm.log" >&2; fail "npm ci in $node_dir failed (log: $state_dir/npm.log)"; }
  fi
  [[ -x "$s3rver_bin" ]] || fail "s3rver not found at $s3rver_bin; tools/node/package.json must list s3rver and 'npm ci' must have run"
  log "node tools ready ($((SECONDS - t0))s)"

  # ---- helm (renders the chart in tools/check_deploy.sh and the deploy tests) -----------------
  t0=$SECONDS
  local helm_bin
  helm_bin=$(bash "$repo/tools/install_helm.sh" "$state_dir/bin") || fail "tools/install_helm.sh could not install helm"
  log "helm ready at $helm_bin ($((SECONDS - t0))s)"

  # ---- PostgreSQL 15 ----------------------------------------------------------------------------
  t0=$SECONDS
  local pg_log=/var/log/postgresql/postgresql-15-main.log
  if ! pg_lsclusters -h 2>/dev/null | awk '$1 == 15 && $2 == "main"' | grep -q .; then
    log "creating PostgreSQL cluster 15/main"
    pg_createcluster 15 main >/dev/null || fail "pg_createcluster 15 main failed"
  fi
  # Tests connect over TCP with a password; Debian's default pg_hba already allows scram on
  # 127.0.0.1, but an image may have been customised, so make sure rather than assume.
  local hba=/etc/postgresql/15/main/pg_hba.conf
  if ! grep -Eq '^[[:space:]]*host[[:space:]]+all[[:space:]]+all[[:space:]]+127\.0\.0\.1/32[[:space:]]+(scram-sha-256|md5)' "$hba"; then
    log "allowing password logins on 127.0.0.1 in $hba"
    sed -i '1i host all all 127.0.0.1/32 scram-sha-256' "$hba"
    pg_ctlcluster 15 main reload 2>/dev/null || true
  fi
  if pg_isready -q -h 127.0.0.1 -p 5432; then
    log "PostgreSQL already up"
  else
    pg_ctlcluster 15 main start || { tail -n 30 "$pg_log" >&2; fail "pg_ctlcluster 15 main start failed (log: $pg_log)"; }
    wait_for "PostgreSQL on 127.0.0.1:5432" "$pg_log" pg_isready -q -h 127.0.0.1 -p 5432
  fi
  runuser -u postgres -- psql -q -v ON_ERROR_STOP=1 -d postgres >/dev/null <<'SQL' || fail "could not create or update role pgpipe (psql as postgres over the socket)"
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'pgpipe') THEN
    CREATE ROLE pgpipe LOGIN CREATEDB CREATEROLE PASSWORD 'pgpipe';
  ELSE
    -- CREATEROLE: the least-privilege and secrets tests create their own uniquely named roles.
    ALTER ROLE pgpipe LOGIN CREATEDB CREATEROLE PASSWORD 'pgpipe';
  END IF;
END $$;
SQL
  PGPASSWORD=pgpipe PGCONNECT_TIMEOUT=5 psql -h 127.0.0.1 -p 5432 -U pgpipe -d postgres -tAqc 'SELECT 1' >/dev/null \
    || fail "role pgpipe cannot log in over TCP 127.0.0.1:5432 with a password; check $hba"
  log "PostgreSQL ready ($((SECONDS - t0))s)"

  # ---- RabbitMQ ---------------------------------------------------------------------------------
  t0=$SECONDS
  local rmq_log="$state_dir/rabbitmq-server.log"
  if port_open 127.0.0.1 5672; then
    log "RabbitMQ already up"
    if ! port_open 127.0.0.1 15672; then
      rabbitmq-plugins -q enable rabbitmq_management >/dev/null || fail "rabbitmq-plugins enable rabbitmq_management failed"
    fi
  else
    # Enabling offline writes enabled_plugins, so the broker boots with management in one start.
    rabbitmq-plugins -q enable --offline rabbitmq_management >/dev/null \
      || fail "rabbitmq-plugins enable --offline rabbitmq_management failed"
    setsid rabbitmq-server >"$rmq_log" 2>&1 < /dev/null &
    wait_for "RabbitMQ (rabbitmq-diagnostics ping)" "/var/log/rabbitmq/startup_log" rabbitmq-diagnostics -q ping
  fi
  wait_for "RabbitMQ AMQP port 127.0.0.1:5672" "/var/log/rabbitmq/startup_log" port_open 127.0.0.1 5672
  wait_for "RabbitMQ management API on 127.0.0.1:15672" "/var/log/rabbitmq/startup_log" \
    curl -fsS -u guest:guest http://127.0.0.1:15672/api/overview
  log "RabbitMQ ready ($((SECONDS - t0))s)"

  # ---- s3rver -----------------------------------------------------------------------------------
  t0=$SECONDS
  local s3_log="$state_dir/s3rver.log" s3_dir="$state_dir/s3rver-data"
  if port_open 127.0.0.1 4569; then
    log "s3rver already up"
  else
    mkdir -p "$s3_dir"
    # Node 17+ lacks the MD4-era digests s3rver uses for continuation tokens without the legacy
    # provider: ListObjectsV2 page 2 would fail with ERR_OSSL_EVP_UNSUPPORTED.
    (cd "$node_dir" && NODE_OPTIONS=--openssl-legacy-provider setsid "$s3rver_bin" \
        -d "$s3_dir" -a 127.0.0.1 -p 4569 --silent >"$s3_log" 2>&1 < /dev/null &)
  fi
  # An anonymous ListBuckets answers 200 on s3rver, so it proves the HTTP side, not just the socket.
  wait_for "s3rver on 127.0.0.1:4569" "$s3_log" curl -fsS -o /dev/null http://127.0.0.1:4569/
  log "s3rver ready ($((SECONDS - t0))s)"

  # ---- environment for the tests --------------------------------------------------------------
  cat >"$env_file" <<ENV
export PGPIPE_TEST_POSTGRES='Host=127.0.0.1;Port=5432;Username=pgpipe;Password=pgpipe;Database=postgres'
export PGPIPE_TEST_RABBITMQ='amqp://guest:guest@127.0.0.1:5672/'
export PGPIPE_TEST_RABBITMQ_MGMT='http://127.0.0.1:15672'
export PGPIPE_TEST_S3='http://127.0.0.1:4569'
export PGPIPE_HELM='$helm_bin'
ENV
  log "all services up in $((SECONDS - t_all))s; environment written to $env_file:"
  cat "$env_file"
)

if [[ "${BASH_SOURCE[0]}" != "$0" ]]; then
  # Sourced: run as a child bash so `set -e` is really in force (bash ignores it inside a function called from an
  # `if`), leave the caller's shell options alone, then export the variables into the caller.
  unset -f _pgpipe_services_main
  _pgpipe_ci_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  if bash "$_pgpipe_ci_dir/services.sh"; then
    # shellcheck source=/dev/null
    source "$_pgpipe_ci_dir/services.env"
    unset _pgpipe_ci_dir
  else
    _pgpipe_rc=$?
    unset _pgpipe_ci_dir
    return "$_pgpipe_rc"
  fi
else
  _pgpipe_services_main
fi
