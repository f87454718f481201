"""Fixtures for tests against a real dockerd and a real HTTP server.

Every container a test creates carries a unique instance label and is removed at teardown,
pass or fail; the busybox test image carries a test label and is removed with the session.
These tests never skip: without a Docker engine they fail and say how to get one.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

import docker
import pytest
import requests
from playwright.sync_api import Browser, Page

from app.engine.images import build_busybox_image
from tests.dockerd import assert_host_network_is, host_network
from tests.helpers import free_port, remove_instance

T = TypeVar("T")
TEST_LABEL = "io.steward.test"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session", autouse=True)
def host_network_unchanged() -> Iterator[None]:
    """The integration run leaves the host's `docker0`, other links and routes as it found
    them: the host's Docker engine is shared with everything else on the machine."""
    before = host_network()
    yield
    assert_host_network_is(before)


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    try:
        client = docker.from_env()
        client.ping()
    except Exception as err:  # noqa: BLE001 - any failure means the same to the reader
        pytest.fail(f"no Docker engine: {err}. Run ./scripts/test.sh, which installs and "
                    "starts dockerd, or start it yourself.", pytrace=False)
    yield client
    client.close()


@pytest.fixture(scope="session")
def test_image(docker_client: docker.DockerClient) -> Iterator[str]:
    tag = f"steward-test-busybox:{uuid.uuid4().hex[:8]}"
    build_busybox_image(docker_client, tag, labels={TEST_LABEL: "1"})
    yield tag
    docker_client.images.remove(tag, force=True)


@pytest.fixture
def instance(docker_client: docker.DockerClient) -> Iterator[str]:
    """A unique instance label; every container, network and built image under it is removed
    at teardown, pass or fail.

    Anything that uses the instance (the app, a live server) is torn down before this runs.
    """
    name = new_instance()
    yield name
    remove_instance(docker_client, name)


#: Every instance label this session handed out, for the sweep at its end.
_INSTANCES: list[str] = []


def new_instance() -> str:
    """A unique Steward instance label, swept once more at the end of the session."""
    name = f"t{uuid.uuid4().hex[:10]}"
    _INSTANCES.append(name)
    return name


@pytest.fixture(scope="session", autouse=True)
def sweep_instances(docker_client: docker.DockerClient) -> Iterator[None]:
    """Once more at the end of the session, remove what any of its instances still owns:
    a network a Steward thread made after its test's own clean-up must not outlive the
    run (networks take address pools from the shared engine)."""
    yield
    owned = {"label": "io.steward.instance"}
    for container in docker_client.containers.list(all=True, filters=owned):
        if container.labels.get("io.steward.instance") in _INSTANCES:
            container.remove(force=True)
    for network in docker_client.networks.list(filters=owned):
        if (network.attrs.get("Labels") or {}).get("io.steward.instance") in _INSTANCES:
            network.remove()


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Debian's docker-registry on 127.0.0.1 (a real registry; dockerd trusts 127.0.0.0/8
    without TLS), with its storage in a temporary directory; yields `127.0.0.1:PORT`."""
    binary = Path("/usr/bin/docker-registry")
    if not binary.exists():
        pytest.fail("docker-registry is missing; run ./scripts/test.sh, which installs "
                    "Debian's docker-registry package", pytrace=False)
    root = tmp_path_factory.mktemp("registry")
    port = free_port()
    config = root / "config.yml"
    config.write_text(f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {root}/data\n"
                      f"  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n")
    with (root / "registry.log").open("ab") as log:
        process = subprocess.Popen([str(binary), "serve", str(config)], stdout=log,
                                   stderr=subprocess.STDOUT)
    address = f"127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(f"http://{address}/v2/"), what=f"the registry on {address}")
        yield address
    finally:
        stop_process(process, timeout=10)


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).ok
    except requests.ConnectionError:
        return False


def wait_for(check: Callable[[], T], *, timeout: float = 30, interval: float = 0.2,
             what: str = "condition") -> T:
    """Poll `check` until it returns something truthy; fail with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def passes_until(steward: Any, done: Callable[[], object], *, timeout: float = 40,
                 what: str) -> None:
    """Run passes one after the other (as the scheduler would) until `done()` holds."""
    def one() -> bool:
        steward.reconciler.run_pass()
        return bool(done())
    wait_for(one, timeout=timeout, interval=0.3, what=what)


