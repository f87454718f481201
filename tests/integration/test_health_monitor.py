"""The health monitor against real sockets on 127.0.0.1: probes run concurrently and alone.

No Docker here: the services are plain listening sockets this test owns, and their
runtime rows are written the way the reconciler writes them.
"""
from __future__ import annotations

import socket
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import pytest

from app.desired_state.spec import HealthCheck
from app.domain.clock import utcnow
from app.health.monitor import HealthMonitor, Target
from app.health.probes import Address, probe
from app.steward import Steward
from app.store.models import RuntimeState
from app.store.runtime import transitions_of
from tests.helpers import write_state
from tests.integration.conftest import wait_for

STARTED = datetime(2026, 1, 1, tzinfo=timezone.utc)


class Listener:
    """A TCP server on 127.0.0.1 that counts connections; `answer` or leave them hanging."""

    def __init__(self, answer: bool) -> None:
        self.answer = answer
        self.connections = 0
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self._held: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.connections += 1
            if self.answer:
                conn.close()
            else:
                self._held.append(conn)

    def close(self) -> None:
        self.server.close()
        for conn in self._held:
            conn.close()


@pytest.fixture
def listeners() -> Iterator[tuple[Listener, Listener]]:
    slow, fast = Listener(answer=False), Listener(answer=True)
    yield slow, fast
    slow.close()
    fast.close()


def running(steward: Steward, desired_dir: Path, *names: str) -> None:
    write_state(desired_dir, "services:\n" + "".join(
        f"  {n}: {{category: ai, image: img}}\n" for n in names))
    assert steward.reconciler.load_desired() is None
    with steward.store.session() as session:
        for name in names:
            row = session.get(RuntimeState, name)
            row.container_id, row.container_state, row.started_at = f"{name}-id", "running", \
                STARTED


def local(port: int) -> Address:
    """These listeners stand in for containers on 127.0.0.1."""
    return Address("127.0.0.1", port)


def health_of(steward: Steward, name: str) -> RuntimeState:
    with steward.store.reader() as session:
        return session.get(RuntimeState, name)


def test_a_hanging_service_never_delays_the_checks_of_another(
        steward: Steward, desired_dir: Path, listeners: tuple[Listener, Listener]) -> None:
    slow, fast = listeners
    running(steward, desired_dir, "slow", "fast")
    monitor = HealthMonitor(steward.store, clock=utcnow)
    monitor.watch([
        Target("slow", HealthCheck("http", 0.2, 3.0, 0, 3, path="/", port=slow.port),
               "slow-id", STARTED, local(slow.port)),
        Target("fast", HealthCheck("tcp", 0.2, 1.0, 0, 3, port=fast.port), "fast-id", STARTED,
               local(fast.port)),
    ])
    monitor.start()
    try:
        wait_for(lambda: fast.connections >= 4, timeout=2.5, interval=0.05,
                 what="four probes of the fast service while the slow one's first hangs")
        assert slow.connections == 1, "a probe still running is not started again"
        assert health_of(steward, "slow").health is None
        assert health_of(steward, "fast").health == "healthy"
    finally:
        monitor.stop()


def test_flips_between_passing_and_failing_are_noted_for_flapping(
        steward: Steward, desired_dir: Path) -> None:
    running(steward, desired_dir, "web")
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        check = HealthCheck("tcp", 0.05, 1.0, 0, 3, port=port)
        monitor = HealthMonitor(steward.store, clock=utcnow)
        monitor.watch([Target("web", check, "web-id", STARTED, local(port))])
        for future in monitor.probe_due():
            future.result()
    assert health_of(steward, "web").health == "healthy"
    for _ in range(2):  # the port is closed now: fail, then the next probe fails again
        time.sleep(0.06)
        for future in monitor.probe_due():
            future.result()
    web = health_of(steward, "web")
    assert (web.health, web.health_failures) == ("healthy", 2), "below retries: not unhealthy"
    assert web.health_output.startswith(f"tcp connect to 127.0.0.1:{port} failed")
    assert len(transitions_of(web)) == 1, "passing -> failing is one flip, not two"
    assert utcnow() - transitions_of(web)[0] < timedelta(seconds=5)


def test_a_verdict_about_a_replaced_container_is_dropped(steward: Steward,
                                                         desired_dir: Path) -> None:
    running(steward, desired_dir, "web")
    changes: list[str] = []
    monitor = HealthMonitor(steward.store, clock=utcnow, on_change=changes.append)
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        monitor.watch([Target("web", HealthCheck("tcp", 1, 1, 0, 3, port=port),
                              "an-older-container", STARTED, local(port))])
        for future in monitor.probe_due():
            future.result()
    assert health_of(steward, "web").health is None and changes == []


def test_an_http_check_has_one_deadline_even_for_a_server_that_trickles() -> None:
    """A status line sent a byte at a time would pass a per-read timeout; it must not pass."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        def trickle() -> None:
            conn, _ = server.accept()
            with conn:
                for byte in b"HTTP/1.1 200 OK\r\n\r\n":
                    time.sleep(0.2)
                    try:
                        conn.sendall(bytes([byte]))
                    except OSError:
                        return

        sender = threading.Thread(target=trickle, daemon=True)
        sender.start()
        port = server.getsockname()[1]
        result = probe(HealthCheck("http", 1, 1.0, 0, 1, path="/", port=port),
                       Address("127.0.0.1", port))
        sender.join(timeout=10)
    assert (result.ok, result.detail.endswith("failed: timed out")) == (False, True), result
