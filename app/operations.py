"""Operator actions on one service (restart, start, stop, enable, disable).

The API, the status page and the CLI all call these. Each checks the request against the
service's state, records it in the store with an event, and leaves the Docker work to the
reconciler's next pass, so the caller can answer at once.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from app.errors import PermanentError
from app.overview import get_service
from app.store.events import record_event
from app.store.models import RuntimeState


class ServiceNotFound(PermanentError):
    def __init__(self, name: str) -> None:
        super().__init__(f"Service '{name}' not found")


class ActionRejected(PermanentError):
    """The request does not fit the service's state (e.g. restart of a disabled service)."""


def _runtime(session: Session, name: str) -> RuntimeState:
    row = session.get(RuntimeState, name, with_for_update=True)
    if row is None:
        raise ServiceNotFound(name)
    return row


def _reset_failures(row: RuntimeState) -> None:
    row.failure_count = 0
    row.error_count, row.last_error = 0, None


def restart(session: Session, name: str, now: datetime, actor: str) -> None:
    row = _runtime(session, name)
    if not row.enabled:
        raise ActionRejected(f"Service '{name}' is disabled; enable it before restarting")
    _reset_failures(row)
    row.manually_stopped = False
    row.pending_action = "restart" if row.container_id else "start"
    row.restart_count += 1
    row.last_restart_at = now
    record_event(session, service=name, kind="restart-requested", at=now, actor=actor,
                 message="manual restart; failure count reset")


def start(session: Session, name: str, now: datetime, actor: str) -> None:
    row = _runtime(session, name)
    current = get_service(session, name, now)
    if not row.enabled:
        raise ActionRejected(f"Service '{name}' is disabled; enable it to start it")
    if current is not None and current.status == "running":
        raise ActionRejected(f"Service '{name}' is already running")
    row.manually_stopped = False
    row.error_count, row.last_error = 0, None
    row.pending_action = "start"
    record_event(session, service=name, kind="start-requested", at=now, actor=actor,
                 message="manual start")


def stop(session: Session, name: str, now: datetime, actor: str) -> None:
    row = _runtime(session, name)
    row.manually_stopped = True
    row.pending_action = None
    record_event(session, service=name, kind="stop-requested", at=now, actor=actor,
                 message="manual stop; self-healing paused until start, restart or enable")


def enable(session: Session, name: str, now: datetime, actor: str) -> None:
    row = _runtime(session, name)
    _reset_failures(row)
    row.enabled = True
    row.manually_stopped = False
    row.disabled_reason = None
    record_event(session, service=name, kind="enabled", at=now, actor=actor,
                 message="enabled; failure count reset, self-healing resumed")


def disable(session: Session, name: str, now: datetime, actor: str) -> None:
    row = _runtime(session, name)
    row.enabled = False
    row.pending_action = None
    row.disabled_reason = f"disabled by {actor}"
    record_event(session, service=name, kind="disabled", at=now, actor=actor,
                 message="disabled; container stopped, no self-healing")