def stop_process(process: subprocess.Popen | None, timeout: float) -> None:
    """SIGTERM a process the test started, and SIGKILL it if it does not end in time."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass
class LiveServer:
    """`steward serve` in a subprocess, as a user runs it."""

    env: dict[str, str]
    port: int
    log: Path
    process: subprocess.Popen | None = None
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log.open("ab") as out:  # the child keeps its own copy of the descriptor
            self.process = subprocess.Popen(
                [sys.executable, "-m", "app", "serve", "--port", str(self.port)],
                env={**self.env, **self.extra_env}, stdout=out, stderr=subprocess.STDOUT)
        wait_for(self._ready, timeout=30, what=f"steward serve on {self.url}")

    def _ready(self) -> bool:
        if self.process and self.process.poll() is not None:
            pytest.fail(f"steward serve exited:\n{self.log.read_text()[-3000:]}")
        try:
            return requests.get(f"{self.url}/healthz", timeout=1).ok
        except requests.ConnectionError:
            return False

    def stop(self) -> None:
        stop_process(self.process, timeout=15)
        self.process = None

    def get(self, path: str, **kwargs: object) -> requests.Response:
        return requests.get(f"{self.url}{path}", timeout=10, **kwargs)

    def post(self, path: str, **kwargs: object) -> requests.Response:
        return requests.post(f"{self.url}{path}", timeout=10, **kwargs)

    def service(self, name: str) -> dict:
        return self.get(f"/api/system/services/{name}").json()


@pytest.fixture
def make_server(tmp_path: Path, desired_dir: Path, instance: str, docker_client: docker.DockerClient
                ) -> Iterator[Callable[..., LiveServer]]:
    servers: list[LiveServer] = []

    def make(port: int | None = None, **env: str) -> LiveServer:
        base = {k: v for k, v in os.environ.items() if not k.startswith("STEWARD_")}
        base.update({
            "STEWARD_DATABASE_URL": f"sqlite:///{tmp_path / 'live.db'}",
            "STEWARD_DESIRED_STATE": str(desired_dir),
            "STEWARD_INSTANCE": instance,
            "STEWARD_RECONCILE_INTERVAL": "1",
            "STEWARD_SECRET_KEY": "test-secret",
            "STEWARD_LOG_LEVEL": "INFO",
            **env,
        })
        server = LiveServer(env=base, port=port or free_port(), log=tmp_path / "server.log")
        servers.append(server)
        server.start()
        return server

    yield make
    for server in servers:
        server.stop()


class Receiver:
    """A webhook receiver on 127.0.0.1 that answers 500 to the first `failures` posts, then
    `status` (with `location`, for a redirect); it keeps every body, raw and parsed, and
    the headers it came with."""

    def __init__(self, failures: int = 0, status: int = 204, location: str = "") -> None:
        self.failures = failures
        self.received: list[dict] = []
        self.raw: list[tuple[bytes, dict[str, str]]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.raw.append((body, dict(self.headers)))
                receiver.received.append(json.loads(body))
                failing = len(receiver.received) <= receiver.failures
                self.send_response(500 if failing else status)
                if location:
                    self.send_header("Location", location)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's headless Chromium, driven by Playwright (never a downloaded browser)."""
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing; run ./scripts/test.sh, which installs Debian's "
                    "chromium package", pytrace=False)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def opened_page(browser: Browser, width: int, height: int) -> Iterator[Page]:
    """A page in a fresh browser context of that viewport; confirm() dialogs say yes."""
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    yield page
    context.close()


@pytest.fixture
def desk(browser: Browser) -> Iterator[Page]:
    """A desktop-sized page (1280 x 900)."""
    yield from opened_page(browser, 1280, 900)


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    """A phone-sized page (390 x 700)."""
    yield from opened_page(browser, 390, 700)
