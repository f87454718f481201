"""Steward on the single-node sandbox swarm (scripts/swarm-sandbox.sh): how long things take
through `steward serve` with STEWARD_ENGINE=swarm, read from the API as a user would.

A busybox service (`sleep`, `replicas: 2`, `update: {monitor: 2s}`) whose restart
`backoff_base` is Swarm's restart delay. Steward polls every 1 s and follows the sandbox's
container events. Per run:

- create: from `steward serve` answering to the API showing `running` with `2/2`;
- killed task: from `docker kill` of one task's container to `running` `2/2` again with
  a new container (and whether the API showed `starting` meanwhile);
- bad update (command exits 3): from the file write to the API's rollout `rolled_back`,
  and the fewest replicas running meanwhile (Swarm's start-first keeps the old ones).

Run as root: `.venv/bin/python bench/swarm_single_node.py [runs] [backoff_base]`.
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import docker
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.engine.images import build_busybox_image  # noqa: E402
from tests.dockerd import swarm_sandbox  # noqa: E402


def desired(image: str, command: str, delay: str) -> str:
    return (f"services:\n  web:\n    category: infrastructure\n    image: {image}\n"
            f"    init: true\n    command: {command}\n    replicas: 2\n"
            f"    stop_grace_period: 1s\n    update: {{monitor: 2s}}\n"
            f"    restart_policy: {{backoff_base: {delay}, max_failures: 100}}\n")


def until(check, timeout: float = 120) -> float:
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise TimeoutError("gave up waiting")
        time.sleep(0.05)
    return time.monotonic() - start


def one_run(url: str, client: docker.DockerClient, image: str, delay: str) -> dict:
    work = Path(tempfile.mkdtemp(prefix="stw-bench-"))
    (work / "ds").mkdir()
    (work / "ds" / "web.yaml").write_text(desired(image, '["sleep", "3600"]', delay))
    instance = f"b{uuid.uuid4().hex[:8]}"
    port = 18000 + int(uuid.uuid4().int % 1000)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("STEWARD_")},
           "DOCKER_HOST": url, "STEWARD_ENGINE": "swarm", "STEWARD_INSTANCE": instance,
           "STEWARD_DATABASE_URL": f"sqlite:///{work}/s.db",
           "STEWARD_DESIRED_STATE": str(work / "ds"), "STEWARD_RECONCILE_INTERVAL": "1",
           "STEWARD_SECRET_KEY": "bench", "STEWARD_LOG_LEVEL": "WARNING"}
    api = f"http://127.0.0.1:{port}/api/system/services/web"
    server = subprocess.Popen([sys.executable, "-m", "app", "serve", "--port", str(port)],
                              env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)

    def detail() -> dict:
        try:
            return requests.get(api, timeout=2).json()
        except (requests.RequestException, ValueError):
            return {}

    def full() -> bool:
        d = detail()
        return d.get("status") == "running" and d.get("replicas") == "2/2"

    try:
        until(lambda: detail().get("name") == "web")
        figures = {"create": until(full)}
        victim = client.containers.list(filters={"label": f"io.steward.instance={instance}"})[0]
        start = time.monotonic()
        victim.kill()
        seen = set()

        def replaced() -> bool:
            seen.add(detail().get("status"))
            running = [c.id for c in client.containers.list(
                filters={"label": f"io.steward.instance={instance}"})]
            return victim.id not in running and len(running) == 2 and full()
        until(replaced)
        figures["killed"] = time.monotonic() - start
        figures["saw_starting"] = "starting" in seen
        fewest = [2]

        def rolled_back() -> bool:
            d = detail()
            fewest[0] = min(fewest[0], int((d.get("replicas") or "2/2").split("/")[0]))
            return (d.get("rollout") or {}).get("state") == "rolled_back"
        (work / "ds" / "web.yaml").write_text(desired(image, '["sh", "-c", "exit 3"]', delay))
        figures["rollback"] = until(rolled_back)
        figures["fewest"] = fewest[0]
        return figures
    finally:
        server.terminate()
        server.wait(timeout=20)
        for service in client.services.list(filters={"label": f"io.steward.instance={instance}"}):
            service.remove()


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    delay = sys.argv[2] if len(sys.argv) > 2 else "2s"
    host = docker.from_env()
    image = f"steward-bench-busybox:{uuid.uuid4().hex[:8]}"
    build_busybox_image(host, image)
    try:
        with swarm_sandbox([image], Path(f"/var/tmp/stw-bench-{uuid.uuid4().hex[:6]}")) as url:
            client = docker.DockerClient(base_url=url, timeout=30)
            results = [one_run(url, client, image, delay) for _ in range(runs)]
    finally:
        host.images.remove(image, force=True)
    for key, label in (("create", "create -> running 2/2"), ("killed", "kill -> running 2/2"),
                       ("rollback", "bad update -> rolled_back")):
        values = [r[key] for r in results]
        print(f"{label:28} median {statistics.median(values):5.1f} s  "
              f"(min {min(values):.1f}, max {max(values):.1f})")
    print(f"fewest replicas running during the bad update: {min(r['fewest'] for r in results)}/2")
    print(f"runs in which the API showed `starting` after the kill: "
          f"{sum(r['saw_starting'] for r in results)} of {runs}")


if __name__ == "__main__":
    main()
