"""The followed git remote's status (one row), with an event whenever it changes."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from app.desired_state.follow import SyncResult
from app.store.events import record_event
from app.store.models import SourceStatus


def record_sync(session: Session, *, remote: str, branch: str, result: SyncResult,
                now: datetime) -> None:
    row = session.get(SourceStatus, 1)
    if row is None:
        row = SourceStatus(id=1, remote=remote, branch=branch, ok=True, checked_at=now)
        session.add(row)
    if result.moved or (row.ok, row.detail) != (result.ok, result.detail):
        record_event(session, service=None, kind="git" if result.ok else "git-failed", at=now,
                     message=f"{remote} ({branch}): {result.detail}")
    row.remote, row.branch, row.commit = remote, branch, result.commit
    row.ok, row.detail, row.checked_at = result.ok, result.detail, now
