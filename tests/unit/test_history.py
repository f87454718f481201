"""The 24 h strip and uptime %, folded from the event log (app/operations/history.py)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from app.operations.history import (
    Change,
    change_of,
    histories,
    history_of,
    segments,
    strip,
    uptime,
)
from app.steward import Steward
from app.store.events import record_event

NOW = datetime(2026, 11, 30, 12, 30, tzinfo=timezone.utc)
DAY_START = NOW - timedelta(hours=24)


def at(hours_ago: float) -> datetime:
    return NOW - timedelta(hours=hours_ago)


@pytest.mark.parametrize("kind, message, state, failure", [
    ("start", "exit code 137", "up", "exit code 137"),
    ("restart", "unhealthy: HTTP 500", "up", "unhealthy: HTTP 500"),
    ("restart", "restart requested", "up", None),
    ("create", "no container", "up", None),
    ("backoff", "backoff after 2 failure(s); last: exit code 1", "down",
     "backoff after 2 failure(s); last: exit code 1"),
    ("disable", "failure limit reached: 5 consecutive failures", "down",
     "failure limit reached: 5 consecutive failures"),
    ("stop-requested", "stopped by an operator", "off", None),
    ("disabled", "disabled; container stopped", "off", None),
    ("enabled", "enabled", "up", None),
    ("flapping", "flapping: 6 health check changes", None, "flapping: 6 health check changes"),
    ("start-refused", "already running", None, None),
])
def test_each_event_kind_says_what_it_means(kind: str, message: str, state: str | None,
                                            failure: str | None) -> None:
    change = change_of(kind, message, NOW)
    if state is None and failure is None:
        assert change is None
    else:
        assert (change.state, change.failure) == (state, failure)


def test_uptime_counts_down_time_against_up_and_leaves_off_time_out() -> None:
    changes = [Change(at(10), "down", "exit code 1"), Change(at(9), "up"),
               Change(at(4), "off"), Change(at(2), "up")]
    spans = segments(changes, "up", DAY_START, NOW)
    # up 14 h, down 1 h, up 5 h, off 2 h, up 2 h: 21 of 22 counted hours are up
    assert uptime(spans) == pytest.approx(100 * 21 / 22, abs=0.01)
    assert uptime([(at(3), at(1), "off")]) is None, "all off: nothing to count"


def test_an_engine_outage_is_unknown_whatever_the_service_said() -> None:
    spans = segments([], "up", DAY_START, NOW, engine=[(at(6), False), (at(5), True)])
    assert (at(6), at(5), "unknown") in spans
    assert uptime(spans) == 100.0


def test_the_strip_marks_each_hour_by_the_worst_that_happened() -> None:
    start = NOW.replace(minute=0) - timedelta(hours=23)
    changes = [Change(start + timedelta(hours=2, minutes=10), "up", "exit code 137",
                      restart=True),
               Change(start + timedelta(hours=5), "down", "backoff"),
               Change(start + timedelta(hours=5, minutes=30), "up", restart=True),
               Change(start + timedelta(hours=8), "off"), Change(start + timedelta(hours=10), "up")]
    buckets = strip(segments(changes, "up", start, NOW), changes, start)
    assert len(buckets) == 24
    assert [b.state for b in buckets[:11]] == ["up", "up", "incident", "up", "up", "down", "up",
                                              "up", "off", "off", "up"]
    assert (buckets[2].failures, buckets[2].restarts) == (1, 1)


def test_a_healed_crash_shows_in_its_hour_and_the_totals() -> None:
    history = history_of([Change(at(0.2), "up", "exit code 137", restart=True)], "up", NOW)
    assert history.strip[-1].state == "incident"
    assert (history.failures_24h, history.restarts_24h, history.uptime_24h) == (1, 1, 100.0)


def test_the_state_seen_now_closes_the_timeline() -> None:
    history = history_of([], "up", NOW, current="down")
    assert history.strip[-1].state == "down" and history.strip[0].state == "up"
    assert history.uptime_24h > 99.9


def test_histories_read_the_event_log_and_the_state_before_the_window(
        steward: Steward) -> None:
    with steward.store.session() as session:
        record_event(session, service="web", kind="stop-requested", message="stop", at=at(30))
        record_event(session, service="web", kind="start-requested", message="start", at=at(6))
        record_event(session, service="web", kind="backoff", at=at(3),
                     message="backoff after 1 failure(s); last: exit code 1")
        record_event(session, service="web", kind="start", message="exit code 1", at=at(2))
        record_event(session, service=None, kind="engine-down", message="gone", at=at(1.5))
        record_event(session, service=None, kind="engine-up", message="back", at=at(1))
    with steward.store.reader() as session:
        found = histories(session, NOW, {"web": "up", "quiet": "up"})
    web = found["web"]
    # off for 18 h (not counted), up 3 h, down 1 h, up 2 h (half an hour unknown)
    assert web.uptime_24h == pytest.approx(100 * 4.5 / 5.5, abs=0.01)
    assert [b.state for b in web.strip[:17]] == ["off"] * 17
    assert (web.failures_24h, web.restarts_24h) == (2, 1)
    assert found["quiet"].uptime_24h == 100.0, "no events: as it is now, all along"
