#!/usr/bin/env bash
# A private dockerd as a single-node Swarm manager, for the tests and for trying
# STEWARD_ENGINE=swarm without touching the host's own Docker engine.
#
#   scripts/swarm-sandbox.sh up [image...]   start it, load the images from the host's
#                                            dockerd, print DOCKER_HOST=unix://... last
#   scripts/swarm-sandbox.sh down            stop it and remove everything it made
#
# STEWARD_SWARM_DIR (default /var/tmp/steward-swarm) holds its data root, exec root, pidfile
# and socket. It gets a bridge of its own (never --bridge=none: that makes dockerd delete
# the host's docker0) and address ranges that are checked against the host's routes first,
# so the host's docker0, routes and Swarm state stay exactly as they were. Each `up` starts
# on a fresh data root (see up()). Needs root.
set -euo pipefail

dir="${STEWARD_SWARM_DIR:-/var/tmp/steward-swarm}"
sock="$dir/docker.sock"
tag=$(printf '%s' "$dir" | sha256sum | cut -c1-6)
bridge="stws$tag"      # the private dockerd's default bridge (a Linux bridge we create)
gwbridge="stwg$tag"    # the Linux name of its docker_gwbridge network
slot=$((16#$tag % 200 + 20))
bridge_cidr="10.212.$slot.1/24"
gw_subnet="10.211.$slot.0/24"
local_pool="10.213.0.0/16"     # the private dockerd's local networks
swarm_pool="10.214.0.0/16"     # its overlay networks (ingress, the instance network)

sandbox_docker() { docker -H "unix://$sock" "$@"; }

free_port() {  # $1: tcp or udp; Swarm takes ports in 1024-49151 only
  python3 - "$1" <<'PY'
import random, socket, sys
kind = socket.SOCK_STREAM if sys.argv[1] == "tcp" else socket.SOCK_DGRAM
while True:
    port = random.randint(20000, 49151)
    with socket.socket(socket.AF_INET, kind) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            continue
    print(port)
    break
PY
}

check_ranges() {
  # A prefix already routed on the host (docker0, another network) must not be reused.
  local routes
  routes=$(ip route)
  for prefix in "10.212.$slot." "10.211.$slot." "10.213." "10.214."; do
    if grep -q "^${prefix//./\\.}" <<<"$routes"; then
      echo "error: the host already routes ${prefix}x; set STEWARD_SWARM_DIR to pick another slot" >&2
      exit 1
    fi
  done
}

up() {
  if [ -f "$dir/docker.pid" ] && kill -0 "$(cat "$dir/docker.pid")" 2>/dev/null; then
    echo "the sandbox is already up"
    echo "DOCKER_HOST=unix://$sock"
    return 0
  fi
  # Always a fresh data root: a dockerd with --default-address-pool that starts again on an
  # old one deletes the link named docker0 (the host's) to renew its default bridge.
  if [ -e "$dir" ]; then
    down >/dev/null
  fi
  check_ranges
  mkdir -p "$dir"
  ip link add name "$bridge" type bridge
  ip addr add "$bridge_cidr" dev "$bridge"
  ip link set "$bridge" up
  # setsid: its own session, so the caller's terminal or test runner can end without it.
  setsid dockerd --data-root "$dir/data" --exec-root "$dir/exec" --pidfile "$dir/docker.pid" \
    -H "unix://$sock" --bridge "$bridge" --iptables=false --ip-masq=false \
    --storage-driver vfs --default-address-pool "base=$local_pool,size=24" \
    >"$dir/dockerd.log" 2>&1 </dev/null &
  for _ in $(seq 1 300); do
    sandbox_docker version >/dev/null 2>&1 && break
    sleep 0.2
  done
  sandbox_docker version >/dev/null || { tail -20 "$dir/dockerd.log" >&2; exit 1; }
  sandbox_docker network create --driver bridge --subnet "$gw_subnet" \
    -o com.docker.network.bridge.name="$gwbridge" \
    -o com.docker.network.bridge.enable_icc=false \
    -o com.docker.network.bridge.enable_ip_masquerade=false docker_gwbridge >/dev/null
  sandbox_docker swarm init --advertise-addr 127.0.0.1 --listen-addr "127.0.0.1:$(free_port tcp)" \
    --data-path-port "$(free_port udp)" --default-addr-pool "$swarm_pool" \
    --default-addr-pool-mask-length 24 --task-history-limit 10 >/dev/null
  for image in "$@"; do
    docker save "$image" | sandbox_docker load >/dev/null
  done
  echo "DOCKER_HOST=unix://$sock"
}

down() {
  if [ -f "$dir/docker.pid" ]; then
    pid=$(cat "$dir/docker.pid")
    if kill -0 "$pid" 2>/dev/null; then
      sandbox_docker swarm leave --force >/dev/null 2>&1 || true
      kill "$pid"
      for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
      kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    fi
  fi
  for link in "$bridge" "$gwbridge"; do
    ip link show "$link" >/dev/null 2>&1 && ip link delete "$link"
  done
  if [ -d "$dir" ]; then
    # dockerd leaves mounts (netns, overlay) under its roots: unmount before removing.
    grep -o " $dir/[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
    rm -rf "$dir"
  fi
  echo "the sandbox is down"
}

case "${1:-}" in
  up) shift; up "$@" ;;
  down) down ;;
  *) echo "usage: $0 up [image...] | down" >&2; exit 2 ;;
esac
