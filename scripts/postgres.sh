#!/usr/bin/env bash
# Installs (if missing) and starts a local PostgreSQL, with a role and database for the tests.
# Prints the SQLAlchemy URL to put in AIOS_TEST_POSTGRES_URL. Safe to run again.
set -euo pipefail
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >&2
fi
version=$(ls /etc/postgresql | sort -n | tail -1)
if [ -z "$(pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main"')" ]; then
    $sudo pg_createcluster "$version" main >&2
fi
$sudo pg_ctlcluster "$version" main start >&2 || true
for _ in $(seq 1 30); do
    pg_isready -q -h 127.0.0.1 -p "$(pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" {print $3}')" && break
    sleep 1
done
psql_admin() { $sudo -u postgres psql -v ON_ERROR_STOP=1 -qtAc "$1"; }
if [ "$(id -u)" -eq 0 ]; then
    psql_admin() { su postgres -c "psql -v ON_ERROR_STOP=1 -qtAc \"$1\""; }
fi
if [ "$(psql_admin "SELECT 1 FROM pg_roles WHERE rolname = 'aios'")" != "1" ]; then
    psql_admin "CREATE ROLE aios LOGIN PASSWORD 'aios' CREATEDB"
fi
if [ "$(psql_admin "SELECT 1 FROM pg_database WHERE datname = 'aios'")" != "1" ]; then
    psql_admin "CREATE DATABASE aios OWNER aios"
fi
port=$(pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" {print $3}')
echo "postgresql+psycopg://aios:aios@127.0.0.1:${port}/aios"
