"""Runtime state: what the reconciler observed and did, and what operators asked for.

Each function is one small unit of work on the `runtime_state` rows; the caller owns the
session (and so the transaction).
"""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Collection, Iterable, Mapping

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.desired_state.spec import ServiceSpec
from app.domain.actions import ROLLOUT_STEPS, Action, Kind, Plan
from app.domain.health import Health, assess
from app.domain.views import RuntimeView
from app.engine.observed import ObservedContainer
from app.store.events import record_event
from app.store.models import EngineStatus, Rollout, RuntimeState
from app.store.pauses import pauses_by_service
from app.store.rollouts import latest_rollouts, record_rollout_step, to_rollout_view

#: Health flips kept per service; more than any sane flapping threshold needs.
MAX_TRANSITIONS = 50
_ROW_FIELDS = tuple(f for f in RuntimeView.__dataclass_fields__
                    if f not in ("health_transitions", "paused_until", "pause_reason",
                                 "rollout", "pinned_spec"))


def runtime_rows(session: Session) -> dict[str, RuntimeState]:
    return {r.service: r for r in session.scalars(select(RuntimeState))}


def runtime_views(session: Session, now: datetime,
                  rows: Mapping[str, RuntimeState] | None = None) -> dict[str, RuntimeView]:
    """Every service's runtime facts as the planner reads them: the row, its pause and its
    newest rollout."""
    rows = runtime_rows(session) if rows is None else rows
    pauses = pauses_by_service(session, now)
    rollouts = latest_rollouts(session)
    return {name: to_view(row, pauses.get(name), rollouts.get(name))
            for name, row in rows.items()}


def to_view(row: RuntimeState, pause: tuple[datetime, str | None] | None = None,
            rollout: Rollout | None = None) -> RuntimeView:
    paused_until, pause_reason = pause or (None, None)
    return RuntimeView(**{name: getattr(row, name) for name in _ROW_FIELDS},
                       health_transitions=transitions_of(row),
                       paused_until=paused_until, pause_reason=pause_reason,
                       rollout=to_rollout_view(rollout),
                       pinned_spec=ServiceSpec.from_dict(row.pinned_spec)
                       if row.pinned_spec else None)


def transitions_of(row: RuntimeState) -> tuple[datetime, ...]:
    return tuple(datetime.fromisoformat(t) for t in row.health_transitions or ())


def _note_transition(row: RuntimeState, now: datetime) -> None:
    row.health_transitions = [*(row.health_transitions or ()), now.isoformat()][-MAX_TRANSITIONS:]


def record_observations(session: Session, rows: Mapping[str, RuntimeState],
                        observed: Mapping[str, ObservedContainer | None],
                        docker_checked: Collection[str], drift: Mapping[str, Iterable[str]],
                        now: datetime) -> None:
    """Store each service's container facts, keeping details a list call lacks.

    A container Steward has no record of (made just before Steward was killed, or by an
    earlier store) is adopted with a `create` event, so the history says where it came from.

    A new container, or the same one started again, begins with a clean health record.
    Health of services in `docker_checked` is Docker's own HEALTHCHECK verdict; the
    other services' health is written by the health monitor, never here. `drift` names
    the container fields that differ from each service's desired spec.
    """
    for name, row in rows.items():
        container = observed.get(name)
        if container is not None and container.id != row.container_id \
                and container.service_id is None:  # Swarm replaces tasks: no adoption
            record_event(session, service=name, kind="create", at=now,
                         message=f"adopted container {container.id[:12]}, which Steward has no "
                                 "record of creating (made before Steward last stopped?)")
        new_run = container is None or container.id != row.container_id or \
            (container.started_at is not None and container.started_at != row.started_at)
        row.container_id = container.id if container else None
        row.container_state = container.state if container else None
        if new_run:
            row.health, row.health_failures, row.health_output = None, 0, None
        if container is None or new_run or container.started_at is not None:
            row.started_at = container.started_at if container else None
            row.finished_at = container.finished_at if container else None
            row.exit_code = container.exit_code if container else None
            row.oom_killed = container.oom_killed if container else False
        if container is not None and name in docker_checked:
            _record_docker_health(row, container, now)
        if container is not None and container.service_id is not None:
            _record_task_failures(session, row, container, now)
        row.replicas = None if container is None or container.replicas is None else \
            f"{container.running_replicas}/{container.replicas}"
        row.tasks = [{"node": node, "slot": slot, "state": state}
                     for node, slot, state in container.tasks] if row.replicas else None
        row.drift = list(drift.get(name, ())) or None
        row.observed_at = now


