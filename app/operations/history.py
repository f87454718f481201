"""Recent history per service, read from the event log: a 24 h strip, uptime %, restarts.

The event log says what Steward saw and did, not a sample every few seconds, so history is
a fold over state-changing events (`change_of`): a heal or an operator start means up, a
backoff wait or the failure limit means down, an operator stop or disable means off (planned,
so it counts neither for nor against uptime), an engine outage means unknown. Uptime % is
up time over up plus down time; off and unknown time are left out, as Uptime Kuma leaves
out maintenance. A crash healed within a second leaves almost no down time but always an
incident in its hour of the strip. Everything but `read_histories` is pure.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Iterable, Literal, Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.store.models import Event

State = Literal["up", "down", "off", "unknown"]
#: Bucket classes, worst first: what one hour of the strip shows.
BUCKET_RANK = ("down", "incident", "off", "up", "none")
HEAL_REASONS = ("exit code", "container ", "unhealthy")
UP_KINDS = {"create", "recreate", "start", "restart", "start-requested", "restart-requested",
            "enabled"}
OFF_KINDS = {"stop-requested", "disabled", "stop"}
ENGINE_KINDS = {"engine-down", "engine-up"}
HISTORY_KINDS = tuple(sorted(UP_KINDS | OFF_KINDS | ENGINE_KINDS |
                             {"backoff", "disable", "flapping", "error", "removed"}))
RESTART_KINDS = {"restart", "start", "restart-requested"}
DAY = timedelta(hours=24)


@dataclass(frozen=True)
class Change:
    """What one event says: a new state (None: unchanged) and/or a failure at that moment."""

    at: datetime
    state: State | None
    failure: str | None = None
    restart: bool = False


@dataclass(frozen=True)
class Bucket:
    start: datetime
    state: str  # one of BUCKET_RANK
    failures: int = 0
    restarts: int = 0


@dataclass(frozen=True)
class History:
    strip: tuple[Bucket, ...]
    uptime_24h: float | None
    restarts_24h: int
    failures_24h: int
    uptime_30d: float | None = None


def change_of(kind: str, message: str, at: datetime) -> Change | None:
    """The state an event puts a service in; None for events that say nothing about it."""
    heal = kind in ("start", "restart") and message.startswith(HEAL_REASONS)
    if kind in UP_KINDS:
        return Change(at, "up", failure=message if heal else None,
                      restart=kind in RESTART_KINDS)
    if kind in OFF_KINDS:
        return Change(at, "off")
    if kind == "backoff":
        return Change(at, "down", failure=message)
    if kind == "disable":  # the failure limit; an operator's disable is `disabled`
        return Change(at, "down", failure=message)
    if kind in ("flapping", "error"):
        return Change(at, None, failure=message)
    if kind == "removed":
        return Change(at, "unknown")
    if kind == "engine-down":
        return Change(at, "unknown")
    return None


def segments(changes: Sequence[Change], initial: State, start: datetime, end: datetime,
             engine: Sequence[tuple[datetime, bool]] = ()) -> list[tuple[datetime, datetime, State]]:
    """(from, to, state) spans covering [start, end]; `engine` holds (at, reachable) marks,
    and time while the engine was unreachable is unknown whatever the service said."""
    marks = sorted([(c.at, 0, c.state) for c in changes if c.state is not None]
                   + [(at, 1, ok) for at, ok in engine], key=lambda m: (m[0], m[1]))
    spans: list[tuple[datetime, datetime, State]] = []
    own, reachable, cursor = initial, True, start
    for at, is_engine, value in marks:
        at = min(max(at, start), end)
        shown = own if reachable else "unknown"
        if at > cursor:
            spans.append((cursor, at, shown))
            cursor = at
        if is_engine:
            reachable = bool(value)
        else:
            own = value
    if end > cursor:
        spans.append((cursor, end, own if reachable else "unknown"))
    return spans


def uptime(spans: Iterable[tuple[datetime, datetime, State]]) -> float | None:
    """Up time as a % of up plus down time; None when there was neither (off or unknown)."""
    up = down = 0.0
    for begin, end, state in spans:
        seconds = (end - begin).total_seconds()
        up += seconds if state == "up" else 0
        down += seconds if state == "down" else 0
    return None if up + down <= 0 else round(100 * up / (up + down), 2)


def strip(spans: Sequence[tuple[datetime, datetime, State]], changes: Sequence[Change],
          start: datetime, hours: int = 24) -> tuple[Bucket, ...]:
    """One bucket per hour from `start`: the worst thing in it (down, an incident, off,
    up; `none` when nothing is known), with its failure and restart counts."""
    buckets = []
    for index in range(hours):
        begin, end = start + timedelta(hours=index), start + timedelta(hours=index + 1)
        states = {s for b, e, s in spans if b < end and e > begin}
        inside = [c for c in changes if begin <= c.at < end]
        failures = sum(1 for c in inside if c.failure)
        restarts = sum(1 for c in inside if c.restart)
        found = {"down"} & states or ({"incident"} if failures else set()) or \
            {"off", "up"} & states or {"none"}
        state = min(found, key=BUCKET_RANK.index)
        buckets.append(Bucket(begin, state, failures, restarts))
    return tuple(buckets)


def history_of(changes: Sequence[Change], initial: State, now: datetime,
               engine: Sequence[tuple[datetime, bool]] = (),
               current: State | None = None) -> History:
    """The last 24 h, in hour buckets aligned to the hour, the current hour last. The
    state seen now (`current`) closes the timeline for its last second, so the current
    hour never looks better than the page's badge."""
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=23)
    window = [c for c in changes if c.at >= now - DAY]
    if current is not None:
        last = max([c.at for c in changes if c.state is not None], default=now - DAY)
        changes = [*changes, Change(max(last, now - timedelta(seconds=1)), current)]
    spans = segments(changes, initial, now - DAY, now, engine)
    return History(strip=strip(segments(changes, initial, start, now, engine), window, start),
                   uptime_24h=uptime(spans), restarts_24h=sum(c.restart for c in window),
                   failures_24h=sum(1 for c in window if c.failure))


