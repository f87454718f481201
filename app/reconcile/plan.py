"""The planner: desired state + observed containers + runtime facts + now -> a Plan.

A pure, deterministic function: no Docker, no database, no clock of its own. Everything the
reconciler does to containers is decided here and only here, so this file is where to look
for "why did Steward do that".
"""
from __future__ import annotations

import heapq
from collections import defaultdict
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Collection, Iterable, Mapping, Sequence

from app.desired_state.spec import (
    CATEGORIES,
    DesiredState,
    NetworkAttachment,
    ServiceSpec,
)
from app.domain.actions import Action, Kind, Plan, Waiting
from app.domain.views import RuntimeView
from app.engine.observed import ObservedContainer, ObservedNetwork
from app.reconcile import policy, rollout, swarm_plan
from app.reconcile.fleet import (
    Fleet,
    Observation,
    asked_to_run,
    drifted_fields,
    effective,
    off_cause,
    retry_wait,
    wait_for_dependencies,
)


def plan(desired: DesiredState, seen: Observation, now: datetime, *,
         stable_period: float = policy.STABLE_PERIOD_SECONDS,
         only: Collection[str] | None = None,
         engine_updates: bool = False) -> Plan:
    """Decide every action of one pass: orphans, then missing networks, then services in
    dependency order.

    `seen` is the observation, judged (`fleet.judge`); its networks None leaves networks out
    of the plan. `only` limits the pass to those services and everything that depends on
    them (a pass woken by one container's event); None plans the whole fleet, orphans
    included. `engine_updates`: the engine rolls out, restarts and rolls back itself
    (Swarm), so each observation is a whole service and `swarm_plan` has the rules.
    """
    specs = effective(desired, seen.views).services
    fleet = Fleet(specs, seen.primaries, seen.views, now, stable_period, seen.rollouts)
    scope = None if only is None else with_dependents(desired.services.values(), only)
    actions = []
    if scope is None:
        actions += [_orphan(c, desired.prune)
                    for c in sorted(seen.containers, key=lambda c: (c.service, c.id))
                    if c.service not in desired.services]
    if seen.networks is not None:
        actions += network_actions(desired, seen.networks,
                                   prune=desired.prune and scope is None)
    for name in dependency_order(desired.services.values()):
        if scope is not None and name not in scope:
            continue
        actions += [Action(Kind.REMOVE_DUPLICATE, name, "more than one container for the service",
                           container_id=c.id) for c in seen.duplicates[name]]
        rules = swarm_plan.service_actions if engine_updates else _service_actions
        actions += _paused(fleet, name, rules(fleet, name))
    return Plan(tuple(actions))


def network_actions(desired: DesiredState, observed: Sequence[ObservedNetwork], *,
                    prune: bool) -> list[Action]:
    """Create each network a service needs that is missing (external ones are the
    operator's); with `prune`, remove Steward's networks no service names and no container
    uses any more."""
    wanted = {n.name: n for s in desired.services.values() for n in s.networks if not n.external}
    have = {n.network for n in observed}
    actions = [Action(Kind.CREATE_NETWORK, "", "a service needs it and it does not exist",
                      network=wanted[name]) for name in sorted(set(wanted) - have)]
    if prune:
        actions += [Action(Kind.REMOVE_NETWORK, "", "no service uses it (prune: true)",
                           network=NetworkAttachment(name=n.network), target_id=n.id)
                    for n in sorted(observed, key=lambda n: n.network)
                    if n.network not in wanted and n.containers == 0]
    return actions


def with_dependents(specs: Iterable[ServiceSpec], names: Collection[str]) -> frozenset[str]:
    """`names` plus every service that depends on one of them, directly or not."""
    dependents: dict[str, set[str]] = defaultdict(set)
    for spec in specs:
        for dep in spec.dependencies:
            dependents[dep].add(spec.name)
    found, todo = set(names), list(names)
    while todo:
        for dependent in dependents[todo.pop()] - found:
            found.add(dependent)
            todo.append(dependent)
    return frozenset(found)


