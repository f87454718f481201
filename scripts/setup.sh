#!/usr/bin/env bash
# Set up everything Steward needs on a Debian machine: a virtual environment with Steward
# installed, a running Docker engine and the static busybox the demo image is built from.
# With --test, also what the test suite needs (test extras, curl, PostgreSQL).
set -euo pipefail
cd "$(dirname "$0")/.."

with_tests=false
[ "${1:-}" = "--test" ] && with_tests=true

apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "Missing Debian packages: ${missing[*]} (install them with sudo apt-get install)" >&2
    exit 1
  fi
  echo "Installing ${missing[*]} ..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

packages=(busybox-static)
$with_tests && packages+=(curl postgresql)
python3 -c "import ensurepip" 2>/dev/null || packages+=(python3-venv)
apt_install "${packages[@]}"

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
extras=""
$with_tests && extras="[test]"
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".${extras}"

scripts/ensure-docker.sh
