"""The planner: desired state + observed containers + runtime facts + now -> a Plan.

A pure, deterministic function: no Docker, no database, no clock of its own. Everything the
reconciler does to containers is decided here and only here, so this file is where to look
for "why did Steward do that".
"""
from __future__ import annotations

import heapq
from collections import defaultdict
from datetime import datetime
from typing import Iterable, Mapping, Sequence

from app.desired_state.spec import CATEGORIES, CONTAINER_FIELDS, DesiredState, ServiceSpec
from app.engine.observed import ObservedContainer
from app.reconcile import policy
from app.reconcile.actions import Action, Kind, Plan
from app.reconcile.views import RuntimeView


def plan(desired: DesiredState, observed: Sequence[ObservedContainer],
         runtime: Mapping[str, RuntimeView], now: datetime, *,
         stable_period: float = policy.STABLE_PERIOD_SECONDS) -> Plan:
    """Decide every action of one pass, orphans first, then services in dependency order."""
    by_service: dict[str, list[ObservedContainer]] = defaultdict(list)
    for container in observed:
        by_service[container.service].append(container)
    actions = [_orphan(c, desired.prune) for c in sorted(observed, key=lambda c: (c.service, c.id))
               if c.service not in desired.services]
    for name in dependency_order(desired.services.values()):
        spec = desired.services[name]
        primary, extras = _pick(by_service.get(name, []), spec)
        actions += [Action(Kind.REMOVE_DUPLICATE, name, "more than one container for the service",
                           container_id=c.id) for c in extras]
        view = runtime.get(name, RuntimeView(enabled=spec.enabled))
        actions += _service_actions(spec, primary, view, now, stable_period)
    return Plan(tuple(actions))


def dependency_order(specs: Iterable[ServiceSpec]) -> list[str]:
    """Names with every dependency first, else infrastructure, ai, monitoring, then by name.

    A dependency moves up to the tier of its earliest dependent, so an ai service that needs
    a monitoring-tier service is not held back behind the whole monitoring tier.
    """
    specs = {s.name: s for s in specs}
    waiting = {n: {d for d in s.depends_on if d in specs} for n, s in specs.items()}
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


def drifted_fields(spec: ServiceSpec, container: ObservedContainer) -> tuple[str, ...]:
    """The container fields whose desired value differs from what the container was made from."""
    if container.spec_hash == spec.spec_hash:
        return ()
    wanted = spec.field_hashes()
    fields = tuple(f for f in CONTAINER_FIELDS if container.field_hashes.get(f) != wanted[f])
    return fields or ("spec",)


def _orphan(container: ObservedContainer, prune: bool) -> Action:
    if prune:
        return Action(Kind.REMOVE_ORPHAN, container.service,
                      "service is no longer in the desired state (prune: true)",
                      container_id=container.id)
    return Action(Kind.REPORT_ORPHAN, container.service,
                  "service is no longer in the desired state; set prune: true to remove it",
                  container_id=container.id)


def primary_containers(desired: DesiredState, observed: Sequence[ObservedContainer]
                       ) -> dict[str, ObservedContainer | None]:
    """The container each desired service is judged by (see `_pick`)."""
    return {name: _pick([c for c in observed if c.service == name], spec)[0]
            for name, spec in desired.services.items()}


def _pick(containers: list[ObservedContainer], spec: ServiceSpec
          ) -> tuple[ObservedContainer | None, list[ObservedContainer]]:
    """Keep the best container (current spec, running, newest); the rest are duplicates."""
    if not containers:
        return None, []
    ranked = sorted(containers, key=lambda c: (c.spec_hash == spec.spec_hash, c.running,
                                               c.created, c.id), reverse=True)
    return ranked[0], ranked[1:]


def _service_actions(spec: ServiceSpec, container: ObservedContainer | None, rt: RuntimeView,
                     now: datetime, stable_period: float) -> list[Action]:
    name = spec.name
    if not rt.enabled or rt.manually_stopped:
        if container and container.running:
            cause = "service is disabled" if not rt.enabled else "stopped by an operator"
            return [Action(Kind.STOP, name, cause, container_id=container.id)]
        return []
    retry_at = policy.error_retry_at(spec.restart, rt)
    if retry_at and now < retry_at:
        return [Action(Kind.WAIT, name, f"retrying after {rt.error_count} engine error(s)",
                       until=retry_at)]
    if container is None:
        return [Action(Kind.CREATE, name, "no container")]
    drift = drifted_fields(spec, container)
    if drift:
        return [Action(Kind.RECREATE, name, "desired spec changed", container_id=container.id,
                       drift=drift)]
    if rt.pending_action == "restart":
        return [Action(Kind.RESTART, name, "restart requested", container_id=container.id)]
    if not container.running:
        if rt.pending_action in ("start", "enable"):
            return [Action(Kind.START, name, f"{rt.pending_action} requested",
                           container_id=container.id)]
        if container.state == "created":
            return [Action(Kind.START, name, "container was never started",
                           container_id=container.id)]
        return [_heal(Kind.START, spec, rt, container, container.exit_reason(), now)]
    if rt.health == "unhealthy":
        reason = "unhealthy" + (f": {rt.health_output}" if rt.health_output else "")
        return [_heal(Kind.RESTART, spec, rt, container, reason, now)]
    if rt.failure_count and rt.health != "starting" and \
            policy.is_stable(rt, now, stable_period):
        return [Action(Kind.RESET_FAILURES, name,
                       f"healthy for {stable_period:g}s since the last restart")]
    return []


def _heal(kind: Kind, spec: ServiceSpec, rt: RuntimeView, container: ObservedContainer,
          reason: str, now: datetime) -> Action:
    """Restart a failed service now, wait out its backoff, or give up at the failure limit."""
    if policy.limit_reached(spec.restart, rt):
        return Action(Kind.DISABLE, spec.name,
                      f"failure limit reached: {rt.failure_count} consecutive failures, "
                      f"last: {reason}")
    at = policy.next_restart_at(spec.restart, rt)
    if at and now < at:
        return Action(Kind.WAIT, spec.name, f"backoff after {rt.failure_count} failure(s); "
                                            f"last: {reason}", until=at)
    return Action(kind, spec.name, reason, container_id=container.id, heal=True)
