"""Retention and refusals (issue 11, finding 10): the event log is pruned by age and by
count, and a client's refused requests are limited, so the audit rows they write are too."""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

import pytest
from flask import Flask
from sqlalchemy import func, select

from app.http.ratelimit import RefusalLimiter, is_refusal
from app.steward import Steward
from app.store.events import SIGNED_OUT, record_event
from app.store.models import Event
from app.store.retention import EventPruner
from tests.helpers import write_state

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)
OPERATOR = "o" * 8 + "-operator-token-01"


def add_events(steward: Steward, *ages: timedelta, kind: str = "restart") -> None:
    with steward.store.session() as session:
        for age in ages:
            record_event(session, service="web", kind=kind, message="x", at=NOW - age)


def kinds_left(steward: Steward) -> list[tuple[str, timedelta]]:
    with steward.store.reader() as session:
        return [(e.kind, NOW - e.at) for e in session.scalars(select(Event).order_by(Event.id))]


def pruner(steward: Steward, days: float = 30, rows: int = 1000) -> EventPruner:
    return EventPruner(steward.store, retention_days=days, max_rows=rows,
                       session_lifetime=timedelta(hours=8), clock=lambda: NOW)


def test_events_older_than_the_retention_are_pruned(steward: Steward) -> None:
    add_events(steward, timedelta(days=40), timedelta(days=31), timedelta(days=29),
               timedelta(hours=1))
    assert pruner(steward).prune() == 2
    assert kinds_left(steward) == [("restart", timedelta(days=29)),
                                   ("restart", timedelta(hours=1))]


def test_past_the_row_cap_the_oldest_go(steward: Steward) -> None:
    add_events(steward, *(timedelta(minutes=m) for m in range(10, 0, -1)))
    assert pruner(steward, rows=3).prune() == 7
    assert [age for _, age in kinds_left(steward)] == [timedelta(minutes=m) for m in (3, 2, 1)]


def test_recent_sign_outs_outlive_the_cap_so_revoked_sessions_stay_revoked(
        steward: Steward) -> None:
    add_events(steward, timedelta(hours=2), kind=SIGNED_OUT)
    add_events(steward, timedelta(days=2), kind=SIGNED_OUT)
    add_events(steward, *(timedelta(minutes=m) for m in range(5, 0, -1)))
    pruner(steward, days=1, rows=2).prune()
    assert kinds_left(steward) == [(SIGNED_OUT, timedelta(hours=2)),
                                   ("restart", timedelta(minutes=2)),
                                   ("restart", timedelta(minutes=1))]


def test_the_pruner_runs_as_a_scheduled_job_at_once(steward: Steward) -> None:
    add_events(steward, timedelta(days=90))
    job = pruner(steward)
    job.start()
    try:
        deadline = time.monotonic() + 10
        while kinds_left(steward) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert kinds_left(steward) == []
    finally:
        job.shutdown()


def test_the_limiter_counts_a_minute_per_client() -> None:
    clock = [0.0]
    limiter = RefusalLimiter(3, clock=lambda: clock[0])
    for _ in range(3):
        assert limiter.wait("a") == 0
        limiter.note("a")
    assert limiter.wait("a") == 60 and limiter.wait("b") == 0
    clock[0] = 60.0
    assert limiter.wait("a") == 0


@pytest.mark.parametrize("method, status, refused", [
    ("GET", 401, True), ("GET", 403, True), ("GET", 404, False), ("GET", 400, False),
    ("POST", 404, True), ("POST", 409, True), ("POST", 400, True), ("POST", 429, False),
    ("POST", 200, False), ("POST", 503, False)])
def test_what_counts_as_a_refusal(method: str, status: int, refused: bool) -> None:
    assert is_refusal(method, status) is refused


def test_refused_requests_are_limited_per_client_and_stop_writing_rows(
        make_app: Callable[..., Flask], desired_dir: Path) -> None:
    write_state(desired_dir, "services:\n  web: {category: ai, image: x}\n")
    app = make_app(REFUSALS_PER_MINUTE=5)
    client = app.test_client()
    codes = [client.post("/api/system/services/nope/restart").status_code for _ in range(20)]
    assert codes == [404] * 5 + [429] * 15
    limited = client.post("/api/system/services/web/restart")
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    assert limited.get_json()["detail"].startswith("Too many refused requests")
    with app.extensions["steward"].store.reader() as session:
        assert session.scalar(select(func.count()).select_from(Event)
                              .where(Event.kind == "restart-refused")) == 5
    other = app.test_client().post("/api/system/services/web/restart",
                                   environ_base={"REMOTE_ADDR": "127.0.0.2"})
    assert other.status_code == 200, "another client is not held up"


def test_token_guessing_is_limited(make_app: Callable[..., Flask]) -> None:
    app = make_app(API_TOKENS=f"ops:operator:{OPERATOR}", REFUSALS_PER_MINUTE=3)
    client = app.test_client()
    codes = [client.get("/api/system/services", headers={
        "Authorization": f"Bearer guess-{n:020d}"}).status_code for n in range(5)]
    assert codes == [401, 401, 401, 429, 429]
    assert client.get("/api/system/services", headers={
        "Authorization": f"Bearer {OPERATOR}"}).status_code == 429, "even the right one waits"


def test_a_flood_of_refusals_does_not_erase_the_months_history(steward: Steward) -> None:
    add_events(steward, timedelta(days=20), kind="restart")  # what the 30-day uptime needs
    add_events(steward, *(timedelta(minutes=m) for m in range(10, 0, -1)),
               kind="restart-refused")
    EventPruner(steward.store, retention_days=30, max_rows=3,
                session_lifetime=timedelta(hours=8), clock=lambda: NOW,
                history_kinds=("restart",), history_days=30).prune()
    assert kinds_left(steward) == [("restart", timedelta(days=20))] + \
        [("restart-refused", timedelta(minutes=m)) for m in (3, 2, 1)]
