"""A bounded soak under faults: 20 services on a private dockerd, for a fixed number of
minutes: random SIGKILLs of container processes, `docker stop`s from outside, one dockerd
restart and one `kill -9` of Steward itself (started again at once). Then it checks and
prints: every enabled service running, no duplicate containers, no container without its
service, restart counters consistent with the event log, and nothing lost from the store.

Everything runs on a dockerd of its own (tests/dockerd.py), a private SQLite file and
directory; all is removed at the end. Not part of the test suite: run it by hand.

    .venv/bin/python bench/chaos.py [--minutes 3] [--seed 1]
"""
from __future__ import annotations

import argparse
import os
import random
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import closing
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.engine.docker_engine import LABEL_INSTANCE, LABEL_SERVICE  # noqa: E402
from app.engine.images import build_busybox_image  # noqa: E402
from tests.helpers import kill_main_process  # noqa: E402
from tests.dockerd import private_dockerd  # noqa: E402

IMAGE = "steward-chaos:busybox"
INSTANCE = "chaos"
#: Events whose start or restart does not count as a restart (see docs/self-healing.md).
NOT_COUNTED = {"container was never started", "start requested", "enable requested",
               "restart requested"}


def desired_state(directory: Path) -> list[str]:
    names, lines = [], ["services:"]
    policy = "    restart_policy: {max_failures: 1000, backoff_base: 0.5s, backoff_max: 2s}"
    lines += ["  db:", "    category: infrastructure", f"    image: {IMAGE}", "    init: true",
              '    command: ["sh", "-c", "mkdir -p /www && echo ok > /www/health && '
              'exec httpd -f -p 80 -h /www"]',
              "    healthcheck: {command: [wget, -q, -O, /dev/null, http://127.0.0.1/health],"
              " interval: 1s, timeout: 1s, retries: 2}", "    stop_grace_period: 1s", policy]
    names.append("db")
    for i in range(19):
        name = f"svc{i:02d}"
        names.append(name)
        lines += [f"  {name}:", f"    category: {('ai', 'monitoring')[i % 2]}",
                  f"    image: {IMAGE}", "    init: true", '    command: ["sleep", "86400"]',
                  "    stop_grace_period: 1s", policy]
        if i < 5:
            lines.append("    depends_on: [db]")
    (directory / "services.yaml").write_text("\n".join(lines) + "\n")
    return names


class Steward:
    def __init__(self, env: dict[str, str], port: int, log: Path) -> None:
        self.env, self.port, self.log = env, port, log
        self.url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "app", "serve", "--port", str(self.port)],
                env=self.env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        wait(lambda: requests.get(f"{self.url}/healthz", timeout=1).ok, 60, "Steward up")

    def kill9(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)

    def services(self) -> dict[str, dict]:
        body = requests.get(f"{self.url}/api/system/services", timeout=5).json()
        return {s["name"]: s for s in body.get("services", [])}


def wait(check, timeout: float, what: str) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            if check():
                return time.monotonic() - start
        except (requests.RequestException, ValueError, KeyError):
            pass
        time.sleep(0.1)
    raise SystemExit(f"FAILED: {what} not within {timeout:g}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with private_dockerd() as engine, tempfile.TemporaryDirectory(prefix="chaos-") as tmp:
        work = Path(tmp)
        (work / "desired").mkdir()
        names = desired_state(work / "desired")
        with closing(engine.client()) as client:
            build_busybox_image(client, IMAGE)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("STEWARD_")},
               "DOCKER_HOST": engine.url, "STEWARD_DATABASE_URL": f"sqlite:///{work / 's.db'}",
               "STEWARD_DESIRED_STATE": str(work / "desired"), "STEWARD_INSTANCE": INSTANCE,
               "STEWARD_SECRET_KEY": "chaos", "STEWARD_RECONCILE_INTERVAL": "5"}
        steward = Steward(env, port, work / "steward.log")
        steward.start()
        try:
            all_running = lambda: all(s["status"] == "running"  # noqa: E731
                                      for s in steward.services().values()) \
                and len(steward.services()) == len(names)
            print(f"20 services up in {wait(all_running, 120, 'all running'):.1f}s")
            faults, recoveries = soak(rng, engine, steward, names, args.minutes * 60)
            settle = wait(all_running, 120, "all running after the soak")
            print(f"faults: {dict(faults)}; settled {settle:.1f}s after the last")
            if recoveries:
                print(f"fault -> running again: median {statistics.median(recoveries):.2f}s, "
                      f"max {max(recoveries):.2f}s over {len(recoveries)} faults")
            steward.stop()
            problems = check(engine, work / "s.db", names)
        finally:
            steward.stop()
        print("\n".join(problems) if problems else
              "CHECKS PASSED: every enabled service running, no duplicate or unowned "
              "container, restart counters match the event log, nothing lost from the store")
        if problems:
            raise SystemExit(1)


