"""Webhooks against a real receiver on 127.0.0.1: retries with backoff, every delivery on
record, and a live server telling about a service disabled by the failure limit."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

import pytest

from app.domain.clock import utcnow
from app.notify.webhooks import ATTEMPTS, Message, Notifier, Watch, messages, shown_url
from app.operations.read_model import ServiceOverview
from app.steward import Steward
from app.store.deliveries import recent_deliveries
from tests.helpers import free_port, service, write_state
from tests.integration.conftest import LiveServer, Receiver, wait_for


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    hook = Receiver(failures=2)
    yield hook
    hook.close()


def sample(steward: Steward, desired_dir: Path) -> ServiceOverview:
    write_state(desired_dir, "services:\n  web: {category: ai, image: x}\n")
    steward.reconciler.load_desired()
    from app.operations.read_model import get_service
    with steward.store.reader() as session:
        return get_service(session, "web", utcnow())


def test_a_failing_receiver_gets_the_message_again_until_it_takes_it(
        steward: Steward, desired_dir: Path, receiver: Receiver) -> None:
    notifier = Notifier(steward.store, [receiver.url], instance="t", clock=utcnow,
                        backoff=0.05)
    message = Message("unhealthy", sample(steward, desired_dir), utcnow())
    notifier._queue_message(message)
    delivery, payload = notifier._queues[receiver.url].get_nowait()
    assert notifier.deliver(delivery, receiver.url, payload)
    assert [m["event"] for m in receiver.received] == ["unhealthy"] * 3
    with steward.store.reader() as session:
        row = recent_deliveries(session)[0]
        assert (row.state, row.attempts, row.last_error) == ("delivered", 3, None)


def test_a_dead_receiver_is_given_up_on_and_that_is_recorded(steward: Steward,
                                                             desired_dir: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}/hook"
    notifier = Notifier(steward.store, [dead], instance="t", clock=utcnow, backoff=0.01)
    notifier._queue_message(Message("disabled", sample(steward, desired_dir), utcnow()))
    delivery, payload = notifier._queues[dead].get_nowait()
    assert not notifier.deliver(delivery, dead, payload)
    with steward.store.reader() as session:
        row = recent_deliveries(session)[0]
        assert (row.state, row.attempts) == ("failed", ATTEMPTS)
        assert row.last_error == f"ConnectionError: could not reach {shown_url(dead)}"


def test_what_calls_for_a_message(steward: Steward, desired_dir: Path) -> None:
    from dataclasses import replace

    from app.store.models import Event
    web = sample(steward, desired_dir)
    at = datetime(2026, 1, 1, tzinfo=timezone.utc)
    running, unhealthy = replace(web, status="running"), replace(web, status="unhealthy")
    starting = replace(web, status="starting")
    watch = Watch()
    healed = Event(id=7, service="web", kind="restart", message="unhealthy: HTTP 500")
    assert [m.event for m in messages(watch, [healed], [starting], at)] == ["unhealthy"], \
        "a restart because unhealthy is news even if the status never showed it"
    assert [m.event for m in messages(watch, [], [unhealthy], at)] == [], "told already"
    assert [m.event for m in messages(watch, [], [running], at)] == ["recovered"]
    assert watch.last_event == 7 and watch.troubled == set()
    limit = Event(id=9, service="web", kind="disable", message="failure limit reached: 5")
    told = messages(watch, [limit], [replace(web, status="disabled", enabled=False)], at)
    assert [(m.event, m.reason) for m in told] == [("disabled", "failure limit reached: 5")]
    by_hand = Event(id=10, service="web", kind="disabled", message="disabled by api")
    assert messages(Watch(), [by_hand], [replace(web, status="disabled")], at) == []
    failed = Event(id=11, service="web", kind="rollback", message="rollout of abc (spec d) "
                   "rolled back: the new container exited (exit code 3)")
    assert [(m.event, m.reason) for m in messages(Watch(), [failed], [running], at)] == [
        ("rollout-failed", failed.message)]
    newer = Event(id=12, service="web", kind="rollback", message="rollout of abc (spec d) "
                  "rolled back: superseded by a newer desired spec")
    assert messages(Watch(), [newer], [running], at) == [], "superseded is not a failure"


def test_a_receiver_is_shown_without_its_path_or_query() -> None:
    shown = shown_url("https://hooks.example.com:8443/services/T0/B0/SECRET?token=abc")
    assert shown.startswith("https://hooks.example.com:8443/…#")
    assert "SECRET" not in shown and "abc" not in shown


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
        disabled = next(d for d in deliveries if d["event"] == "disabled")
        assert (disabled["state"], disabled["url"]) == ("delivered", shown_url(hook.url))
    finally:
        hook.close()
