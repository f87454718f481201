"""Observe: the first stage of a pass. One look at the engine, judged once (`judge`, in
`fleet.py`), so the planner, the plan report and the reconciler share the same answer to
"which container is this service, which are duplicates, and did it drift?".

The `Observer` does the looking: it lists the containers (inspecting only those that
changed), probes the new containers of rollouts, stores what it saw, and points the health
monitor at the running containers.
"""
from __future__ import annotations

import threading
from typing import Callable, Mapping

from app.desired_state.spec import DesiredState
from app.domain.views import RuntimeView
from app.engine.base import kind_of
from app.engine.docker_engine import DockerEngine
from app.engine.observed import ObservedContainer
from app.health.monitor import HealthMonitor, Target
from app.reconcile.fleet import Observation, effective, judge
from app.reconcile.gate import judge_new_containers, probe_address
from app.store.db import Store
from app.store.rollouts import record_gate
from app.store.runtime import (
    record_observations,
    runtime_rows,
    runtime_views,
    set_engine_status,
)


class Observer:
    """Looks at the engine for the reconciler; remembers what it inspected, so a pass
    inspects again only the containers an event said changed."""

    def __init__(self, *, engine: DockerEngine, store: Store, health: HealthMonitor,
                 clock: Callable) -> None:
        self.engine = engine
        self.store = store
        self.health = health
        self.clock = clock
        self._signatures: dict[str, str] = {}
        self._stale: set[str] = set()
        self._lock = threading.Lock()

    def forget(self, container_id: str) -> None:
        """Inspect this container again next time (an event said it changed)."""
        with self._lock:
            self._stale.add(container_id)

    def forget_all(self) -> None:
        with self._lock:
            self._signatures.clear()

    def observe(self, desired: DesiredState, *, networks: bool = True) -> Observation:
        """Look, store what changed, point the health monitor at the running containers."""
        with self._lock:
            known = {i: sig for i, sig in self._signatures.items() if i not in self._stale}
            self._stale.clear()
        containers = self.engine.observe(known)
        with self._lock:
            self._signatures = {c.id: c.signature for c in containers
                                if c.id not in self._stale}
        now = self.clock()
        with self.store.reader() as session:
            before = runtime_views(session, now)
        desired = effective(desired, before)
        gate = judge_new_containers(desired, containers, before)  # probes, outside transactions
        seen = judge(desired, containers, before)
        on_swarm = kind_of(self.engine) == "swarm"
        docker_checked = {n for n, s in desired.services.items()  # Swarm: health from tasks
                          if s.healthcheck is not None and s.healthcheck.kind == "command"
                          or on_swarm}
        with self.store.session() as session:
            rows = runtime_rows(session)
            record_observations(session, rows, dict(seen.primaries), docker_checked,
                                dict(seen.drift), now)
            record_gate(session, gate, now)
            set_engine_status(session, reachable=True, detail=None, now=now)
            views = runtime_views(session, now, rows)
        self.health.watch([] if on_swarm else _probe_targets(desired, seen.primaries, views))
        return judge(desired, containers, views,
                     self.engine.observe_networks() if networks else None)


def _probe_targets(desired: DesiredState, primaries: Mapping[str, ObservedContainer | None],
                   views: Mapping[str, RuntimeView]) -> list[Target]:
    """Running containers of services whose http or tcp check Steward probes itself."""
    targets = []
    for name, container in primaries.items():
        check = desired.services[name].healthcheck
        if container is None or not container.running or check is None \
                or check.kind == "command" or name not in views:
            continue
        targets.append(Target(name, check, container.id, views[name].started_at,
                              probe_address(desired.services[name], container)))
    return targets
