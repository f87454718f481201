"""The history of applies: which revision each pass that was asked for, or that changed
containers, applied, and with what result."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.reconcile.recap import Recap
from app.store.models import Apply
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