def _record_task_failures(session: Session, row: RuntimeState, container: ObservedContainer,
                          now: datetime) -> None:
    """On Swarm the engine restarts failed tasks; those since the service's last update (and
    since the count was last reset after a stable period) are its failure count, and each
    new failure an event."""
    since = row.failures_counted_since
    counted = [at for at in container.task_failure_times if since is None or at > since]
    count = len(counted)
    if counted and (row.last_failure_at is None or counted[-1] > row.last_failure_at):
        row.last_failure_at = counted[-1]  # Swarm may drop old tasks: the count stays flat
    if count > row.failure_count:
        row.last_failure, row.last_failure_at = container.last_task_error, now
        record_event(session, service=row.service, kind="task-failed", at=now,
                     message=f"{count} failed task(s) counted since the last update; "
                             f"last: {container.last_task_error}; Swarm restarts it")
    row.failure_count = count


def _record_docker_health(row: RuntimeState, container: ObservedContainer,
                          now: datetime) -> None:
    if {row.health, container.health} == {"healthy", "unhealthy"}:
        _note_transition(row, now)
    row.health = container.health
    row.health_failures = 1 if container.health == "unhealthy" else 0
    if container.health_output is not None:
        row.health_output = container.health_output if container.health != "healthy" else None


def record_probe(session: Session, service: str, run: tuple[str, datetime | None], *,
                 ok: bool, detail: str, in_grace: bool, retries: int, now: datetime) -> bool:
    """Store one probe's verdict for the container run it probed; True if the state changed.

    A verdict about an earlier run (the container was replaced or restarted meanwhile) is
    dropped. A flip between passing and failing is noted for flapping detection.
    """
    row = session.get(RuntimeState, service, with_for_update=True)
    if row is None or (row.container_id, row.started_at) != run:
        return False
    result = assess(Health(row.health, row.health_failures, row.health_output), ok=ok,
                    detail=detail, in_grace=in_grace, retries=retries)
    was_passing = row.health == "healthy" and row.health_failures == 0
    was_failing = row.health_failures > 0
    now_passing = result.state == "healthy" and result.failures == 0
    if (was_passing and result.failures > 0) or (was_failing and now_passing):
        _note_transition(row, now)
    changed = row.health != result.state
    row.health, row.health_failures, row.health_output = \
        result.state, result.failures, result.output
    return changed


def is_current(session: Session, service: str, seen_version: int | None) -> bool:
    """Whether no operator request reached the service since the pass read `seen_version`."""
    row = session.get(RuntimeState, service, with_for_update=True)
    return row is None or seen_version is None or row.request_version == seen_version


def record_action(session: Session, action: Action, now: datetime, *,
                  container_id: str | None = None, seen_version: int | None = None,
                  spec: Mapping[str, Any] | None = None, note: str | None = None) -> None:
    """Bookkeeping after an action succeeded, plus its event.

    The policy's counters move only if no operator request came in meanwhile: a manual
    restart's reset or an enable must not be undone by a decision made before it. `spec`
    is the spec the action worked from (the applied one after a create).
    """
    row = session.get(RuntimeState, action.service, with_for_update=True) \
        if action.service else None
    if action.kind in ROLLOUT_STEPS:
        record_rollout_step(session, row, action, now, spec=_json(spec),
                            container_id=container_id, note=note)
        return
    if row is not None and action.kind in (Kind.CREATE, Kind.RECREATE):
        row.applied_spec = _json(spec)
    if row is not None:
        _record_container(row, action, container_id)
        if seen_version is None or row.request_version == seen_version:
            _apply_policy(row, action, now)
    record_event(session, service=action.service or None, kind=action.kind.value, at=now,
                 message=_described(action))


