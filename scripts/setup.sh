#!/usr/bin/env bash
# Set up what Steward needs on a Debian machine: a virtual environment with Steward installed,
# a running Docker engine and the static busybox the demo image is built from.
#   setup.sh          for running: Docker problems are warnings (Steward runs without an engine
#                     and answers 503 until one is there)
#   setup.sh --test   for the test suite: also the test extras, curl and PostgreSQL; strict
set -euo pipefail
cd "$(dirname "$0")/.."

with_tests=false
[ "${1:-}" = "--test" ] && with_tests=true

fail_or_warn() {
  if $with_tests; then
    echo "error: $*" >&2
    exit 1
  fi
  echo "warning: $*" >&2
}

missing_packages() {
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || printf '%s ' "$pkg"
  done
}

apt_install() {
  local missing
  missing=$(missing_packages "$@")
  [ -z "$missing" ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing Debian packages: $missing(install them with sudo apt-get install)" >&2
    return 1
  fi
  echo "Installing $missing..."
  apt-get update -qq
  # shellcheck disable=SC2086 # one word per package
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
}

python3 -c "import ensurepip" 2>/dev/null || apt_install python3-venv
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi

# Install (again) only when the package definition changed, so a second run works offline.
extras=""
$with_tests && extras="[test]"
stamp=".venv/.steward-installed"
wanted="$(cat setup.cfg pyproject.toml | sha256sum | cut -c1-16)${extras}"
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  .venv/bin/python -m pip install --quiet -e ".${extras}"
  echo "$wanted" > "$stamp"
fi

if $with_tests; then
  apt_install busybox-static curl postgresql iproute2 chromium git nodejs docker-registry || exit 1
  command -v npm >/dev/null || apt_install npm || exit 1
  # axe-core, pinned in tests/browser/package-lock.json, for the page's accessibility tests
  if [ ! -f tests/browser/node_modules/axe-core/axe.min.js ]; then
    (cd tests/browser && npm ci --no-audit --no-fund --silent)
  fi
else
  apt_install busybox-static || fail_or_warn "without busybox-static the demo image cannot be built"
fi
scripts/ensure-docker.sh || fail_or_warn "no Docker engine; Steward will answer 503 until one runs"
