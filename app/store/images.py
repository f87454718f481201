"""Image checks in the store: the digest each service runs and a newer one, if its registry
has it, with an event when an update first becomes available."""
from __future__ import annotations

from datetime import datetime
from typing import Iterable, Protocol

from sqlalchemy.orm import Session

from app.store.events import record_event
from app.store.models import RuntimeState


class Checked(Protocol):
    service: str
    image: str
    running: str | None
    available: str | None
    error: str | None


def record_image_checks(session: Session, checks: Iterable[Checked], now: datetime) -> None:
    for check in checks:
        row = session.get(RuntimeState, check.service)
        if row is None:
            continue
        if check.available and check.available != row.available_digest:
            record_event(session, service=check.service, kind="update-available", at=now,
                         message=f"{check.image} now points to {check.available}")
        row.image_checked_at, row.image_check_error = now, check.error
        if check.error is None:
            row.image_digest, row.available_digest = check.running, check.available
