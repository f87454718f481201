"""dockerd stops and starts again under a running Steward: it recovers on its own.

The test runs its own dockerd (own data root, socket, exec root and bridge), so stopping the
engine never touches anything else on the machine. It gets a bridge of its own rather than
`--bridge=none`, because dockerd deletes the host's default `docker0` bridge when started
with `--bridge=none`.
"""
from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import uuid
from contextlib import closing
from pathlib import Path
from typing import Callable, Iterator

import docker
import pytest

from app.engine.docker_engine import LABEL_INSTANCE, LABEL_SERVICE
from app.engine.images import build_busybox_image
from tests.helpers import write_state
from tests.integration.conftest import LiveServer, stop_process, wait_for
from tests.integration.test_healing import SLOW_INTERVAL, service


class PrivateDockerd:
    """A dockerd of the test's own, which the test may stop and start at will."""

    def __init__(self, root: Path, bridge: str) -> None:
        self.root = root
        self.bridge = bridge
        self.socket = root / "docker.sock"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def start(self) -> None:
        log = (self.root / "dockerd.log").open("ab")
        self.process = subprocess.Popen(
            ["dockerd", "--data-root", str(self.root / "data"),
             "--exec-root", str(self.root / "exec"), "--pidfile", str(self.root / "docker.pid"),
             "--host", self.url, "--bridge", self.bridge, "--iptables=false", "--ip-masq=false",
             "--storage-driver", "vfs"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        wait_for(self._answers, timeout=60, interval=0.2, what="the private dockerd")

    def _answers(self) -> bool:
        if self.process and self.process.poll() is not None:
            pytest.fail(f"private dockerd exited: {(self.root / 'dockerd.log').read_text()[-2000:]}")
        with socket.socket(socket.AF_UNIX) as probe:  # the SDK leaks a socket on refusal
            if probe.connect_ex(str(self.socket)) != 0:
                return False
        with closing(self.client()) as client:
            return bool(client.ping())

    def stop(self) -> None:
        stop_process(self.process, timeout=60)
        self.process = None

    def client(self) -> docker.DockerClient:
        return docker.DockerClient(base_url=self.url, timeout=30)


@pytest.fixture
def private_dockerd() -> Iterator[PrivateDockerd]:
    if shutil.which("dockerd") is None:
        pytest.fail("dockerd is not installed; run ./scripts/test.sh", pytrace=False)
    root = Path(tempfile.mkdtemp(prefix="stw-", dir="/tmp"))  # short: socket paths are limited
    bridge = f"stw{uuid.uuid4().hex[:8]}"
    subnet = f"10.231.{uuid.uuid4().int % 250}.1/24"
    for command in (["ip", "link", "add", "name", bridge, "type", "bridge"],
                    ["ip", "addr", "add", subnet, "dev", bridge],
                    ["ip", "link", "set", bridge, "up"]):
        subprocess.run(command, check=True)
    engine = PrivateDockerd(root, bridge)
    try:
        engine.start()
        yield engine
    finally:
        engine.stop()
        subprocess.run(["ip", "link", "delete", bridge], check=False)
        shutil.rmtree(root, ignore_errors=True)


def worker_container(client: docker.DockerClient, instance: str) -> docker.models.containers.Container:
    found = client.containers.list(all=True, filters={"label": f"{LABEL_INSTANCE}={instance}"})
    assert [c.labels[LABEL_SERVICE] for c in found] == ["worker"], "exactly one container"
    return found[0]


def test_steward_recovers_when_dockerd_restarts_without_a_restart_of_its_own(
        make_server: Callable[..., LiveServer], private_dockerd: PrivateDockerd,
        desired_dir: Path, instance: str) -> None:
    with closing(private_dockerd.client()) as client:
        build_busybox_image(client, "steward-test-busybox:private")
    write_state(desired_dir, "services:\n" + service(
        "worker", "steward-test-busybox:private", '["sleep", "3600"]'))
    server = make_server(DOCKER_HOST=private_dockerd.url,
                         STEWARD_RECONCILE_INTERVAL=SLOW_INTERVAL)
    wait_for(lambda: server.service("worker")["status"] == "running", what="worker running")
    steward_pid = server.process.pid

    private_dockerd.stop()
    wait_for(lambda: server.get("/api/system/services").status_code == 503, timeout=15,
             what="the API to report the engine as unavailable")
    assert "Container orchestrator not available" in \
        server.get("/api/system/services").json()["detail"]

    private_dockerd.start()
    wait_for(lambda: server.get("/api/system/services").status_code == 200, timeout=20,
             what="the API to recover")
    with closing(private_dockerd.client()) as client:
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
