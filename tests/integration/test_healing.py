"""Self-healing on a real dockerd, through `steward serve` as users run it.

The interval job is set to 60 s in these tests: everything here must happen because a
Docker event, a health probe or a scheduled wake-up asked for it, not because a periodic
pass came round.
"""
from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Callable

import docker
import pytest

from app.engine.docker_engine import LABEL_INSTANCE
from tests.helpers import (
    SLOW_INTERVAL,
    containers_of,
    kill_main_process,
    service,
    write_state,
)
from tests.integration.conftest import LiveServer, free_port, wait_for

pytestmark = pytest.mark.usefixtures("docker_client")


def crash_loop(make_server: Callable[..., LiveServer], desired_dir: Path, image: str,
               policy: str) -> LiveServer:
    """Serve one service whose process exits with code 3 as soon as it starts."""
    write_state(desired_dir, "services:\n" + service(
        "crasher", image, '["sh", "-c", "exit 3"]', restart_policy=policy))
    return make_server(STEWARD_RECONCILE_INTERVAL=SLOW_INTERVAL)


def started_at(client: docker.DockerClient, instance: str, name: str) -> str:
    return containers_of(client, instance)[name].attrs["State"]["StartedAt"]


def start_times(client: docker.DockerClient, instance: str, since: float) -> list[float]:
    """When Docker started this instance's containers, from Docker's own event log."""
    events = client.api.events(since=since, until=time.time(), decode=True, filters={
        "type": "container", "event": "start", "label": f"{LABEL_INSTANCE}={instance}"})
    return [e["timeNano"] / 1e9 for e in events]


def running_again(client: docker.DockerClient, instance: str, name: str,
                  before: str) -> bool:
    container = containers_of(client, instance).get(name)
    return bool(container and container.status == "running"
                and container.attrs["State"]["StartedAt"] != before)


def test_a_dead_process_is_restarted_without_waiting_for_the_interval(
        make_server: Callable[..., LiveServer], desired_dir: Path, test_image: str,
        docker_client: docker.DockerClient, instance: str) -> None:
    write_state(desired_dir, "services:\n" + service("worker", test_image, '["sleep", "3600"]'))
    server = make_server(STEWARD_RECONCILE_INTERVAL=SLOW_INTERVAL)
    wait_for(lambda: server.service("worker")["status"] == "running", what="worker running")
    before = started_at(docker_client, instance, "worker")

    killed = time.monotonic()
    kill_main_process(containers_of(docker_client, instance)["worker"])
    wait_for(lambda: running_again(docker_client, instance, "worker", before), timeout=15,
             interval=0.05, what="the worker to run again (well before the 60 s interval)")
    print(f"killed -> running again in {time.monotonic() - killed:.2f}s")
    worker = wait_for(lambda: (s := server.service("worker"))["restart_count"] and s,
                      what="the restart to be recorded")
    assert (worker["failure_count"], worker["restart_count"], worker["last_failure"]) == \
        (1, 1, "exit code 137")
    assert [e["kind"] for e in worker["events"][:1]] == ["start"]


def test_a_crashing_service_is_disabled_after_exactly_max_failures_spaced_restarts(
        make_server: Callable[..., LiveServer], desired_dir: Path, test_image: str,
        docker_client: docker.DockerClient, instance: str) -> None:
    since = time.time()
    server = crash_loop(make_server, desired_dir, test_image,
                        "{max_failures: 4, backoff_base: 0.5s, backoff_max: 1s}")
    crasher = wait_for(lambda: (s := server.service("crasher"))["status"] == "disabled" and s,
                       timeout=30, what="the crash-looping service to be disabled")
    assert crasher["disabled_reason"] == \
        "failure limit reached: 4 consecutive failures, last: exit code 3"
    assert (crasher["failure_count"], crasher["restart_count"]) == (4, 4)
    time.sleep(1.5)  # longer than any backoff: nothing restarts it any more

    starts = start_times(docker_client, instance, since)
    gaps = [later - earlier for earlier, later in zip(starts, starts[1:])]
    print("restart gaps:", [round(g, 2) for g in gaps])
    assert len(starts) == 1 + 4, f"the first start and exactly 4 restarts, got {gaps}"
    for gap, planned in zip(gaps, [0, 0.5, 1, 1]):  # immediate, then min(0.5 * 2^(n-1), 1)
        assert planned - 0.05 <= gap <= planned + 1.5, f"restart gaps {gaps}"
    kinds = [e["kind"] for e in server.get(
        "/api/system/events", params={"service": "crasher"}).json()["events"]]
    assert kinds[0] == "disable" and kinds.count("start") == 4 and "backoff" in kinds


