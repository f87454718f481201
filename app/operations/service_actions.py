"""Operator actions on one service (restart, start, stop, enable, disable, and a rollout's
retry or rollback).

The API and the page call these. Each checks the request against the service's state,
records it in the store with an event, and leaves the Docker work to the reconciler's next
pass, so the caller can answer at once. Each also bumps the service's request version: a
pass that planned before the request will not act on the service with stale facts.
Requests are serialised by the row lock: of fifty simultaneous restarts, one is accepted
and the others are told a restart is already in progress until it has been carried out.
"""
from __future__ import annotations

from datetime import datetime
from typing import Callable

from sqlalchemy.orm import Session

from app.errors import (
    ActionInProgress,
    ActionRejected,
    AppError,
    EngineUnavailable,
    ServiceNotFound,
    detail_for,
)
from app.reconcile.rollout import RETRY, UPDATE
from app.store.db import Store
from app.store.events import record_event
from app.store.models import RuntimeState, ServiceRecord
from app.store.rollouts import latest_rollout, pin_previous
from app.store.runtime import engine_status


def _lock(session: Session, name: str) -> RuntimeState:
    row = session.get(RuntimeState, name, with_for_update=True)
    if row is None:
        raise ServiceNotFound(name)
    return row


def _accept(session: Session, row: RuntimeState, now: datetime, actor: str, kind: str,
            message: str) -> None:
    """Record an accepted request: a new request version and an event."""
    row.request_version += 1
    record_event(session, service=row.service, kind=kind, at=now, actor=actor,
                 origin=session.info.get("origin"), message=message)


def _reset_failures(row: RuntimeState, now: datetime) -> None:
    """A fresh count: on Swarm, failed tasks the engine still lists no longer count."""
    row.failure_count, row.failures_counted_since = 0, now
    row.error_count, row.last_error = 0, None


def restart(session: Session, name: str, now: datetime, actor: str) -> None:
    """Restart (or create) the container now; a manual restart resets the failure count."""
    row = _lock(session, name)
    if not row.enabled:
        raise ActionRejected(f"Service '{name}' is disabled; enable it before restarting")
    if row.pending_action in ("restart", "start"):
        raise ActionInProgress(f"A restart of '{name}' is already in progress")
    _reset_failures(row, now)
    row.manually_stopped = False
    row.pending_action = "restart" if row.container_id else "start"
    row.restart_count += 1
    row.last_restart_at = now
    _accept(session, row, now, actor, "restart-requested", "manual restart; failure count reset")


def start(session: Session, name: str, now: datetime, actor: str) -> None:
    """Start a stopped service; a running or disabled one is rejected."""
    row = _lock(session, name)
    if not row.enabled:
        raise ActionRejected(f"Service '{name}' is disabled; enable it to start it")
    if row.container_state == "running" and not row.manually_stopped:
        hint = "; use restart to restart it" if row.health == "unhealthy" else ""
        raise ActionRejected(f"Service '{name}' is already running{hint}")
    if row.pending_action in ("restart", "start", "enable"):
        raise ActionInProgress(f"A start of '{name}' is already in progress")
    row.manually_stopped = False
    row.error_count, row.last_error = 0, None
    row.pending_action = "start"
    _accept(session, row, now, actor, "start-requested", "manual start")


def stop(session: Session, name: str, now: datetime, actor: str) -> None:
    """Stop the service and keep self-healing off it until start, restart or enable."""
    row = _lock(session, name)
    row.manually_stopped = True
    row.pending_action = None
    _accept(session, row, now, actor, "stop-requested",
            "manual stop; self-healing paused until start, restart or enable")


def enable(session: Session, name: str, now: datetime, actor: str) -> None:
    """Resume self-healing with a clean failure count; the next pass starts the service."""
    row = _lock(session, name)
    _reset_failures(row, now)
    row.enabled = True
    row.manually_stopped = False
    row.disabled_reason = None
    row.pending_action = "enable"  # starting it again is not a failure to count
    _accept(session, row, now, actor, "enabled",
            "enabled; failure count reset, self-healing resumed")


