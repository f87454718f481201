"""How soon an edit of a desired-state file is in force: edit, then poll the API until the
new digest shows. Runs `steward serve` on a private SQLite file, directory and instance
label, and removes what it created.

    .venv/bin/python bench/file_follow.py [--edits 10]
"""
from __future__ import annotations

import argparse
import os
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
SERVICE = ("services:\n  w:\n    category: ai\n    image: steward-bench:{tag}\n"
           "    command: [sleep, '3600']\n    environment: {{MODE: '{mode}'}}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edits", type=int, default=10)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from app.engine.images import build_busybox_image

    client = docker.from_env()
    instance = f"bench{uuid.uuid4().hex[:8]}"
    build_busybox_image(client, f"steward-bench:{instance}", labels={"io.steward.bench": "1"})
    work = Path(tempfile.mkdtemp(prefix="steward-bench-"))
    desired = work / "desired"
    desired.mkdir()
    (desired / "a.yaml").write_text(SERVICE.format(tag=instance, mode=0))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "STEWARD_DATABASE_URL": f"sqlite:///{work / 'bench.db'}",
           "STEWARD_DESIRED_STATE": str(desired), "STEWARD_INSTANCE": instance,
           "STEWARD_SECRET_KEY": "bench", "STEWARD_LOG_LEVEL": "WARNING"}
    server = subprocess.Popen([sys.executable, "-m", "app", "serve", "--port", str(port)],
                              env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/api/system/desired-state"
    try:
        digest = _wait_digest(url, None)
        times = []
        for mode in range(1, args.edits + 1):
            start = time.monotonic()
            (desired / "a.yaml").write_text(SERVICE.format(tag=instance, mode=mode))
            digest = _wait_digest(url, digest)
            times.append(time.monotonic() - start)
            time.sleep(0.3)
        print(f"edit -> in force: median {statistics.median(times):.2f}s, "
              f"max {max(times):.2f}s over {len(times)} edits")
    finally:
        server.terminate()
        server.wait(timeout=30)
        owned = {"label": f"io.steward.instance={instance}"}
        for container in client.containers.list(all=True, filters=owned):
            container.remove(force=True)
        for network in client.networks.list(filters=owned):
            network.remove()
        client.images.remove(f"steward-bench:{instance}", force=True)


def _wait_digest(url: str, old: str | None) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            digest = requests.get(url, timeout=2).json().get("digest")
        except (requests.RequestException, ValueError):
            digest = None
        if digest and digest != old:
            return digest
        time.sleep(0.02)
    raise SystemExit("the edit was not loaded within 60 s")


if __name__ == "__main__":
    main()