def test_an_unhealthy_http_service_is_restarted(make_server: Callable[..., LiveServer],
                                               desired_dir: Path, test_image: str,
                                               docker_client: docker.DockerClient,
                                               instance: str) -> None:
    port = free_port()
    write_state(desired_dir, "services:\n" + service(
        "web", test_image,
        '["sh", "-c", "mkdir -p /www && echo ok > /www/health && exec httpd -f -p 8080 -h /www"]',
        ports=f'["{port}:8080"]',
        healthcheck="{http: {path: /health}, interval: 0.5s, timeout: 1s, retries: 2}"))
    server = make_server(STEWARD_RECONCILE_INTERVAL=SLOW_INTERVAL)
    wait_for(lambda: server.service("web")["status"] == "running", what="web healthy")
    before = started_at(docker_client, instance, "web")

    containers_of(docker_client, instance)["web"].exec_run(["rm", "/www/health"])
    wait_for(lambda: running_again(docker_client, instance, "web", before), timeout=15,
             what="the unhealthy service to be restarted")
    web = wait_for(lambda: (s := server.service("web"))["status"] == "running" and s,
                   what="web healthy again")
    assert (web["failure_count"], web["restart_count"]) == (1, 1)
    address = containers_of(docker_client, instance)["web"].attrs["NetworkSettings"]["Networks"][
        f"{instance}_default"]["IPAddress"]
    assert web["last_failure"] == f"unhealthy: GET http://{address}:8080/health -> HTTP 404", \
        "probed at the container itself, not through the published port"
    restart = next(e for e in web["events"] if e["kind"] == "restart")
    assert restart["message"] == web["last_failure"]


def test_a_dependency_outage_does_not_disable_its_dependents(
        make_server: Callable[..., LiveServer], desired_dir: Path, tmp_path: Path,
        test_image: str, docker_client: docker.DockerClient, instance: str) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "allow").touch()
    volume = f'["{shared}:/shared"]'
    write_state(desired_dir, "services:\n" + service(
        "db", test_image,
        '["sh", "-c", "test -f /shared/allow || exit 3; touch /shared/db-up; exec sleep 3600"]',
        category="infrastructure", volumes=volume,
        restart_policy="{max_failures: 50, backoff_base: 0.5s, backoff_max: 1s}")
        + service("app", test_image, '["sleep", "3600"]', volumes=volume, depends_on="[db]",
                  healthcheck="{command: [test, -f, /shared/db-up], interval: 0.5s, "
                              "timeout: 1s, retries: 1}",
                  restart_policy="{max_failures: 1, backoff_base: 0.5s, backoff_max: 1s}"))
    server = make_server(STEWARD_RECONCILE_INTERVAL=SLOW_INTERVAL)
    wait_for(lambda: server.service("app")["status"] == "running", what="app healthy")

    (shared / "allow").unlink()
    (shared / "db-up").unlink()
    kill_main_process(containers_of(docker_client, instance)["db"])
    app = wait_for(lambda: (s := server.service("app"))["waiting_for"] == "dependency" and s,
                   timeout=15, what="app to wait for its dependency")
    assert app["status"] == "starting"
    assert app["wait_reason"].startswith("waiting for dependency db (")
    time.sleep(3)  # several db crashes and app check failures
    assert server.service("db")["failure_count"] >= 2

    (shared / "allow").touch()
    app = wait_for(lambda: (s := server.service("app"))["status"] == "running" and s,
                   timeout=20, what="app healthy again once db is back")
    assert (app["enabled"], app["failure_count"], app["restart_count"]) == (True, 0, 0)
    assert server.service("db")["status"] == "running"


def test_restart_with_restarts_the_dependent_after_its_dependency_is_back(
        make_server: Callable[..., LiveServer], desired_dir: Path, test_image: str,
        docker_client: docker.DockerClient, instance: str) -> None:
    write_state(desired_dir, "services:\n"
                + service("vpn", test_image, '["sleep", "3600"]', category="infrastructure")
                + service("torrent", test_image, '["sleep", "3600"]', restart_with="[vpn]"))
    server = make_server(STEWARD_RECONCILE_INTERVAL=SLOW_INTERVAL)
    wait_for(lambda: server.service("torrent")["status"] == "running", what="torrent running")
    torrent_before = started_at(docker_client, instance, "torrent")

    kill_main_process(containers_of(docker_client, instance)["vpn"])
    wait_for(lambda: running_again(docker_client, instance, "torrent", torrent_before),
             timeout=15, what="torrent restarted with vpn")
    vpn_started = started_at(docker_client, instance, "vpn")
    assert started_at(docker_client, instance, "torrent") > vpn_started, \
        "the dependent restarts after its dependency is running again"
    torrent = wait_for(lambda: (s := server.service("torrent"))["restart_count"] and s,
                       what="the restart to be recorded")
    assert (torrent["failure_count"], torrent["restart_count"]) == (0, 1)
    assert torrent["events"][0]["message"] == "restart_with: vpn was restarted"


