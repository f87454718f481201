"""Runtime state: what the reconciler observed and did, and what operators asked for.

Each function is one small unit of work on the `runtime_state` rows; the caller owns the
session (and so the transaction).
"""
from __future__ import annotations

from datetime import datetime
from typing import Mapping

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.engine.observed import ObservedContainer
from app.health.assessment import Health
from app.reconcile.actions import Action, Kind
from app.reconcile.views import RuntimeView
from app.store.events import record_event
from app.store.models import EngineStatus, RuntimeState

_VIEW_FIELDS = tuple(RuntimeView.__dataclass_fields__)


def runtime_rows(session: Session) -> dict[str, RuntimeState]:
    return {r.service: r for r in session.scalars(select(RuntimeState))}


def to_view(row: RuntimeState) -> RuntimeView:
    return RuntimeView(**{name: getattr(row, name) for name in _VIEW_FIELDS})


def record_observations(rows: Mapping[str, RuntimeState],
                        observed: Mapping[str, ObservedContainer | None],
                        health: Mapping[str, Health], now: datetime) -> None:
    """Store each service's container facts and health, keeping details a list call lacks."""
    for name, row in rows.items():
        container = observed.get(name)
        same = container is not None and container.id == row.container_id
        row.container_id = container.id if container else None
        row.container_state = container.state if container else None
        if container is None or not same or container.started_at is not None:
            row.started_at = container.started_at if container else None
            row.exit_code = container.exit_code if container else None
            row.oom_killed = container.oom_killed if container else False
        assessed = health.get(name, Health(container.health if container else None))
        row.health, row.health_failures, row.health_output = \
            assessed.state, assessed.failures, assessed.output
        row.observed_at = now


def is_current(session: Session, service: str, seen_version: int | None) -> bool:
    """Whether no operator request reached the service since the pass read `seen_version`."""
    row = session.get(RuntimeState, service, with_for_update=True)
    return row is None or seen_version is None or row.request_version == seen_version


def record_action(session: Session, action: Action, now: datetime, *,
                  container_id: str | None = None, seen_version: int | None = None) -> None:
    """Bookkeeping after an action succeeded, plus its event.

    The policy's counters move only if no operator request came in meanwhile: a manual
    restart's reset or an enable must not be undone by a decision made before it.
    """
    row = session.get(RuntimeState, action.service, with_for_update=True)
    if row is not None:
        _record_container(row, action, container_id)
        if seen_version is None or row.request_version == seen_version:
            _apply_policy(row, action, now)
    record_event(session, service=action.service, kind=action.kind.value, at=now,
                 message=action.describe())


def _record_container(row: RuntimeState, action: Action, container_id: str | None) -> None:
    if action.kind in (Kind.CREATE, Kind.START, Kind.RECREATE, Kind.RESTART):
        row.error_count, row.last_error = 0, None
        row.container_state = None  # re-inspected for the new start time
        row.health, row.health_failures, row.health_output = None, 0, None
        if container_id:
            row.container_id = container_id


def _apply_policy(row: RuntimeState, action: Action, now: datetime) -> None:
    if action.heal:
        row.failure_count += 1
        row.restart_count += 1
        row.last_restart_at = now
        row.last_failure_at = now
        row.last_failure = action.cause
    elif action.kind is Kind.DISABLE:
        row.enabled = False
        row.disabled_reason = action.cause
    elif action.kind is Kind.RESET_FAILURES:
        row.failure_count = 0


def record_action_error(session: Session, action: Action, error: str, now: datetime) -> None:
    row = session.get(RuntimeState, action.service)
    if row is not None:
        row.error_count += 1
        row.last_error = error
        row.last_error_at = now
    record_event(session, service=action.service, kind="error", at=now,
                 message=f"{action.kind.value} failed: {error}")


def consume_pending(session: Session, seen: Mapping[str, RuntimeView]) -> None:
    """Clear the requests a pass planned with, unless a newer request came in since."""
    for name, view in seen.items():
        if view.pending_action:
            session.execute(update(RuntimeState)
                            .where(RuntimeState.service == name,
                                   RuntimeState.request_version == view.request_version)
                            .values(pending_action=None))


def set_engine_status(session: Session, *, reachable: bool, detail: str | None,
                      now: datetime) -> None:
    row = session.get(EngineStatus, 1)
    if row is None:
        row = EngineStatus(id=1, reachable=True, detail=None, checked_at=now)
        session.add(row)
    if row.reachable != reachable:
        record_event(session, service=None, kind="engine-up" if reachable else "engine-down",
                     at=now, message=detail or "Docker engine reachable again")
    row.reachable, row.detail, row.checked_at = reachable, detail, now


def engine_status(session: Session) -> EngineStatus | None:
    return session.get(EngineStatus, 1)
