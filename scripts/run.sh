#!/usr/bin/env bash
# Set up and run Steward on its embedded default: SQLite under instance/, the demo stack in
# desired_state/, the API on http://127.0.0.1:8000 (docs at /api/docs). Extra arguments go
# to `steward serve` (e.g. --port 8080).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
.venv/bin/steward db upgrade
if docker info >/dev/null 2>&1 && [ -x /bin/busybox ]; then
  .venv/bin/steward build-demo-image
fi
exec .venv/bin/steward serve "$@"
