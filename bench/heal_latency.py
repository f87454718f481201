"""How fast Steward heals: kill container processes, time until Docker runs them again.

Runs `steward serve` (interval 60 s, so only events can explain a quick heal) on a private
SQLite file and desired-state directory with N busybox services, kills the main process of
a random service K times (one at a time, waiting for each heal), and reads Docker's own
event log for each kill -> start gap. Prints median, p95 and max. Everything it creates
carries its own instance label and is removed at the end.

    .venv/bin/python bench/heal_latency.py [--services 20] [--kills 30]
"""
from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import docker
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.engine.images import build_busybox_image  # noqa: E402
from tests.helpers import kill_main_process  # noqa: E402

LABEL = "io.steward.instance"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_services(directory: Path, image: str, count: int) -> list[str]:
    names = [f"svc{i:03d}" for i in range(count)]
    lines = ["services:"]
    for name in names:
        lines += [f"  {name}:", "    category: ai", f"    image: {image}", "    init: true",
                  '    command: ["sleep", "86400"]', "    stop_grace_period: 1s",
                  "    restart_policy: {max_failures: 1000, backoff_base: 1s, backoff_max: 1s}"]
    (directory / "services.yaml").write_text("\n".join(lines) + "\n")
    return names


def wait(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.02)
    raise SystemExit(f"timed out waiting for {what}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=20)
    parser.add_argument("--kills", type=int, default=30)
    args = parser.parse_args()

    client = docker.from_env()
    instance = f"bench{uuid.uuid4().hex[:8]}"
    image = f"steward-bench-busybox:{instance}"
    build_busybox_image(client, image, labels={"io.steward.bench": "1"})
    work = Path(tempfile.mkdtemp(prefix="steward-bench-"))
    (work / "desired").mkdir()
    names = write_services(work / "desired", image, args.services)
    port = free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("STEWARD_")},
           "STEWARD_DATABASE_URL": f"sqlite:///{work / 'bench.db'}",
           "STEWARD_DESIRED_STATE": str(work / "desired"), "STEWARD_INSTANCE": instance,
           "STEWARD_RECONCILE_INTERVAL": "60", "STEWARD_LOG_LEVEL": "WARNING"}
    with (work / "server.log").open("wb") as log:
        server = subprocess.Popen([sys.executable, "-m", "app", "serve", "--port", str(port)],
                                  cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/api/system/services"
    try:
        def all_running() -> bool:
            try:
                body = requests.get(url, timeout=2).json()
            except (requests.RequestException, ValueError):
                return False
            return sum(s["status"] == "running" for s in body.get("services", [])) == len(names)

        started = time.monotonic()
        wait(all_running, 300, "all services running")
        print(f"{len(names)} services up in {time.monotonic() - started:.1f}s")

        gaps = []
        for _ in range(args.kills):
            name = random.choice(names)
            container = client.containers.get(f"{instance}-{name}")
            before = container.attrs["State"]["StartedAt"]
            since = time.time()
            kill_main_process(container)
            wait(lambda: (c := client.containers.get(f"{instance}-{name}")).status == "running"
                 and c.attrs["State"]["StartedAt"] != before, 30, f"{name} to run again")
            events = client.api.events(since=since - 1, until=time.time(), decode=True, filters={
                "label": f"{LABEL}={instance}", "container": container.id,
                "event": ["die", "start"]})
            times = {}
            for event in events:
                times.setdefault(event["Action"], []).append(event["timeNano"] / 1e9)
            die = max(t for t in times["die"] if t >= since - 0.5)
            gaps.append(min(t for t in times["start"] if t > die) - die)
            time.sleep(1.2)  # let the backoff lapse, so every kill is a "first" failure
        gaps.sort()
        p95 = gaps[min(len(gaps) - 1, int(round(0.95 * (len(gaps) - 1))))]
        print(f"die -> running again over {len(gaps)} kills: median "
              f"{statistics.median(gaps) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
              f"max {gaps[-1] * 1000:.0f} ms (interval 60 s)")
    finally:
        server.terminate()
        server.wait(timeout=30)
        owned = {"label": f"{LABEL}={instance}"}
        for container in client.containers.list(all=True, filters=owned):
            container.remove(force=True)
        for network in client.networks.list(filters=owned):
            network.remove()
        client.images.remove(image, force=True)


if __name__ == "__main__":
    main()