def disable(session: Session, name: str, now: datetime, actor: str) -> None:
    """Stop the service and turn self-healing off for it."""
    row = _lock(session, name)
    row.enabled = False
    row.pending_action = None
    row.disabled_reason = f"disabled by {actor}"
    _accept(session, row, now, actor, "disabled", "disabled; container stopped, no self-healing")


def retry_rollout(session: Session, name: str, now: datetime, actor: str) -> None:
    """Try a spec whose rollout failed once more (Steward never retries it on its own)."""
    row = _lock(session, name)
    rollout = latest_rollout(session, name)
    record = session.get(ServiceRecord, name)
    if rollout is None or rollout.state not in ("rolled_back", "paused") or \
            record is None or rollout.spec_hash != record.spec_hash:
        raise ActionRejected(f"Service '{name}' has no failed rollout of its desired spec "
                             "to retry")
    row.pending_action = RETRY
    _accept(session, row, now, actor, "rollout-retry-requested",
            f"retry of the rollout that failed: {rollout.reason}")


def rollback(session: Session, name: str, now: datetime, actor: str) -> None:
    """Go back to the spec that ran before the last successful rollout, until the desired
    spec changes again (then the new one is rolled out as usual)."""
    row = _lock(session, name)
    record = session.get(ServiceRecord, name)
    pinned = pin_previous(session, name, record.spec_hash) if record else None
    if pinned is None:
        raise ActionRejected(f"Service '{name}' has no earlier spec to go back to: it has not "
                             "had a successful rollout")
    _accept(session, row, now, actor, "rollback-requested",
            "rolling back to the spec before the last rollout; pinned until the desired "
            "state changes")


def update(session: Session, name: str, now: datetime, actor: str) -> None:
    """Roll out the newer digest of the service's image that the last check found."""
    row = _lock(session, name)
    if row.available_digest is None:
        raise ActionRejected(f"Service '{name}' has no image update known; check with POST "
                             "/api/system/images/check or steward check-images")
    row.pending_action = UPDATE
    _accept(session, row, now, actor, "update-requested",
            f"image update to {row.available_digest[:19]} requested")


#: Each action by its name in URLs, with the phrase that completes "Service 'x' ...".
ACTIONS: dict[str, tuple[Callable[[Session, str, datetime, str], None], str]] = {
    "restart": (restart, "restart initiated"),
    "start": (start, "start initiated"),
    "stop": (stop, "stop initiated"),
    "enable": (enable, "enabled"),
    "disable": (disable, "disabled"),
    "rollout-retry": (retry_rollout, "rollout retry initiated"),
    "rollback": (rollback, "rollback initiated"),
    "update": (update, "image update initiated"),
}


def perform(store: Store, action: str, name: str, now: datetime, actor: str,
            origin: str = "local") -> str:
    """Check and record one action in one transaction; return the message for the caller.

    Raises ServiceNotFound, ActionRejected, ActionInProgress or EngineUnavailable; then nothing
    changes, and the refused attempt is logged as an event of its own (the audit trail
    holds what was asked, by whom, from where, and how it ended). The caller wakes the
    reconciler, which carries an accepted action out.
    """
    operation, verb = ACTIONS[action]
    try:
        with store.session() as session:
            session.info["origin"] = origin
            operation(session, name, now, actor)
            status = engine_status(session)
            if status is not None and not status.reachable:
                raise EngineUnavailable(f"{status.detail}; Steward retries on its own")
    except AppError as err:
        known = not isinstance(err, ServiceNotFound)
        with store.session() as session:
            record_event(session, service=name if known else None, kind=f"{action}-refused",
                         at=now, actor=actor, origin=origin, message=detail_for(err)[:1000])
        raise
    return f"Service '{name}' {verb}"
