#!/usr/bin/env bash
# For the test suite: make sure Debian's PostgreSQL runs on 127.0.0.1 with a login role for
# Steward's store tests, and print the SQLAlchemy URL of its maintenance database. Needs root.
set -euo pipefail

if ! command -v pg_lsclusters >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "PostgreSQL is not installed (sudo apt-get install postgresql)" >&2
    exit 1
  fi
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi

if [ -z "$(pg_lsclusters --no-header)" ]; then
  version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
  pg_createcluster "$version" main >&2
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
exists=$(as_postgres psql -p "$port" -tAc "select 1 from pg_roles where rolname='steward_test'")
if [ "$exists" != 1 ]; then
  as_postgres psql -p "$port" -qc \
    "create role steward_test login createdb password 'steward_test'" >&2
fi
echo "postgresql+psycopg://steward_test:steward_test@127.0.0.1:${port}/postgres"
