"""How soon a follower leads after the leader dies, and after it stops cleanly.

Two `steward serve` replicas share a fresh PostgreSQL database (Debian's, started by
scripts/ensure-postgres.sh) with an empty desired state, so only the lease is measured.
Each round waits a random part of a renewal period, then either SIGKILLs the leader (its
lease must expire: the figure depends on when it last renewed) or SIGTERMs it (it hands the
lease back); the time runs from the signal until the other replica's /readyz says
`role: leader`, polled every 50 ms. The killed replica is started again as the follower
for the next round. Drops its database at the end.

    .venv/bin/python bench/ha_failover.py [--lease 15] [--kills 5] [--stops 3]
"""
from __future__ import annotations

import argparse
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
import requests
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lease", type=float, default=15.0)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--stops", type=int, default=3)
    args = parser.parse_args()
    admin = make_url(subprocess.run([str(ROOT / "scripts" / "ensure-postgres.sh")],
                                    check=True, capture_output=True, text=True).stdout.strip())
    name = f"steward_bench_{uuid.uuid4().hex[:8]}"
    dsn = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        with tempfile.TemporaryDirectory() as work:
            url = admin.set(database=name).render_as_string(hide_password=False)
            rounds(url, Path(work), args.lease, args.kills, args.stops)
    finally:
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def rounds(url: str, work: Path, lease: float, kills: int, stops: int) -> None:
    (work / "desired").mkdir()
    (work / "desired" / "services.yaml").write_text("services: {}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("STEWARD_")}
    env.update(STEWARD_DATABASE_URL=url, STEWARD_DESIRED_STATE=str(work / "desired"),
               STEWARD_INSTANCE=f"b{uuid.uuid4().hex[:8]}", STEWARD_SECRET_KEY="bench",
               STEWARD_LEASE_SECONDS=f"{lease:g}")
    replicas = {port: start(env, port, work) for port in (free_port(), free_port())}
    first, second = replicas
    wait_role(first, "leader")
    wait_role(second, "follower")
    times: dict[str, list[float]] = {"kill -9": [], "SIGTERM": []}
    try:
        for how in ["kill -9"] * kills + ["SIGTERM"] * stops:
            leader = next(port for port in replicas if role(port) == "leader")
            follower = next(port for port in replicas if port != leader)
            time.sleep(random.uniform(0, lease / 3))
            replicas[leader].send_signal(signal.SIGKILL if how == "kill -9" else signal.SIGTERM)
            sent = time.monotonic()
            wait_role(follower, "leader", poll=0.05)
            times[how].append(time.monotonic() - sent)
            print(f"{how}: the follower leads after {times[how][-1]:.2f} s", flush=True)
            replicas[leader].wait()
            replicas[leader] = start(env, leader, work)
            wait_role(leader, "follower")
    finally:
        for process in replicas.values():
            process.terminate()
            process.wait()
    for how, found in times.items():
        if found:
            print(f"{how} (lease {lease:g} s, {len(found)} rounds): median "
                  f"{statistics.median(found):.2f} s, min {min(found):.2f} s, "
                  f"max {max(found):.2f} s")


def start(env: dict[str, str], port: int, work: Path) -> subprocess.Popen:
    with (work / f"{port}.log").open("ab") as log:
        return subprocess.Popen([sys.executable, "-m", "app", "serve", "--port", str(port)],
                                env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)


def role(port: int) -> str | None:
    try:
        return requests.get(f"http://127.0.0.1:{port}/readyz", timeout=1).json()["role"]
    except (requests.RequestException, ValueError, KeyError):
        return None


def wait_role(port: int, wanted: str, poll: float = 0.2, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while role(port) != wanted:
        if time.monotonic() > deadline:
            raise SystemExit(f"the replica on {port} is not {wanted} after {timeout:g} s")
        time.sleep(poll)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


if __name__ == "__main__":
    main()
