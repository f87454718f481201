"""How soon a `git push` is in force: with a signed push webhook, and with the poll alone.

A local bare repository is the remote; `steward serve` follows it (`STEWARD_GIT_URL=file://…`)
on a private SQLite file and instance label, with the poll at `--poll` seconds. Each push
commits a new `MODE` for one service. With the webhook, the push is followed by a POST
signed like GitHub's (`X-Hub-Signature-256`); without, Steward's poll finds it, and each
push waits a random part of the poll interval first, so the figures average over the
poll's phase. Two times per push, both from just before `git push`: until the API shows the
pushed commit as the revision in force, and until the new container is the only one
running (after the rollout's 1 s monitor). Removes what it created.

    .venv/bin/python bench/push_latency.py [--webhook-pushes 10] [--poll-pushes 4] [--poll 30]
"""
from __future__ import annotations

import argparse
import json
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
from typing import Callable

import docker
import requests

ROOT = Path(__file__).resolve().parents[1]
SECRET = "bench-webhook-secret-0123456789"
SERVICE = ("services:\n  w:\n    category: ai\n    image: steward-bench:{tag}\n    init: true\n"
           "    command: [sleep, '3600']\n    stop_grace_period: 1s\n"
           "    update: {{monitor: 1s}}\n    environment: {{MODE: '{mode}'}}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--webhook-pushes", type=int, default=10)
    parser.add_argument("--poll-pushes", type=int, default=4)
    parser.add_argument("--poll", type=float, default=30.0, help="STEWARD_GIT_POLL, seconds")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from app.api.git.signatures import sign
    from app.engine.images import build_busybox_image

    client = docker.from_env()
    instance = f"bench{uuid.uuid4().hex[:8]}"
    build_busybox_image(client, f"steward-bench:{instance}", labels={"io.steward.bench": "1"})
    work = Path(tempfile.mkdtemp(prefix="steward-bench-"))
    remote, clone = work / "remote.git", work / "clone"
    _git(work, "init", "-q", "--bare", str(remote))
    _git(work, "clone", "-q", str(remote), str(clone))
    bench = Bench(client, instance, clone, sign)
    bench.commit(0)
    port = _free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("STEWARD_")},
           "STEWARD_DATABASE_URL": f"sqlite:///{work / 'bench.db'}",
           "STEWARD_GIT_URL": f"file://{remote}", "STEWARD_GIT_POLL": str(args.poll),
           "STEWARD_GIT_CHECKOUT": str(work / "checkout"), "STEWARD_INSTANCE": instance,
           "STEWARD_GIT_WEBHOOK_SECRET": SECRET, "STEWARD_SECRET_KEY": "bench",
           "STEWARD_LOG_LEVEL": "WARNING"}
    server = subprocess.Popen([sys.executable, "-m", "app", "serve", "--port", str(port)],
                              env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    bench.url = f"http://127.0.0.1:{port}"
    try:
        bench.wait(lambda: bench.only_mode() == "0", "the first container")
        hooked = [bench.push(mode, webhook=True) for mode in range(1, args.webhook_pushes + 1)]
        polled = []
        for mode in range(100, 100 + args.poll_pushes):
            time.sleep(random.uniform(0, args.poll))
            polled.append(bench.push(mode, webhook=False))
        print(f"git {_git(work, 'version')}, STEWARD_GIT_POLL={args.poll:g}s, file:// remote")
        _report("webhook", hooked)
        _report(f"poll {args.poll:g}s", polled)
    finally:
        server.terminate()
        server.wait(timeout=30)
        for container in client.containers.list(
                all=True, filters={"label": f"io.steward.instance={instance}"}):
            container.remove(force=True)
        for network in client.networks.list(filters={"label": f"io.steward.instance={instance}"}):
            network.remove()
        client.images.remove(f"steward-bench:{instance}", force=True)


class Bench:
    def __init__(self, client: docker.DockerClient, instance: str, clone: Path,
                 sign: Callable[[bytes, str], str]) -> None:
        self.client, self.instance, self.clone, self.sign = client, instance, clone, sign
        self.url = ""

    def commit(self, mode: int) -> str:
        (self.clone / "desired_state").mkdir(exist_ok=True)
        (self.clone / "desired_state" / "a.yaml").write_text(
            SERVICE.format(tag=self.instance, mode=mode))
        _git(self.clone, "add", "-A")
        _git(self.clone, "commit", "-q", "-m", f"mode {mode}")
        _git(self.clone, "push", "-q", "origin", "HEAD:main")
        return _git(self.clone, "rev-parse", "HEAD")

    def push(self, mode: int, *, webhook: bool) -> tuple[float, float]:
        """Seconds from the push until the revision is in force, and until the container is."""
        start = time.monotonic()
        commit = self.commit(mode)
        if webhook:
            body = json.dumps({"ref": "refs/heads/main", "after": commit}).encode()
            signature = f"sha256={self.sign(body, SECRET)}"
            answer = requests.post(f"{self.url}/api/system/git/webhook", data=body, timeout=10,
                                   headers={"Content-Type": "application/json",
                                            "X-GitHub-Event": "push",
                                            "X-Hub-Signature-256": signature})
            answer.raise_for_status()
        self.wait(lambda: self.revision() == commit, f"revision {commit[:12]}")
        loaded = time.monotonic() - start
        self.wait(lambda: self.only_mode() == str(mode), f"the container with MODE={mode}")
        return loaded, time.monotonic() - start

    def revision(self) -> str | None:
        try:
            return requests.get(f"{self.url}/api/system/desired-state", timeout=2).json()[
                "revision"]
        except (requests.RequestException, ValueError):
            return None

    def only_mode(self) -> str | None:
        """MODE of the one running container of the instance; None while there are two."""
        found = self.client.containers.list(filters={
            "label": f"io.steward.instance={self.instance}"})
        env = [e for c in found for e in c.attrs["Config"]["Env"] if e.startswith("MODE=")]
        return env[0].removeprefix("MODE=") if len(env) == 1 else None

    def wait(self, check: Callable[[], bool], what: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise SystemExit(f"no {what} within {timeout:g} s")
            time.sleep(0.02)


def _report(name: str, times: list[tuple[float, float]]) -> None:
    if not times:
        return
    loaded, serving = [t[0] for t in times], [t[1] for t in times]
    print(f"{name:>9}: push -> revision in force median {statistics.median(loaded):.2f}s "
          f"(min {min(loaded):.2f}, max {max(loaded):.2f}); push -> new container alone "
          f"median {statistics.median(serving):.2f}s (max {max(serving):.2f}); {len(times)} pushes")


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=Bench", "-c", "user.email=bench@example.com",
                           "-c", "init.defaultBranch=main", *args], cwd=cwd, check=True,
                          capture_output=True, text=True).stdout.strip()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


if __name__ == "__main__":
    main()
