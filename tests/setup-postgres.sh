#!/usr/bin/env bash
# Idempotent PostgreSQL setup for SiteRecovery actor tests (Debian, run as root).
# Installs postgresql if missing, starts the cluster (no systemd), creates the
# role "siterecovery" (password siterecovery, CREATEDB) and database siterecovery_test.
set -euo pipefail

PG_ROLE="${PG_ROLE:-siterecovery}"
PG_PASSWORD="${PG_PASSWORD:-siterecovery}"
PG_DB="${PG_DB:-siterecovery_test}"

if [ "$(id -u)" -ne 0 ]; then
  echo "setup-postgres.sh must run as root" >&2
  exit 1
fi

if ! command -v pg_lsclusters >/dev/null 2>&1; then
  echo "Installing postgresql..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y postgresql
fi

# Pick the first cluster (e.g. "15 main"); create one if none exists.
read -r PG_VER PG_CLUSTER _ < <(pg_lsclusters -h | head -n1 || true) || true
if [ -z "${PG_VER:-}" ]; then
  PG_VER="$(ls /usr/lib/postgresql | sort -V | tail -n1)"
  PG_CLUSTER=main
  pg_createcluster "$PG_VER" "$PG_CLUSTER"
fi

status="$(pg_lsclusters -h | awk -v v="$PG_VER" -v c="$PG_CLUSTER" '$1==v && $2==c {print $4}')"
if [ "$status" != "online" ]; then
  echo "Starting PostgreSQL cluster $PG_VER/$PG_CLUSTER..."
  pg_ctlcluster "$PG_VER" "$PG_CLUSTER" start || true
fi

echo -n "Waiting for PostgreSQL to accept connections"
for _ in $(seq 1 60); do
  if pg_isready -h 127.0.0.1 -p 5432 -q; then echo " ready."; break; fi
  echo -n "."; sleep 1
done
pg_isready -h 127.0.0.1 -p 5432 || { echo "PostgreSQL did not become ready" >&2; exit 1; }

psql_su() { su postgres -c "psql -v ON_ERROR_STOP=1 -tAc \"$1\""; }

if [ "$(psql_su "SELECT 1 FROM pg_roles WHERE rolname='${PG_ROLE}'")" != "1" ]; then
  echo "Creating role ${PG_ROLE}"
  psql_su "CREATE ROLE ${PG_ROLE} LOGIN CREATEDB PASSWORD '${PG_PASSWORD}'"
else
  psql_su "ALTER ROLE ${PG_ROLE} LOGIN CREATEDB PASSWORD '${PG_PASSWORD}'" >/dev/null
fi

if [ "$(psql_su "SELECT 1 FROM pg_database WHERE datname='${PG_DB}'")" != "1" ]; then
  echo "Creating database ${PG_DB}"
  psql_su "CREATE DATABASE ${PG_DB} OWNER ${PG_ROLE}"
fi

echo "PostgreSQL ready: Host=127.0.0.1;Port=5432;Username=${PG_ROLE};Password=${PG_PASSWORD};Database=${PG_DB}"
