"""The planner's rules for a service on an engine that gates its own updates (Swarm), pure.

Where the engines differ, the plan says so in plain data:

- a changed running service becomes UPDATE (the engine rolls it out, gates it on
  `update.monitor` and rolls it back), not Steward's own ROLLOUT; the following passes
  read the engine's verdict and record it as PROMOTE, ROLLBACK or PAUSE_ROLLOUT;
- Swarm restarts failed tasks itself, so there is no heal action: Steward counts the
  failed tasks since the service's last update and DISABLEs (scales to 0) at the limit;
- stop and disable are STOP (scale to 0), start and enable START (scale back up),
  restart a RESTART (a forced update), a changed `replicas` SCALE;
- a dependent is held at 0 replicas (STOP) while a dependency is down, and scaled back up
  once it runs again.
"""
from __future__ import annotations

from datetime import timedelta

from app.desired_state.spec import ServiceSpec
from app.domain.actions import Action, Kind, Waiting
from app.engine.observed import ObservedContainer
from app.reconcile import rollout
from app.reconcile.fleet import (
    Fleet,
    asked_to_run,
    drifted_fields,
    off_cause,
    retry_wait,
    wait_for_dependencies,
)

#: A dependency in one of these is down (not merely starting): its dependents are held at 0
#: replicas until it is back, rather than crash-looping against it.
DOWN = ("stopped", "disabled", "unhealthy")
#: UpdateStatus states of an update Swarm is still carrying out.
UPDATING = (None, "updating")


def wanted_replicas(spec: ServiceSpec) -> int:
    return 1 if spec.replicas is None else spec.replicas


def service_actions(fleet: Fleet, name: str) -> list[Action]:
    """The rules for one service, in order of precedence; the first that applies decides."""
    spec, svc, rt, now = fleet.specs[name], fleet.containers[name], fleet.views[name], \
        fleet.now
    if rt.rollout is not None and rt.rollout.state == "in_progress":
        verdict = _update_verdict(spec, rt.rollout, svc)
        if verdict is not None:
            return [verdict]
    cause = off_cause(rt)
    if cause:
        return [Action(Kind.STOP, name, f"{cause}: scale to 0", container_id=svc.id)] \
            if svc is not None and svc.replicas else []
    waiting = retry_wait(spec, rt, now)
    if waiting:
        return [waiting]
    requested = asked_to_run(rt)
    down = fleet.down_dependencies(name)
    if svc is None:
        if down and not requested:
            return [wait_for_dependencies(name, down)]
        return [Action(Kind.CREATE, name, f"no service; {wanted_replicas(spec)} replica(s)")]
    drift = () if rollout.skips_drift(spec, rt) else drifted_fields(spec, svc)
    if drift:
        return [Action(Kind.UPDATE, name, "desired spec changed; the engine rolls it out "
                                          f"{spec.update.order or 'start-first'}",
                       container_id=svc.id, drift=drift, strategy=spec.update.order
                       or "start-first", spec_hash=spec.spec_hash)]
    if rt.pending_action == "restart":
        return [Action(Kind.RESTART, name, "restart requested: forced update",
                       container_id=svc.id)]
    if not svc.replicas:
        if down and not requested:
            return [wait_for_dependencies(name, down)]
        why = f"{rt.pending_action} requested" if requested else "no replica wanted"
        return [Action(Kind.START, name, f"{why}: scale to {wanted_replicas(spec)}",
                       container_id=svc.id)]
    gone = [f"{dep} ({state})" for dep, state in down if state in DOWN]
    if gone and not requested:
        return [Action(Kind.STOP, name, "holding at 0 replicas while dependency "
                                        f"{', '.join(gone)} is down", container_id=svc.id,
                       waiting_for=Waiting.DEPENDENCY)]
    if svc.replicas != wanted_replicas(spec):
        return [Action(Kind.SCALE, name, f"replicas {svc.replicas} -> {wanted_replicas(spec)}",
                       container_id=svc.id)]
    return _failure_limit(fleet, name)


def _failure_limit(fleet: Fleet, name: str) -> list[Action]:
    """Swarm restarts the tasks; past `max_failures` failed tasks Steward gives up. A
    service with no failed task for the stable period starts counting afresh."""
    spec, svc, rt = fleet.specs[name], fleet.containers[name], fleet.views[name]
    if rt.failure_count >= spec.restart.max_failures:
        last = svc.last_task_error or "task failed"
        return [Action(Kind.DISABLE, name, f"failure limit reached: {rt.failure_count} "
                                           f"failed tasks, last: {last}; scaled to 0",
                       failure=last, container_id=svc.id)]
    calm = timedelta(seconds=fleet.stable_period)
    if rt.failure_count and rt.last_failure_at and fleet.now - rt.last_failure_at >= calm:
        return [Action(Kind.RESET_FAILURES, name,
                       f"no failed task for {fleet.stable_period:g}s since the last one")]
    return []


def _update_verdict(spec: ServiceSpec, update, svc: ObservedContainer | None
                    ) -> Action | None:
    """What the engine made of the update in progress; None when a newer spec supersedes
    it (the rules then start another)."""
    name = spec.name
    if svc is None:
        return Action(Kind.ROLLBACK, name, "superseded: the service is gone")
    rolled_back = str(svc.update_state).startswith("rollback") or \
        (svc.spec_hash != update.spec_hash and svc.update_state not in UPDATING)
    if rolled_back:  # the service's spec is the update's until someone else writes it
        said = svc.update_message if str(svc.update_state).startswith("rollback") \
            else "the service runs its previous spec again"
        return Action(Kind.ROLLBACK, name, f"the engine rolled the update back: {said}",
                      container_id=svc.id)
    if svc.update_state == "paused":
        return Action(Kind.PAUSE_ROLLOUT, name, "the engine paused the update: "
                                                f"{svc.update_message or 'paused'}",
                      container_id=svc.id)
    if spec.spec_hash != update.spec_hash:
        return None
    if svc.spec_hash == update.spec_hash and svc.update_state in (None, "completed"):
        return Action(Kind.PROMOTE, name, "the engine completed the update",
                      container_id=svc.id, target_id=svc.id)
    return Action(Kind.WAIT, name, f"the engine is updating the service "
                                   f"({svc.update_state or 'starting'})",
                  waiting_for=Waiting.ROLLOUT)