def soak(rng: random.Random, engine, steward: Steward, names: list[str],
         seconds: float) -> tuple[Counter, list[float]]:
    faults: Counter = Counter()
    recoveries: list[float] = []
    started = time.monotonic()
    special = {seconds / 3: "dockerd restart", 2 * seconds / 3: "kill -9 steward"}
    with closing(engine.client()) as client:
        while time.monotonic() - started < seconds:
            elapsed = time.monotonic() - started
            due = [at for at in special if at <= elapsed]
            if due:
                kind = special.pop(due[0])
                if kind == "dockerd restart":
                    engine.stop()
                    engine.start()
                else:
                    steward.kill9()
                    steward.start()
                faults[kind] += 1
                continue
            name = rng.choice(names)
            try:
                container = client.containers.get(f"{INSTANCE}-{name}")
                before = container.attrs["State"]["StartedAt"]
                if rng.random() < 0.6:
                    kill_main_process(container)
                    faults["SIGKILL"] += 1
                else:
                    container.stop(timeout=1)
                    faults["docker stop"] += 1
            except Exception:  # noqa: BLE001 - a container mid-restart; pick another
                continue
            recoveries.append(wait(lambda: steward.services()[name]["status"] == "running"
                                   and client.containers.get(f"{INSTANCE}-{name}").attrs[
                                       "State"]["StartedAt"] != before, 60,
                                   f"{name} running again"))
            time.sleep(rng.uniform(0.5, 2.0))
    return faults, recoveries


def check(engine, database: Path, names: list[str]) -> list[str]:
    problems = []
    with closing(engine.client()) as client:
        found = client.containers.list(all=True, filters={"label": f"{LABEL_INSTANCE}="
                                                                    f"{INSTANCE}"})
    per_service = Counter(c.labels[LABEL_SERVICE] for c in found)
    problems += [f"{n}: {k} containers" for n, k in per_service.items() if k > 1]
    problems += [f"container {c.name} has no service" for c in found
                 if c.labels[LABEL_SERVICE] not in names]
    problems += [f"{c.name} is {c.status}" for c in found if c.status != "running"]
    with closing(sqlite3.connect(database)) as db:
        stored = {row[0]: row[1:] for row in db.execute(
            "SELECT service, restart_count, container_id, enabled FROM runtime_state")}
        events = db.execute("SELECT service, kind, message FROM events").fetchall()
    problems += [f"{n}: missing from the store" for n in names if n not in stored]
    containers = {c.labels[LABEL_SERVICE]: c.id for c in found}
    for name, (restarts, container_id, enabled) in stored.items():
        counted = sum(1 for s, kind, message in events if s == name and (
            kind == "restart-requested" or (kind in ("start", "restart")
                                            and message not in NOT_COUNTED)))
        if counted != restarts:
            problems.append(f"{name}: restart_count {restarts}, event log says {counted}")
        if container_id != containers.get(name):
            problems.append(f"{name}: the store names container {container_id}, Docker "
                            f"has {containers.get(name)}")
        if not enabled:
            problems.append(f"{name}: disabled")
    return problems


if __name__ == "__main__":
    main()
