"""dockerd stops and starts again under a running Steward: it recovers on its own.

The test runs its own dockerd (tests/dockerd.py), so stopping the engine never touches
anything else on the machine.
"""
from __future__ import annotations

from contextlib import closing
from pathlib import Path
from typing import Callable, Iterator

import docker
import pytest

from app.engine.docker_engine import LABEL_INSTANCE, LABEL_SERVICE
from app.engine.images import build_busybox_image
from tests.dockerd import PrivateDockerd, private_dockerd
from tests.helpers import SLOW_INTERVAL, service, write_state
from tests.integration.conftest import LiveServer, wait_for


@pytest.fixture
def engine() -> Iterator[PrivateDockerd]:
    with private_dockerd() as dockerd:
        yield dockerd


def worker_container(client: docker.DockerClient, instance: str) -> docker.models.containers.Container:
    found = client.containers.list(all=True, filters={"label": f"{LABEL_INSTANCE}={instance}"})
    assert [c.labels[LABEL_SERVICE] for c in found] == ["worker"], "exactly one container"
    return found[0]


def test_steward_recovers_when_dockerd_restarts_without_a_restart_of_its_own(
        make_server: Callable[..., LiveServer], engine: PrivateDockerd,
        desired_dir: Path, instance: str) -> None:
    with closing(engine.client()) as client:
        build_busybox_image(client, "steward-test-busybox:private")
    write_state(desired_dir, "services:\n" + service(
        "worker", "steward-test-busybox:private", '["sleep", "3600"]'))
    server = make_server(DOCKER_HOST=engine.url,
                         STEWARD_RECONCILE_INTERVAL=SLOW_INTERVAL)
    wait_for(lambda: server.service("worker")["status"] == "running", what="worker running")
    steward_pid = server.process.pid

    engine.stop()
    wait_for(lambda: server.get("/api/system/services").status_code == 503, timeout=15,
             what="the API to report the engine as unavailable")
    assert "Container orchestrator not available" in \
        server.get("/api/system/services").json()["detail"]

    engine.start()
    wait_for(lambda: server.get("/api/system/services").status_code == 200, timeout=20,
             what="the API to recover")
    with closing(engine.client()) as client:
        wait_for(lambda: worker_container(client, instance).status == "running", timeout=20,
                 what="the worker (stopped with the engine) to run again")
        assert server.process is not None and server.process.pid == steward_pid
        assert server.process.poll() is None, "Steward kept running throughout"
        worker = wait_for(lambda: (s := server.service("worker"))["status"] == "running" and s,
                          what="the API to show the worker running")
        kinds = [e["kind"] for e in server.get("/api/system/events").json()["events"]]
        assert {"engine-down", "engine-up"} <= set(kinds)
        assert worker["container_id"] == worker_container(client, instance).id[:12]
        server.stop()
        for container in client.containers.list(all=True):
            container.remove(force=True)
