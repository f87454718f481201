"""The event log: one row per thing that happened to a service, with its reason.

Append-only but for retention (`app/store/retention.py`), which prunes old rows and caps the count.
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Collection

from sqlalchemy import and_, delete, func, not_, or_, select
from sqlalchemy.orm import Session

from app.store.models import Event

log = logging.getLogger("steward.events")


def record_event(session: Session, *, service: str | None, kind: str, message: str,
                 at: datetime, actor: str = "reconciler", origin: str | None = None) -> Event:
    """Append an event and log it as one line (the log and the table say the same)."""
    event = Event(at=at, service=service, kind=kind, message=message, actor=actor,
                  origin=origin)
    session.add(event)
    where = f" from {origin}" if origin else ""
    log.info("%s %s: %s (by %s%s)", kind, service or "-", message, actor, where)
    return event


def recent_events(session: Session, *, service: str | None = None,
                  since: datetime | None = None, kind: str | None = None,
                  actor: str | None = None, limit: int = 20) -> list[Event]:
    """Newest first; each filter given narrows the list."""
    query = select(Event).order_by(Event.id.desc()).limit(limit)
    if actor is not None:
        query = query.where(Event.actor == actor)
    if service is not None:
        query = query.where(Event.service == service)
    if since is not None:
        query = query.where(Event.at >= since)
    if kind is not None:
        query = query.where(Event.kind == kind)
    return list(session.scalars(query))


#: The event that ends every page session of a token name (`app/auth/access.py`).
SIGNED_OUT = "signed-out"


def sign_out_generation(session: Session, actor: str) -> int:
    """The id of `actor`'s newest sign-out, 0 if none: a page session is valid only while
    this is what it was when the session signed in."""
    return session.scalar(select(func.max(Event.id)).where(
        Event.kind == SIGNED_OUT, Event.actor == actor)) or 0


def prune_events(session: Session, *, before: datetime, max_rows: int,
                 keep_sign_outs_since: datetime, keep_kinds: Collection[str] = (),
                 keep_kinds_since: datetime | None = None) -> int:
    """Delete events older than `before`, then all but the newest `max_rows`; return how
    many. Sign-outs younger than a session's lifetime stay: they revoke live sessions. So do
    events of `keep_kinds` since `keep_kinds_since` (what the page's history is folded
    from): a flood of refused requests must not erase a month of uptime."""
    kept = and_(Event.kind == SIGNED_OUT, Event.at >= keep_sign_outs_since)
    deleted = session.execute(delete(Event).where(Event.at < before, not_(kept))).rowcount
    if keep_kinds and keep_kinds_since is not None:
        kept = or_(kept, and_(Event.kind.in_(keep_kinds), Event.at >= keep_kinds_since))
    cutoff = session.scalar(select(Event.id).order_by(Event.id.desc()).offset(max_rows)
                            .limit(1))
    if cutoff is not None:
        deleted += session.execute(delete(Event).where(Event.id <= cutoff, not_(kept))).rowcount
    return deleted
