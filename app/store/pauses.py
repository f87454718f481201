"""Maintenance pauses: self-healing held for a service or a whole category until a time.

A pause ends on its own: it simply stops applying once `until` has passed. Pausing the
same service or category again replaces the earlier pause.
"""
from __future__ import annotations

from datetime import datetime
from typing import Literal, Mapping

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.store.events import record_event
from app.store.models import Pause, ServiceRecord

Scope = Literal["service", "category"]


def pause(session: Session, scope: Scope, target: str, *, until: datetime,
          reason: str | None, actor: str, now: datetime, origin: str | None = None) -> Pause:
    session.execute(delete(Pause).where(Pause.scope == scope, Pause.target == target))
    row = Pause(scope=scope, target=target, until=until, reason=reason, actor=actor,
                created_at=now)
    session.add(row)
    why = f": {reason}" if reason else ""
    record_event(session, service=target if scope == "service" else None, kind="paused",
                 at=now, actor=actor, origin=origin,
                 message=f"self-healing of {scope} {target} paused until "
                         f"{until.isoformat()}{why}")
    return row


def resume(session: Session, scope: Scope, target: str, *, actor: str, now: datetime,
           origin: str | None = None) -> bool:
    """End a pause early; False if there was none in force."""
    row = session.scalar(select(Pause).where(Pause.scope == scope, Pause.target == target,
                                             Pause.until > now))
    session.execute(delete(Pause).where(Pause.scope == scope, Pause.target == target))
    if row is not None:
        record_event(session, service=target if scope == "service" else None, kind="resumed",
                     at=now, actor=actor, origin=origin,
                     message=f"self-healing of {scope} {target} resumed")
    return row is not None


def active_pauses(session: Session, now: datetime) -> list[Pause]:
    return list(session.scalars(select(Pause).where(Pause.until > now)
                                .order_by(Pause.scope, Pause.target)))


def pauses_by_service(session: Session, now: datetime) -> Mapping[str, tuple[datetime,
                                                                           str | None]]:
    """Each paused service's pause in force (its own or its category's, the longer one)."""
    pauses = active_pauses(session, now)
    if not pauses:
        return {}
    categories = dict(session.execute(select(ServiceRecord.name, ServiceRecord.category)).all())
    found: dict[str, tuple[datetime, str | None]] = {}
    for row in pauses:
        names = [row.target] if row.scope == "service" else \
            [n for n, c in categories.items() if c == row.target]
        for name in names:
            why = row.reason or f"{row.scope} {row.target} paused by {row.actor}"
            if name not in found or found[name][0] < row.until:
                found[name] = (row.until, why)
    return found
