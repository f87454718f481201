"""What one planning pass sees of the fleet, and the rules both planners (one host's and
Swarm's) share: whether a service's container drifted from its spec, what its dependencies
are doing, and the wait for them. Pure, like the planners."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Mapping

from app.desired_state.spec import CONTAINER_FIELDS, ServiceSpec
from app.domain.actions import Action, Kind, Waiting
from app.domain.views import RuntimeView
from app.engine.observed import ObservedContainer
from app.status import Status, derive_status


@dataclass(frozen=True)
class Fleet:
    """Everything one pass decides from, so a service's rules can look at its dependencies."""

    specs: Mapping[str, ServiceSpec]
    containers: Mapping[str, ObservedContainer | None]
    views: Mapping[str, RuntimeView]
    now: datetime
    stable_period: float
    #: (new, old) container of each service's active rollout.
    rollouts: Mapping[str, tuple[ObservedContainer | None, ObservedContainer | None]]

    def status(self, name: str) -> Status:
        view, container = self.views[name], self.containers[name]
        return derive_status(enabled=view.enabled, pending_action=view.pending_action,
                             container_state=container.state if container else None,
                             health=view.health,
                             has_healthcheck=self.specs[name].healthcheck is not None)

    def down_dependencies(self, name: str) -> list[tuple[str, str]]:
        """Dependencies whose condition is not met, with what they are instead."""
        spec = self.specs[name]
        deps = [d for d in spec.dependencies if d in self.specs]
        return [(d, state) for d in deps
                if (state := self._unmet(d, spec.condition(d))) is not None]

    def _unmet(self, dependency: str, condition: str) -> str | None:
        """None when `dependency` meets `condition`, else what it is instead."""
        container = self.containers[dependency]
        if condition == "service_started":
            return None if container and container.running else self.status(dependency)
        if condition == "service_completed_successfully":
            done = container is not None and container.state == "exited" \
                and container.exit_code == 0
            return None if done else "not completed"
        status = self.status(dependency)
        return None if status == "running" else status

    def completed(self, name: str) -> bool:
        """A run-once service whose container ran to completion: nothing to heal."""
        container = self.containers[name]
        return self.specs[name].restart.mode == "once" and container is not None \
            and container.state == "exited" and container.exit_code == 0


def drifted_fields(spec: ServiceSpec, container: ObservedContainer) -> tuple[str, ...]:
    """The container fields whose desired value differs from what the container was made from."""
    if container.spec_hash == spec.spec_hash:
        return ()
    wanted = spec.field_hashes()
    fields = tuple(f for f in CONTAINER_FIELDS
                   if container.field_hashes.get(f) != wanted.get(f))
    return fields or ("spec",)


def wait_for_dependencies(name: str, down: list[tuple[str, str]]) -> Action:
    listed = ", ".join(f"{dep} ({status})" for dep, status in down)
    return Action(Kind.WAIT, name, f"waiting for dependency {listed}",
                  waiting_for=Waiting.DEPENDENCY)