def _json(spec: Mapping[str, Any] | None) -> dict | None:
    """A spec as the JSON column hands it back (tuples become lists)."""
    return json.loads(json.dumps(spec)) if spec is not None else None


def _described(action: Action) -> str:
    """An action as the event log shows it; a network action names its network."""
    return action.describe() if action.service else f"{action.subject}: {action.describe()}"


def record_build(session: Session, service: str, output: str, now: datetime) -> None:
    """The tail of a build's output, for the event log and the service page."""
    record_event(session, service=service, kind="build", at=now, message=output)


def _record_container(row: RuntimeState, action: Action, container_id: str | None) -> None:
    if action.kind in (Kind.CREATE, Kind.START, Kind.RECREATE, Kind.RESTART):
        row.error_count, row.last_error = 0, None
        row.container_state = None  # re-inspected for the new start time
        row.health, row.health_failures, row.health_output = None, 0, None
        if container_id:
            row.container_id = container_id


def _apply_policy(row: RuntimeState, action: Action, now: datetime) -> None:
    if action.failure:
        _record_failure(row, action.failure, now)
    if action.heal or action.restart:
        row.restart_count += 1
        row.last_restart_at = now
    if action.heal:
        row.failure_count = (0 if action.fresh else row.failure_count) + 1
    elif action.kind is Kind.FLAPPING:
        row.failure_count += 1
        row.flapping_at = now
        row.health_transitions = []
    elif action.kind is Kind.DISABLE:
        row.enabled = False
        row.disabled_reason = action.cause
    elif action.kind is Kind.RESET_FAILURES:
        row.failure_count, row.failures_counted_since = 0, now


def _record_failure(row: RuntimeState, failure: str, now: datetime) -> None:
    """Keep the time a failure was first seen, even when its restart waited out a backoff."""
    if row.last_failure != failure or row.wait_kind != "backoff":
        row.last_failure_at = now
    row.last_failure = failure


def record_action_error(session: Session, action: Action, error: str, now: datetime) -> None:
    row = session.get(RuntimeState, action.service) if action.service else None
    if row is not None:
        row.error_count += 1
        row.last_error = error
        row.last_error_at = now
        _record_failure(row, f"Docker error: {error}", now)
    record_event(session, service=action.service or None, kind="error", at=now,
                 message=f"{action.kind.value} {action.subject} failed: {error}"
                 if not action.service else f"{action.kind.value} failed: {error}")


def record_waits(session: Session, plan: Plan, services: Iterable[str], now: datetime) -> None:
    """Note what each planned service now waits for; an event when that changes.

    A service the plan has no WAIT for waits for nothing. A backoff wait records the
    failure it waits after, so the failure shows before its restart happens.
    """
    waits = {a.service: a for a in plan.actions if a.kind is Kind.WAIT}
    for name in services:
        row = session.get(RuntimeState, name)
        if row is None:
            continue
        wait = waits.get(name)
        kind = wait.waiting_for.value if wait and wait.waiting_for else None
        if wait and wait.failure:
            _record_failure(row, wait.failure, now)
        if wait and (kind, wait.until, wait.cause) != (row.wait_kind, row.wait_until,
                                                        row.wait_reason):
            record_event(session, service=name, kind=kind or "wait", at=now,
                         message=wait.describe())
        row.wait_kind = kind
        row.wait_reason = wait.cause if wait else None
        row.wait_until = wait.until if wait else None


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
    if reachable and not row.reachable:
        # Errors around an outage were the engine's, not the services': retry them at once.
        session.execute(update(RuntimeState).values(error_count=0))
    row.reachable, row.detail, row.checked_at = reachable, detail, now


def engine_status(session: Session) -> EngineStatus | None:
    return session.get(EngineStatus, 1)