def dependency_order(specs: Iterable[ServiceSpec]) -> list[str]:
    """Names with every dependency first, else infrastructure, ai, monitoring, then by name.

    A dependency moves up to the tier of its earliest dependent, so an ai service that needs
    a monitoring-tier service is not held back behind the whole monitoring tier.
    """
    specs = {s.name: s for s in specs}
    waiting = {n: {d for d in s.dependencies if d in specs} for n, s in specs.items()}
    dependents: dict[str, list[str]] = defaultdict(list)
    for name, deps in waiting.items():
        for dep in deps:
            dependents[dep].append(name)
    tier = _effective_tiers(specs, dependents)
    ready = [(tier[n], n) for n in specs if not waiting[n]]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        _, name = heapq.heappop(ready)
        order.append(name)
        for dependent in dependents[name]:
            waiting[dependent].discard(name)
            if not waiting[dependent]:
                heapq.heappush(ready, (tier[dependent], dependent))
    return order + sorted(set(specs) - set(order))


def _effective_tiers(specs: Mapping[str, ServiceSpec],
                     dependents: Mapping[str, list[str]]) -> dict[str, int]:
    rank = {c: i for i, c in enumerate(CATEGORIES)}
    tiers: dict[str, int] = {}

    def tier(name: str, seen: frozenset[str]) -> int:
        if name not in tiers:
            own = rank[specs[name].category]
            above = [tier(d, seen | {name}) for d in dependents.get(name, ()) if d not in seen]
            tiers[name] = min([own, *above])
        return tiers[name]

    for name in specs:
        tier(name, frozenset())
    return tiers


def _orphan(container: ObservedContainer, prune: bool) -> Action:
    if prune:
        return Action(Kind.REMOVE_ORPHAN, container.service,
                      "service is no longer in the desired state (prune: true)",
                      container_id=container.id)
    return Action(Kind.REPORT_ORPHAN, container.service,
                  "service is no longer in the desired state; set prune: true to remove it",
                  container_id=container.id)


def _service_actions(fleet: Fleet, name: str) -> list[Action]:
    """The rules for one service, in order of precedence; the first that applies decides."""
    spec, container, rt, now = fleet.specs[name], fleet.containers[name], fleet.views[name], \
        fleet.now
    if rt.rollout is not None and rt.rollout.active:
        return rollout.step(spec, rt, *fleet.rollouts[name], now)
    cause = off_cause(rt)
    if cause:
        return [Action(Kind.STOP, name, cause, container_id=container.id)] \
            if container and container.running else []
    waiting = retry_wait(spec, rt, now)
    if waiting:
        return [waiting]
    requested = asked_to_run(rt)
    down = fleet.down_dependencies(name)
    if container is None:
        if down and not requested:
            return [wait_for_dependencies(name, down)]
        return [Action(Kind.CREATE, name, "no container")]
    drift = () if rollout.skips_drift(spec, rt) else drifted_fields(spec, container)
    if drift and container.running:
        return [rollout.start(spec, container, drift)]
    if not drift and container.running and rollout.wants_update(spec, rt):
        return [rollout.start_update(spec, container, rt.available_digest or "")]
    if drift:
        return [Action(Kind.RECREATE, name, "desired spec changed", container_id=container.id,
                       drift=drift)]
    if rt.pending_action == "restart":
        return [Action(Kind.RESTART, name, "restart requested", container_id=container.id)]
    if not container.running:
        return _not_running(fleet, name, container, down)
    if down:
        return [wait_for_dependencies(name, down)] if rt.health == "unhealthy" else []
    moved = _restarted_with(fleet, name)
    if moved:
        return [Action(Kind.RESTART, name, f"restart_with: {moved} was restarted",
                       container_id=container.id, restart=True)]
    if rt.health == "unhealthy":
        return _unhealthy(fleet, name, container)
    return _flapping_or_stable(fleet, name)


def _not_running(fleet: Fleet, name: str, container: ObservedContainer,
                 down: list[tuple[str, str]]) -> list[Action]:
    rt = fleet.views[name]
    if rt.pending_action in ("start", "enable"):
        return [Action(Kind.START, name, f"{rt.pending_action} requested",
                       container_id=container.id)]
    if down:
        return [wait_for_dependencies(name, down)]
    if fleet.completed(name):
        return []
    if container.state == "created":
        return [Action(Kind.START, name, "container was never started",
                       container_id=container.id)]
    reason = container.exit_reason()
    back = _restarted_since(fleet, name, rt.finished_at)
    if back:
        return [Action(Kind.START, name, f"{reason} while dependency {back} was down; "
                                         f"{back} is back",
                       container_id=container.id, restart=True)]
    return [_heal(Kind.START, fleet, name, container, reason, rt.finished_at or fleet.now)]


