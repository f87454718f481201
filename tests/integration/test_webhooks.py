"""Webhooks against a real receiver on 127.0.0.1: retries with backoff, every delivery on
record, and a live server telling about a service disabled by the failure limit."""
from __future__ import annotations

import json
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Iterator

import pytest

from app.notify import ATTEMPTS, Message, Notifier, transitions
from app.overview import ServiceOverview
from app.steward import Steward, utcnow
from app.store.deliveries import recent_deliveries
from tests.helpers import write_state
from tests.integration.conftest import LiveServer, free_port, wait_for
from tests.integration.test_healing import service


class Receiver:
    """An HTTP endpoint that answers 500 to the first `failures` posts, then 204."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.received: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                receiver.received.append(body)
                failing = len(receiver.received) <= receiver.failures
                self.send_response(500 if failing else 204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    hook = Receiver(failures=2)
    yield hook
    hook.close()


def sample(steward: Steward, desired_dir: Path) -> ServiceOverview:
    write_state(desired_dir, "services:\n  web: {category: ai, image: x}\n")
    steward.reconciler.load_desired()
    from app.overview import get_service
    with steward.store.reader() as session:
        return get_service(session, "web", utcnow())


def test_a_failing_receiver_gets_the_message_again_until_it_takes_it(
        steward: Steward, desired_dir: Path, receiver: Receiver) -> None:
    notifier = Notifier(steward.store, [receiver.url], instance="t", clock=utcnow,
                        backoff=0.05)
    message = Message("unhealthy", sample(steward, desired_dir), utcnow())
    notifier._queue_message(message)
    delivery, url, payload = notifier._queue.get_nowait()
    assert notifier.deliver(delivery, url, payload)
    assert [m["event"] for m in receiver.received] == ["unhealthy"] * 3
    with steward.store.reader() as session:
        row = recent_deliveries(session)[0]
        assert (row.state, row.attempts, row.last_error) == ("delivered", 3, None)


def test_a_dead_receiver_is_given_up_on_and_that_is_recorded(steward: Steward,
                                                             desired_dir: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}/hook"
    notifier = Notifier(steward.store, [dead], instance="t", clock=utcnow, backoff=0.01)
    notifier._queue_message(Message("disabled", sample(steward, desired_dir), utcnow()))
    assert not notifier.deliver(*notifier._queue.get_nowait())
    with steward.store.reader() as session:
        row = recent_deliveries(session)[0]
        assert (row.state, row.attempts) == ("failed", ATTEMPTS)
        assert row.last_error.startswith("ConnectionError")


def test_transitions_become_messages(steward: Steward, desired_dir: Path) -> None:
    from dataclasses import replace
    web = sample(steward, desired_dir)
    at = datetime(2026, 1, 1, tzinfo=timezone.utc)
    running, unhealthy = replace(web, status="running"), replace(web, status="unhealthy")
    limited = replace(web, status="disabled", enabled=False,
                      disabled_reason="failure limit reached: 5 consecutive failures")
    by_hand = replace(limited, disabled_reason="disabled by api")
    assert [m.event for m in transitions({"web": running}, [unhealthy], at)] == ["unhealthy"]
    assert [m.event for m in transitions({"web": unhealthy}, [running], at)] == ["recovered"]
    assert [m.event for m in transitions({"web": unhealthy}, [limited], at)] == ["disabled"]
    assert transitions({"web": running}, [by_hand], at) == []
    assert transitions({}, [running], at) == [], "a new service is not news"


def test_a_live_server_tells_when_the_failure_limit_disables_a_service(
        make_server: Callable[..., LiveServer], desired_dir: Path, test_image: str) -> None:
    hook = Receiver()
    try:
        write_state(desired_dir, "services:\n" + service(
            "crasher", test_image, '["sh", "-c", "sleep 1; exit 3"]',
            restart_policy="{max_failures: 1, backoff_base: 0.2s, backoff_max: 0.2s}"))
        server = make_server(STEWARD_WEBHOOK_URLS=hook.url)
        wait_for(lambda: any(m["event"] == "disabled" for m in hook.received), timeout=30,
                 what="the disabled message")
        message = next(m for m in hook.received if m["event"] == "disabled")
        assert (message["service"], message["status"]) == ("crasher", "disabled")
        assert message["reason"] == \
            "failure limit reached: 1 consecutive failures, last: exit code 3"
        deliveries = server.get("/api/system/webhooks/deliveries").json()["deliveries"]
        assert deliveries[0]["state"] == "delivered" and deliveries[0]["url"] == hook.url
    finally:
        hook.close()
