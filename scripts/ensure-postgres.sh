#!/usr/bin/env bash
# For the test suite: make sure Debian's PostgreSQL runs on 127.0.0.1 and has a throwaway
# database for Steward's store tests. Prints the SQLAlchemy URL to use.
set -euo pipefail

if ! command -v pg_lsclusters >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "PostgreSQL is not installed (sudo apt-get install postgresql)" >&2
    exit 1
  fi
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi

read -r version cluster port status _ < <(pg_lsclusters --no-header | head -n 1)
if [ "$status" != "online" ]; then
  pg_ctlcluster "$version" "$cluster" start >&2
fi

as_postgres() { runuser -u postgres -- "$@"; }
for _ in $(seq 1 30); do
  as_postgres psql -p "$port" -tAc "select 1" >/dev/null 2>&1 && break
  sleep 1
done
if [ "$(as_postgres psql -p "$port" -tAc "select 1 from pg_roles where rolname='steward_test'")" != 1 ]; then
  as_postgres psql -p "$port" -qc "create role steward_test login createdb password 'steward_test'" >&2
fi
echo "postgresql+psycopg://steward_test:steward_test@127.0.0.1:${port}/postgres"