def _unhealthy(fleet: Fleet, name: str, container: ObservedContainer) -> list[Action]:
    """Restart an unhealthy service, unless a dependency came back too recently to judge."""
    spec, rt = fleet.specs[name], fleet.views[name]
    reason = "unhealthy" + (f": {rt.health_output}" if rt.health_output else "")
    check = spec.healthcheck
    settle = policy.settle_time(check) if check else timedelta(0)
    for dep in spec.dependencies:
        started = fleet.views[dep].started_at if dep in fleet.views else None
        if started and fleet.now < started + settle:
            return [Action(Kind.WAIT, name, f"{reason}; dependency {dep} restarted at "
                                            f"{started.isoformat()}, giving the check time",
                           until=started + settle, waiting_for=Waiting.DEPENDENCY)]
    return [_heal(Kind.RESTART, fleet, name, container, reason, fleet.now)]


def _flapping_or_stable(fleet: Fleet, name: str) -> list[Action]:
    spec, rt, now = fleet.specs[name], fleet.views[name], fleet.now
    if policy.is_flapping(spec.restart, rt, now):
        flips = len(policy.recent_transitions(spec.restart, rt, now))
        reason = f"flapping: {flips} health check changes in {_duration(spec.restart.flap_window)}"
        if policy.limit_reached(spec.restart, rt):
            return [_disable(spec, rt, reason)]
        return [Action(Kind.FLAPPING, name, reason, failure=reason)]
    if rt.failure_count and rt.health != "starting" and \
            policy.is_stable(rt, now, fleet.stable_period):
        return [Action(Kind.RESET_FAILURES, name,
                       f"healthy for {fleet.stable_period:g}s since the last failure")]
    return []


def _restarted_with(fleet: Fleet, name: str) -> str | None:
    """A `restart_with` service that is running again and started after this one did."""
    own = fleet.views[name].started_at
    for dep in fleet.specs[name].restart_with:
        started = fleet.views[dep].started_at if dep in fleet.views else None
        if own and started and started > own and fleet.status(dep) == "running":
            return dep
    return None


def _restarted_since(fleet: Fleet, name: str, moment: datetime | None) -> str | None:
    """A dependency that (re)started after `moment`: the failure then was most likely its."""
    if moment is None:
        return None
    for dep in fleet.specs[name].dependencies:
        started = fleet.views[dep].started_at if dep in fleet.views else None
        if started and started > moment:
            return dep
    return None


def _paused(fleet: Fleet, name: str, actions: list[Action]) -> list[Action]:
    """While self-healing is paused, only what an operator asked for is carried out."""
    rt = fleet.views[name]
    if not actions or rt.paused_until is None or fleet.now >= rt.paused_until \
            or rt.pending_action or rt.manually_stopped or not rt.enabled:
        return actions
    held = "; ".join(a.render() for a in actions)
    why = f" ({rt.pause_reason})" if rt.pause_reason else ""
    return [Action(Kind.WAIT, name, f"self-healing paused{why}; held: {held}",
                   until=rt.paused_until, waiting_for=Waiting.PAUSE)]


def _heal(kind: Kind, fleet: Fleet, name: str, container: ObservedContainer, reason: str,
          failed_at: datetime) -> Action:
    """Restart a failed service now, wait out its backoff, or give up at the failure limit.

    A service that had been stable until it failed starts counting afresh, even if no pass
    came round to reset its count in between.
    """
    spec, rt, now = fleet.specs[name], fleet.views[name], fleet.now
    fresh = rt.failure_count > 0 and \
        policy.counted_failures(rt, failed_at, fleet.stable_period) == 0
    if fresh:
        rt = replace(rt, failure_count=0)
    if policy.limit_reached(spec.restart, rt):
        return _disable(spec, rt, reason)
    at = policy.next_restart_at(spec.restart, rt)
    if at and now < at:
        return Action(Kind.WAIT, spec.name, f"backoff after {rt.failure_count} failure(s); "
                                            f"last: {reason}", until=at, failure=reason,
                      waiting_for=Waiting.BACKOFF)
    return Action(kind, spec.name, reason, container_id=container.id, heal=True, failure=reason,
                  fresh=fresh)


def _disable(spec: ServiceSpec, rt: RuntimeView, reason: str) -> Action:
    return Action(Kind.DISABLE, spec.name, f"failure limit reached: {rt.failure_count} "
                                           f"consecutive failures, last: {reason}",
                  failure=reason)


def _duration(seconds: float) -> str:
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest}s" if minutes and rest else f"{minutes}m" if minutes else f"{rest}s"
