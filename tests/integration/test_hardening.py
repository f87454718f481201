"""Steward under concurrent requests, on a live server with a real container."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import docker
import requests

from tests.helpers import containers_of, service, write_state
from tests.integration.conftest import LiveServer, wait_for


def test_fifty_simultaneous_restarts_cause_one_restart(
        make_server: Callable[..., LiveServer], desired_dir: Path, test_image: str,
        docker_client: docker.DockerClient, instance: str) -> None:
    # It ignores SIGTERM, so its restart takes the whole grace period: the fifty requests
    # all arrive while the first one is being carried out, however loaded the machine.
    write_state(desired_dir, "services:\n" + service(
        "worker", test_image, '["sh", "-c", "trap \\"\\" TERM; sleep 3600"]',
        stop_grace_period="5s"))
    server = make_server(STEWARD_RECONCILE_INTERVAL="60")
    wait_for(lambda: server.service("worker")["status"] == "running", what="worker running")
    container_id = containers_of(docker_client, instance)["worker"].id
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


def test_tokens_guard_a_live_server_and_never_reach_its_log(
        make_server: Callable[..., LiveServer], desired_dir: Path, test_image: str) -> None:
    viewer, operator = "viewer-secret-0123456789", "operator-secret-0123456789"
    write_state(desired_dir, "services:\n" + service("worker", test_image, '["sleep", "3600"]'))
    server = make_server(STEWARD_API_TOKENS=f"watcher:viewer:{viewer},ops:operator:{operator}",
                         STEWARD_LOG_LEVEL="DEBUG")
    url = f"{server.url}/api/system/services"
    assert requests.get(url, timeout=10).status_code == 401
    assert requests.get(url, headers={"Authorization": f"Bearer {viewer}"},
                        timeout=10).status_code == 200
    restart = f"{url}/worker/restart"
    assert requests.post(restart, headers={"Authorization": f"Bearer {viewer}"},
                         timeout=10).status_code == 403
    assert requests.post(restart, headers={"Authorization": "Bearer not-a-token-at-all"},
                         timeout=10).status_code == 401
    assert requests.post(restart, headers={"Authorization": f"Bearer {operator}"},
                         timeout=10).status_code == 200
    events = requests.get(f"{server.url}/api/system/events?actor=ops", timeout=10, headers={
        "Authorization": f"Bearer {viewer}"}).json()["events"]
    assert [(e["kind"], e["actor"], e["origin"]) for e in events] == \
        [("restart-requested", "ops", "127.0.0.1")]
    server.stop()
    log = server.log.read_text()
    assert "restart-requested worker" in log and "by ops from 127.0.0.1" in log
    assert viewer not in log and operator not in log and "not-a-token-at-all" not in log


def listening_addresses(port: int) -> set[str]:
    """The local addresses bound to `port` in LISTEN state, from /proc/net/tcp."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, port_hex = local.split(":")
        if int(port_hex, 16) == port and state == "0A":
            found.add(".".join(str(int(address[i:i + 2], 16)) for i in (6, 4, 2, 0)))
    return found


def test_without_tokens_steward_listens_on_127_0_0_1_only_and_says_so(
        make_server: Callable[..., LiveServer], desired_dir: Path) -> None:
    write_state(desired_dir, "services: {}\n")
    server = make_server(STEWARD_HOST="0.0.0.0")
    assert listening_addresses(server.port) == {"127.0.0.1"}
    log = server.log.read_text()
    assert "No API tokens are configured, so Steward will not listen on 0.0.0.0" in log
    assert "listening on 127.0.0.1 only" in log
