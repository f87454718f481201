#!/usr/bin/env bash
# Make sure a Docker engine answers: start dockerd when it is installed but not running,
# install Debian's docker.io first when it is missing and we are root; otherwise say what to do.
set -euo pipefail

log_file=${STEWARD_DOCKERD_LOG:-/var/log/steward-dockerd.log}

engine_answers() { docker info >/dev/null 2>&1; }

if command -v docker >/dev/null 2>&1 && engine_answers; then
  exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "Docker is not installed. Install it (Debian: sudo apt-get install docker.io) and" \
         "start it, or run this script as root to have it done for you." >&2
    exit 1
  fi
  echo "Installing Debian's docker.io ..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
fi

if engine_answers; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "dockerd is installed but not running, and starting it needs root:" \
       "sudo systemctl start docker (or sudo dockerd &)." >&2
  exit 1
fi

echo "Starting dockerd (log: $log_file) ..."
if command -v systemctl >/dev/null 2>&1 && systemctl start docker >/dev/null 2>&1; then
  :
else
  nohup dockerd >"$log_file" 2>&1 &
fi
for _ in $(seq 1 60); do
  if engine_answers; then
    echo "Docker engine is up."
    exit 0
  fi
  sleep 1
done
echo "dockerd did not answer within 60 s; see $log_file" >&2
exit 1
