"""The append-only event log: one row per thing that happened to a service, with its reason."""
from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
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
