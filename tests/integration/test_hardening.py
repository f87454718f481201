"""Steward under concurrent requests, on a live server with a real container."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import docker
import requests

from tests.helpers import write_state
from tests.integration.conftest import LiveServer, wait_for
from tests.integration.test_healing import service
from tests.integration.test_reconcile import containers


def test_fifty_simultaneous_restarts_cause_one_restart(
        make_server: Callable[..., LiveServer], desired_dir: Path, test_image: str,
        docker_client: docker.DockerClient, instance: str) -> None:
    write_state(desired_dir, "services:\n" + service("worker", test_image, '["sleep", "3600"]'))
    server = make_server(STEWARD_RECONCILE_INTERVAL="60")
    wait_for(lambda: server.service("worker")["status"] == "running", what="worker running")
    container_id = containers(docker_client, instance)["worker"].id
    since = time.time()

    def restart(_: int) -> requests.Response:
        return requests.post(f"{server.url}/api/system/services/worker/restart", timeout=30)

    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(restart, range(50)))
    codes = sorted(a.status_code for a in answers)
    assert codes == [200] + [409] * 49
    assert {a.json()["detail"] for a in answers if a.status_code == 409} == \
        {"A restart of 'worker' is already in progress"}
    wait_for(lambda: server.service("worker")["status"] == "running" and
             not server.service("worker")["events"][0]["kind"].endswith("requested"),
             what="the restart to be carried out")
    time.sleep(1)
    restarts = [e for e in docker_client.api.events(
        since=since, until=time.time(), decode=True,
        filters={"container": container_id, "event": "restart"})]
    assert len(restarts) == 1
    assert server.service("worker")["restart_count"] == 1