def read_changes(session: Session, now: datetime, names: Iterable[str] | None = None,
                 days: int = 1) -> tuple[dict[str, tuple[list[Change], State | None]],
                                         list[tuple[datetime, bool]]]:
    """Per service: its changes since `days` ago and the state before them (None: no event
    says), and the engine's reachability marks over the same span."""
    since = now - timedelta(days=days)
    service_kinds = Event.kind.in_(set(HISTORY_KINDS) - ENGINE_KINDS)
    scope = Event.service.in_(list(names)) if names is not None else Event.service.isnot(None)
    before = select(func.max(Event.id)).where(service_kinds, scope, Event.at < since) \
        .group_by(Event.service)
    last_engine = select(func.max(Event.id)).where(Event.kind.in_(ENGINE_KINDS),
                                                   Event.at < since)
    columns = (Event.service, Event.kind, Event.message, Event.at)
    earlier = session.execute(select(*columns).where(Event.id.in_(before)
                                                     | (Event.id == last_engine.scalar_subquery())))
    recent = session.execute(select(*columns).where(
        Event.kind.in_(HISTORY_KINDS), Event.at >= since,
        scope | Event.kind.in_(ENGINE_KINDS)).order_by(Event.id))
    services: dict[str, tuple[list[Change], State | None]] = {}
    engine: list[tuple[datetime, bool]] = []
    for rows, is_before in ((earlier, True), (recent, False)):
        for row in rows:
            if row.kind in ENGINE_KINDS:
                engine.append((since if is_before else row.at, row.kind == "engine-up"))
                continue
            change = change_of(row.kind, row.message, row.at)
            if change is None:
                continue
            changes, initial = services.setdefault(row.service, ([], None))
            if is_before:
                services[row.service] = (changes, change.state or initial)
            else:
                changes.append(change)
    return services, engine


def histories(session: Session, now: datetime, current: dict[str, State],
              names: Iterable[str] | None = None, days: int = 1) -> dict[str, History]:
    """Each service's history; `current` is its state now, also what it was all along
    when no event says otherwise. With `days` over 1, `uptime_30d` covers them too."""
    services, engine = read_changes(session, now, names, days)
    result = {}
    for name, state in current.items():
        changes, initial = services.get(name, ([], None))
        if initial is None:
            initial = state if not changes else "unknown"
        day = history_of(changes, initial, now, engine, state)
        if days > 1:
            spans = segments(changes, initial, now - timedelta(days=days), now, engine)
            day = replace(day, uptime_30d=uptime(spans))
        result[name] = day
    return result


class HistoryCache:
    """The fleet's histories, recomputed when an event that history reads is added (not a
    refused request), a service's state changes or a minute passes: a page render then
    costs one `max(id)` query, not a fold over a day of events."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple | None = None
        self._value: dict[str, History] = {}

    def get(self, session: Session, now: datetime, current: dict[str, State]
            ) -> dict[str, History]:
        newest = session.scalar(select(func.max(Event.id)).where(Event.kind.in_(HISTORY_KINDS)))
        key = (newest, int(now.timestamp() // 60),
               tuple(sorted(current.items())))
        with self._lock:
            if key == self._key:
                return self._value
        value = histories(session, now, current)
        with self._lock:
            self._key, self._value = key, value
        return value
