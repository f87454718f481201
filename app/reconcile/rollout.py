"""Rollout decisions: how a running service moves to a new spec without going down, pure.

A changed spec of a running service is rolled out, never simply recreated:

- ROLLOUT starts the new container, beside the old one (start-first) or after stopping
  the old one and setting it aside (stop-first; two containers cannot hold one host port);
- each pass then judges the new container: it must pass its health check (or, without
  one, keep running) for `update.monitor` seconds within `update.deadline`;
- PROMOTE retires the old container once the gate is passed; ROLLBACK removes the new one
  and lets the old one serve again when the new one exits, turns unhealthy or misses the
  deadline (PAUSE_ROLLOUT instead, with `failure_action: pause`).

A spec that was rolled back is remembered (`RolloutView.failed_hash`) and not tried again
until the desired spec changes or an operator asks for a retry: an automatic rollback must
never turn into a loop. Healing a crash of the same spec is not a rollout.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from app.desired_state.spec import ServiceSpec
from app.domain.actions import Action, Kind, Waiting
from app.domain.views import RolloutView, RuntimeView
from app.engine.observed import ObservedContainer

#: The pending actions an operator's retry, and an asked-for image update, leave.
RETRY = "rollout-retry"
UPDATE = "update"


def skips_drift(spec: ServiceSpec, rt: RuntimeView) -> bool:
    """Whether the drift to `spec` is one a rollout already proved bad (and no retry)."""
    failed = rt.rollout.failed_hash if rt.rollout else None
    return failed == spec.spec_hash and rt.pending_action != RETRY


def wants_update(spec: ServiceSpec, rt: RuntimeView) -> bool:
    """A newer digest of the image is known and is to be rolled out now: automatically
    (`auto_update`) or because an operator asked, and not one that failed before."""
    digest = rt.available_digest
    if digest is None or (rt.rollout and rt.rollout.failed_digest == digest
                          and rt.pending_action != RETRY):
        return False
    return spec.auto_update or rt.pending_action in (UPDATE, RETRY)


def start_update(spec: ServiceSpec, old: ObservedContainer, digest: str) -> Action:
    """Roll out the newer digest of the same spec's image (pulled first)."""
    order, why = spec.rollout_order
    return Action(Kind.ROLLOUT, spec.name, f"image update available ({digest[:19]}); {order} "
                                           f"because {why}",
                  container_id=old.id, strategy=order, spec_hash=spec.spec_hash,
                  image_digest=digest)


def start(spec: ServiceSpec, old: ObservedContainer, drift: tuple[str, ...]) -> Action:
    """Begin replacing the running `old` container with one of `spec`."""
    order, why = spec.rollout_order
    return Action(Kind.ROLLOUT, spec.name, f"desired spec changed; {order} because {why}",
                  container_id=old.id, drift=drift, strategy=order, spec_hash=spec.spec_hash)


def step(spec: ServiceSpec, rt: RuntimeView, candidate: ObservedContainer | None,
         old: ObservedContainer | None, now: datetime) -> list[Action]:
    """The next step of the service's active rollout (`rt.rollout`)."""
    rollout = rt.rollout
    assert rollout is not None
    if rollout.state == "paused":
        if spec.spec_hash != rollout.spec_hash:
            return [_rollback(spec, rollout, "superseded by a newer desired spec")]
        if rt.pending_action == RETRY:
            return [_rollback(spec, rollout, "superseded: a retry was requested")]
        return []
    if spec.spec_hash != rollout.spec_hash:
        return [_rollback(spec, rollout, "superseded by a newer desired spec")]
    if not rt.enabled or rt.manually_stopped:
        return [_rollback(spec, rollout, "superseded: the service was stopped or disabled")]
    failure = _failure(spec, rollout, candidate, now)
    if failure is not None:
        if spec.update.failure_action == "pause":
            return [Action(Kind.PAUSE_ROLLOUT, spec.name, failure, strategy=rollout.strategy)]
        return [_rollback(spec, rollout, failure)]
    monitor = timedelta(seconds=spec.update.monitor)
    if rollout.healthy_since is not None and now >= rollout.healthy_since + monitor:
        return [Action(Kind.PROMOTE, spec.name, f"{_passed(spec)} for {spec.update.monitor:g}s",
                       container_id=rollout.old_id, target_id=rollout.candidate_id,
                       strategy=rollout.strategy)]
    deadline = rollout.started_at + timedelta(seconds=spec.update.deadline)
    until = min(deadline, (rollout.healthy_since or now) + monitor)
    return [Action(Kind.WAIT, spec.name, f"rollout: the new container must be "
                                         f"{_passed(spec)} for {spec.update.monitor:g}s",
                   until=until, waiting_for=Waiting.ROLLOUT)]


def _failure(spec: ServiceSpec, rollout: RolloutView, candidate: ObservedContainer | None,
             now: datetime) -> str | None:
    """Why the new container failed the gate, or None while it may still pass."""
    if candidate is None:
        return "the new container is gone"
    if candidate.state == "created":
        return rollout.reason or "the new container did not start"
    if not candidate.running:
        return f"the new container exited ({candidate.exit_reason()})"
    if candidate.health == "unhealthy":
        output = f": {candidate.health_output}" if candidate.health_output else ""
        return f"the new container turned unhealthy{output}"
    if now >= rollout.started_at + timedelta(seconds=spec.update.deadline):
        return (f"the new container was not {_passed(spec)} for {spec.update.monitor:g}s "
                f"within the {spec.update.deadline:g}s deadline")
    return None


def _passed(spec: ServiceSpec) -> str:
    return "healthy" if spec.healthcheck else "running"


def _rollback(spec: ServiceSpec, rollout: RolloutView, reason: str) -> Action:
    return Action(Kind.ROLLBACK, spec.name, reason, container_id=rollout.old_id,
                  target_id=rollout.candidate_id, strategy=rollout.strategy)


def rollout_containers(containers: list[ObservedContainer], rollout: RolloutView | None
                       ) -> tuple[ObservedContainer | None, ObservedContainer | None]:
    """(new, old) container of an active rollout; (None, None) without one."""
    if rollout is None or not rollout.active:
        return None, None
    by_id = {c.id: c for c in containers}
    return by_id.get(rollout.candidate_id or ""), by_id.get(rollout.old_id or "")