def test_a_pause_holds_healing_until_it_ends_on_its_own(
        make_server: Callable[..., LiveServer], desired_dir: Path, test_image: str,
        docker_client: docker.DockerClient, instance: str) -> None:
    write_state(desired_dir, "services:\n" + service("db", test_image, '["sleep", "3600"]',
                                                      category="infrastructure"))
    server = make_server(STEWARD_RECONCILE_INTERVAL=SLOW_INTERVAL)
    wait_for(lambda: server.service("db")["status"] == "running", what="db running")
    answer = server.post("/api/system/categories/infrastructure/pause",
                         json={"duration": "4s", "reason": "storage maintenance"})
    assert answer.status_code == 200, answer.text
    paused_until = answer.json()["pause"]["until"]
    assert server.service("db")["paused_until"] == paused_until

    containers_of(docker_client, instance)["db"].kill()
    db = wait_for(lambda: (s := server.service("db"))["waiting_for"] == "pause" and s,
                  what="the heal to be held")
    assert (db["status"], db["pause_reason"]) == ("stopped", "storage maintenance")
    assert containers_of(docker_client, instance)["db"].status == "exited"
    wait_for(lambda: server.service("db")["status"] == "running", timeout=15,
             what="healing to resume when the pause ends")
    resumed_at = datetime.fromisoformat(
        containers_of(docker_client, instance)["db"].attrs["State"]["StartedAt"][:26])
    assert resumed_at.strftime("%Y-%m-%dT%H:%M:%S") >= paused_until[:19]
    assert server.get("/api/system/pauses").json() == {"pauses": []}


def test_a_manual_stop_is_respected_until_start(make_server: Callable[..., LiveServer],
                                               desired_dir: Path, test_image: str,
                                               docker_client: docker.DockerClient,
                                               instance: str) -> None:
    write_state(desired_dir, "services:\n" + service("worker", test_image, '["sleep", "3600"]'))
    server = make_server(STEWARD_RECONCILE_INTERVAL=SLOW_INTERVAL)
    wait_for(lambda: server.service("worker")["status"] == "running", what="worker running")
    assert server.post("/api/system/services/worker/stop").status_code == 200
    wait_for(lambda: containers_of(docker_client, instance)["worker"].status == "exited",
             what="the worker to stop")
    time.sleep(1.5)
    assert containers_of(docker_client, instance)["worker"].status == "exited"
    assert server.service("worker")["failure_count"] == 0

    assert server.post("/api/system/services/worker/start").status_code == 200
    wait_for(lambda: containers_of(docker_client, instance)["worker"].status == "running",
             what="the worker to start again")


def test_the_backoff_and_next_restart_survive_a_restart_of_steward(
        make_server: Callable[..., LiveServer], desired_dir: Path, test_image: str,
        docker_client: docker.DockerClient, instance: str) -> None:
    since = time.time()
    server = crash_loop(make_server, desired_dir, test_image,
                        "{max_failures: 10, backoff_base: 4s, backoff_max: 4s}")
    waiting = wait_for(lambda: (s := server.service("crasher"))["next_restart_at"] and s,
                       what="the crasher to wait out its backoff")
    assert (waiting["failure_count"], waiting["waiting_for"]) == (1, "backoff")

    server.stop()
    server.start()
    again = server.service("crasher")
    assert (again["failure_count"], again["next_restart_at"]) == \
        (1, waiting["next_restart_at"])
    wait_for(lambda: server.service("crasher")["restart_count"] == 2, timeout=15,
             what="the planned restart")
    planned = datetime.fromisoformat(waiting["next_restart_at"].replace("Z", "+00:00"))
    starts = start_times(docker_client, instance, since)
    assert len(starts) >= 3 and starts[2] >= planned.timestamp(), \
        "the restart after Steward's own restart still waited for the planned time"
