"""Rollouts in the store: one row per health-gated replacement, written as its steps are
carried out, and the operator's pin of a previous spec (`steward rollback`).

The planner reads the newest row of each service (`RolloutView`); the observe stage keeps
`healthy_since` current, which is what the gate counts from.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.domain.actions import Action, Kind
from app.domain.views import RolloutView
from app.store.events import record_event
from app.store.models import Rollout, RuntimeState
from app.store.sync import last_load

#: Log lines of a failed new container kept with its `rollback` event.
LOG_LINES = 20


def latest_rollouts(session: Session) -> dict[str, Rollout]:
    """The newest rollout of each service that has had one."""
    newest = select(Rollout.service, func.max(Rollout.id).label("id")).group_by(
        Rollout.service).subquery()
    rows = session.scalars(select(Rollout).join(newest, Rollout.id == newest.c.id))
    return {row.service: row for row in rows}


def latest_rollout(session: Session, service: str) -> Rollout | None:
    return session.scalars(select(Rollout).where(Rollout.service == service)
                           .order_by(Rollout.id.desc()).limit(1)).first()


def to_rollout_view(row: Rollout | None) -> RolloutView | None:
    if row is None:
        return None
    return RolloutView(state=row.state, strategy=row.strategy, spec_hash=row.spec_hash,
                       started_at=row.started_at, candidate_id=row.candidate_id,
                       old_id=row.old_id, healthy_since=row.healthy_since, reason=row.reason,
                       image_digest=row.image_digest)


def record_rollout_step(session: Session, row: RuntimeState | None, action: Action,
                        now: datetime, *, spec: Mapping[str, Any] | None,
                        container_id: str | None, note: str | None) -> None:
    """Bookkeeping after a rollout step was carried out, with its event."""
    if action.kind in (Kind.ROLLOUT, Kind.UPDATE):  # UPDATE: the engine gates (Swarm)
        _started(session, action, now, candidate=container_id, note=note)
        return
    rollout = latest_rollouts(session).get(action.service)
    if rollout is None:
        return
    if action.kind is Kind.PROMOTE:
        rollout.state, rollout.finished_at = "succeeded", now
        if row is not None:
            rollout.previous_spec = row.applied_spec
            row.applied_spec = dict(spec) if spec is not None else None
            row.container_id = rollout.candidate_id
            if rollout.image_digest:
                row.image_digest, row.available_digest = rollout.image_digest, None
        record_event(session, service=action.service, kind="rollout", at=now,
                     message=f"rollout of {_of(rollout)} succeeded: {action.cause}")
    elif action.kind is Kind.ROLLBACK:
        rollout.state, rollout.finished_at, rollout.reason = "rolled_back", now, action.cause
        logs = f"\nlast log lines of the new container:\n{note}" if note else ""
        record_event(session, service=action.service, kind="rollback", at=now,
                     message=f"rollout of {_of(rollout)} rolled back: {action.cause}{logs}")
    elif action.kind is Kind.PAUSE_ROLLOUT:
        rollout.state, rollout.finished_at, rollout.reason = "paused", now, action.cause
        record_event(session, service=action.service, kind="rollout-paused", at=now,
                     message=f"rollout of {_of(rollout)} paused: {action.cause}")


def _started(session: Session, action: Action, now: datetime, *, candidate: str | None,
             note: str | None) -> None:
    good = last_load(session, ok=True)
    rollout = Rollout(service=action.service, state="in_progress",
                      strategy=action.strategy or "start-first", spec_hash=action.spec_hash or "",
                      revision=good.revision if good else None, started_at=now,
                      candidate_id=candidate, old_id=action.container_id,
                      image_digest=action.image_digest,
                      reason=f"the new container did not start: {note}" if note else None)
    session.add(rollout)
    record_event(session, service=action.service, kind="rollout", at=now,
                 message=f"{rollout.strategy} rollout of {_of(rollout)} started: "
                         f"{action.describe()}")


def _of(rollout: Rollout) -> str:
    revision = rollout.revision[:12] if rollout.revision else "an uncommitted tree"
    return f"{revision} (spec {rollout.spec_hash[:12]})"


def record_gate(session: Session, verdicts: Mapping[str, tuple[bool, datetime | None]],
                now: datetime) -> None:
    """Keep when each new container began passing its check; a failure starts over."""
    rollouts = latest_rollouts(session) if verdicts else {}
    for service, (passing, since) in verdicts.items():
        rollout = rollouts.get(service)
        if rollout is None or rollout.state != "in_progress":
            continue
        if not passing:
            rollout.healthy_since = None
        elif rollout.healthy_since is None:
            rollout.healthy_since = since or now


def pin_previous(session: Session, service: str, desired_hash: str) -> str | None:
    """Pin the spec that ran before the last successful rollout; None when there is none."""
    previous = session.scalars(select(Rollout).where(
        Rollout.service == service, Rollout.state == "succeeded",
        Rollout.previous_spec.is_not(None)).order_by(Rollout.id.desc()).limit(1)).first()
    row = session.get(RuntimeState, service)
    if previous is None or row is None:
        return None
    row.pinned_spec, row.pinned_for_hash = previous.previous_spec, desired_hash
    return previous.spec_hash
