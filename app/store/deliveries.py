"""Webhook deliveries: one row per message and URL, updated with every attempt."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.store.models import Delivery


def start_delivery(session: Session, *, url: str, event: str, service: str | None,
                   payload: dict, now: datetime) -> int:
    row = Delivery(created_at=now, url=url, event=event, service=service, payload=payload,
                   state="pending", attempts=0)
    session.add(row)
    session.flush()
    return row.id


def note_attempt(session: Session, delivery: int, error: str | None, now: datetime) -> None:
    row = session.get(Delivery, delivery)
    row.attempts += 1
    row.last_error = error
    if error is None:
        row.state, row.delivered_at = "delivered", now


def finish_delivery(session: Session, delivery: int, now: datetime) -> None:
    """Every attempt failed: the message is given up on (and stays on record)."""
    row = session.get(Delivery, delivery)
    if row.state == "pending":
        row.state = "failed"


def pending_deliveries(session: Session) -> list[Delivery]:
    return list(session.scalars(select(Delivery).where(Delivery.state == "pending")
                                .order_by(Delivery.id)))


def recent_deliveries(session: Session, limit: int = 50) -> list[Delivery]:
    return list(session.scalars(select(Delivery).order_by(Delivery.id.desc()).limit(limit)))
