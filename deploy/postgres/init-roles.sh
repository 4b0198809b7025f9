#!/bin/sh
# Creates pgpipe's least-privilege login roles: one for workers, one for the producer, one read-only (status,
# search, export). They get no table privileges here; `pgpipe migrate` grants exactly what each needs after it
# creates the tables (see src/PaliGemma.Pipeline.Data/README.md and SECURITY.md), so the order is:
#   1. this script (as a role with CREATEROLE, e.g. the postgres image's POSTGRES_USER on first start)
#   2. pgpipe migrate, as the owner, with Database__WorkerRole/ProducerRole/ReaderRole set to these names
#   3. workers, producer and readers connect as their own role
# docker-compose.yml mounts it into /docker-entrypoint-initdb.d, which runs it once, on an empty data volume. For an
# existing volume or another server run it yourself with the same variables (PGHOST, PGPASSWORD, ... for psql).
# Idempotent: an existing role only gets its password reset.
#
# Environment: POSTGRES_USER, POSTGRES_DB (the database to grant CONNECT on), PGPIPE_WORKER_DB_PASSWORD,
# PGPIPE_PRODUCER_DB_PASSWORD, PGPIPE_READER_DB_PASSWORD; role names PGPIPE_WORKER_ROLE (pgpipe_worker),
# PGPIPE_PRODUCER_ROLE (pgpipe_producer), PGPIPE_READER_ROLE (pgpipe_reader). Passwords never appear on a command
# line: psql reads them from the environment with \getenv.
set -eu

: "${POSTGRES_USER:?POSTGRES_USER must name the admin role}"
: "${POSTGRES_DB:?POSTGRES_DB must name the pgpipe database}"
: "${PGPIPE_WORKER_DB_PASSWORD:?set PGPIPE_WORKER_DB_PASSWORD}"
: "${PGPIPE_PRODUCER_DB_PASSWORD:?set PGPIPE_PRODUCER_DB_PASSWORD}"
: "${PGPIPE_READER_DB_PASSWORD:?set PGPIPE_READER_DB_PASSWORD}"
export PGPIPE_WORKER_ROLE="${PGPIPE_WORKER_ROLE:-pgpipe_worker}"
export PGPIPE_PRODUCER_ROLE="${PGPIPE_PRODUCER_ROLE:-pgpipe_producer}"
export PGPIPE_READER_ROLE="${PGPIPE_READER_ROLE:-pgpipe_reader}"

# \getenv (psql 15+) reads each value from the environment verbatim; :'name' then quotes it as a literal.
psql -v ON_ERROR_STOP=1 -q --no-psqlrc --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<'SQL'
\getenv worker_role PGPIPE_WORKER_ROLE
\getenv producer_role PGPIPE_PRODUCER_ROLE
\getenv reader_role PGPIPE_READER_ROLE
\getenv worker_password PGPIPE_WORKER_DB_PASSWORD
\getenv producer_password PGPIPE_PRODUCER_DB_PASSWORD
\getenv reader_password PGPIPE_READER_DB_PASSWORD
\getenv db POSTGRES_DB
SELECT format('CREATE ROLE %I LOGIN', r) FROM unnest(ARRAY[:'worker_role', :'producer_role', :'reader_role']) AS r
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) \gexec
SELECT format('ALTER ROLE %I LOGIN PASSWORD %L', r, p)
  FROM (VALUES (:'worker_role', :'worker_password'), (:'producer_role', :'producer_password'), (:'reader_role', :'reader_password')) AS v(r, p) \gexec
-- PostgreSQL 15+ already denies CREATE on schema public to PUBLIC; older servers allow it, so take it away.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
SELECT format('GRANT CONNECT ON DATABASE %I TO %I', :'db', r) FROM unnest(ARRAY[:'worker_role', :'producer_role', :'reader_role']) AS r \gexec
SQL
echo "init-roles: $PGPIPE_WORKER_ROLE, $PGPIPE_PRODUCER_ROLE, $PGPIPE_READER_ROLE ready in database $POSTGRES_DB"
