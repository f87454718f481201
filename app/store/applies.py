"""The history of applies: which revision each pass that was asked for, or that changed
containers, applied, and with what result; and what Steward's own passes changed for the
desired state in force before someone asked for an apply (`changes_before`)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.domain.recap import CHANGED_KINDS, UNDONE_KINDS, EarlierChange, Recap
from app.store.models import Apply, Event
from app.store.sync import last_load


def record_apply(session: Session, recap: Recap, *, actor: str, scope: str | None,
                 started_at: datetime, finished_at: datetime) -> Apply:
    """Note the apply with the revision in force (the newest valid load)."""
    good = last_load(session, ok=True)
    counts = recap.counts()
    row = Apply(started_at=started_at, finished_at=finished_at, actor=actor, scope=scope,
                revision=good.revision if good else None, dirty=good.dirty if good else None,
                digest=good.digest if good else None, result=recap.result,
                detail=recap.render(), **counts)
    session.add(row)
    session.flush()
    return row


def recent_applies(session: Session, limit: int = 20) -> list[Apply]:
    return list(session.scalars(select(Apply).order_by(Apply.id.desc()).limit(limit)))


#: The actor of passes nobody asked for (the schedule, the file watcher, the git follower).
AUTOMATIC = "reconciler"


def changes_before(session: Session, before: datetime) -> list[EarlierChange]:
    """What Steward's own passes changed, from the event log, between the load of the
    desired state in force (or the last apply of every service someone asked for, if
    later) and `before`, the start of the asking apply's pass. Oldest first. Changes made
    by passes someone asked for (a `--service` apply) were reported to them, and are left
    out."""
    good = last_load(session, ok=True)
    if good is None:
        return []
    asked = session.scalar(select(func.max(Apply.finished_at)).where(
        Apply.actor != AUTOMATIC, Apply.scope.is_(None), Apply.finished_at < before))
    since = max(good.at, asked) if asked is not None else good.at
    in_asked_pass = select(Apply.id).where(
        Apply.actor != AUTOMATIC, Apply.started_at <= Event.at, Apply.finished_at >= Event.at,
    ).exists()
    events = session.scalars(select(Event).where(
        Event.at >= since, Event.at < before, Event.actor == AUTOMATIC,
        Event.service.is_not(None), Event.kind.in_([k.value for k in CHANGED_KINDS | UNDONE_KINDS]),
        ~in_asked_pass).order_by(Event.id))
    return [EarlierChange(e.service, e.kind, e.message, e.at) for e in events]
