#!/usr/bin/env bash
# Set up and run the whole test suite: unit tests, then integration tests against a real
# dockerd and a real HTTP server. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh --test
.venv/bin/python - <<'PY'
import tempfile
from alembic import command
from app.store.db import Store, alembic_config

with tempfile.TemporaryDirectory() as tmp:
    store = Store(f"sqlite:///{tmp}/check.db")
    store.upgrade()
    command.check(alembic_config(store.url))  # the models and the migrations agree
    store.dispose()
PY
.venv/bin/lint-imports --no-cache  # imports point down (the contracts in setup.cfg)
exec .venv/bin/python -m pytest -rs "$@"
