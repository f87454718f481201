"""The health gate's eyes: is each rollout's new container passing its check right now?

Part of observing (it probes, so it is I/O and runs outside any transaction); the verdict
goes into the store as the rollout's `healthy_since`, and the planner decides from that.
A command check is Docker's own HEALTHCHECK, seen in the container list; an http or tcp
check is probed once, at the new container itself; without a check, running is passing.
"""
from __future__ import annotations

from datetime import datetime
from typing import Mapping, Sequence

from app.desired_state.spec import DesiredState, ServiceSpec
from app.domain.views import RuntimeView
from app.engine.observed import ObservedContainer
from app.health.probes import Address, probe
from app.reconcile.rollout import rollout_containers

#: service -> (passing now, since when it would count as passing if it was not already)
Verdicts = Mapping[str, tuple[bool, datetime | None]]


def judge_new_containers(desired: DesiredState, observed: Sequence[ObservedContainer],
                         runtime: Mapping[str, RuntimeView]) -> dict[str, tuple[bool,
                                                                          datetime | None]]:
    """A verdict for each service whose rollout is in progress."""
    verdicts = {}
    for name, view in runtime.items():
        if view.rollout is None or view.rollout.state != "in_progress" \
                or name not in desired.services:
            continue
        new, _ = rollout_containers([c for c in observed if c.service == name], view.rollout)
        if new is not None:
            verdicts[name] = _verdict(desired.services[name], new)
    return verdicts


def _verdict(spec: ServiceSpec, new: ObservedContainer) -> tuple[bool, datetime | None]:
    if not new.running:
        return False, None
    check = spec.healthcheck
    if check is None:
        return True, new.started_at
    if check.kind == "command":
        return new.health == "healthy", None
    return probe(check, probe_address(spec, new)).ok, None


def probe_address(spec: ServiceSpec, container: ObservedContainer) -> Address | None:
    """Where Steward's probe reaches the container itself. The check's port may be written
    as a published host port (the default is the first one): it is probed on the container
    port it maps to, at the container's address, so docker-proxy is never in the way."""
    port = spec.healthcheck.port if spec.healthcheck else None
    if port is None:
        return None
    if spec.network_mode == "host":
        return Address("127.0.0.1", port)
    inside = next((p.container_port for p in spec.ports if p.host_port == port), port)
    return Address(container.address, inside) if container.address else None
