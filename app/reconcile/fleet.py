"""What one planning pass sees of the fleet, pure like the planners: the observation judged
once (`judge`: each service's main container, duplicates and drift, shared by the planner,
the plan report and the reconciler), and the rules both planners (one host's and Swarm's)
share: drift, what the dependencies are doing, and the wait for them."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Mapping, Sequence

from app.desired_state.spec import CONTAINER_FIELDS, DesiredState, ServiceSpec
from app.domain.actions import Action, Kind, Waiting
from app.domain.views import RuntimeView
from app.engine.observed import ObservedContainer, ObservedNetwork
from app.reconcile import policy, rollout
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


def off_cause(view: RuntimeView) -> str | None:
    """Why a service is meant to be off (disabled, or stopped by an operator), or None."""
    if not view.enabled:
        return "service is disabled"
    return "stopped by an operator" if view.manually_stopped else None


def retry_wait(spec: ServiceSpec, view: RuntimeView, now: datetime) -> Action | None:
    """Wait out the backoff after engine errors on this service, or None when it is over."""
    retry_at = policy.error_retry_at(spec.restart, view)
    if retry_at and now < retry_at:
        return Action(Kind.WAIT, spec.name, f"retrying after {view.error_count} engine "
                                            "error(s)", until=retry_at,
                      waiting_for=Waiting.RETRY)
    return None


def asked_to_run(view: RuntimeView) -> bool:
    """An operator asked for it to run (start, restart, enable): it does not wait."""
    return view.pending_action in ("start", "restart", "enable")


def wait_for_dependencies(name: str, down: list[tuple[str, str]]) -> Action:
    listed = ", ".join(f"{dep} ({status})" for dep, status in down)
    return Action(Kind.WAIT, name, f"waiting for dependency {listed}",
                  waiting_for=Waiting.DEPENDENCY)


@dataclass(frozen=True)
class Observation:
    """What one look saw: the containers (on Swarm, one per service), the runtime facts of
    each desired service, Steward's networks (None: left out of the plan), and, judged once,
    each service's main container, its duplicates and its drift."""

    containers: tuple[ObservedContainer, ...]
    views: Mapping[str, RuntimeView]
    networks: tuple[ObservedNetwork, ...] | None
    primaries: Mapping[str, ObservedContainer | None]
    duplicates: Mapping[str, tuple[ObservedContainer, ...]]
    drift: Mapping[str, tuple[str, ...]]
    #: (new, old) container of each service's active rollout.
    rollouts: Mapping[str, tuple[ObservedContainer | None, ObservedContainer | None]] = \
        field(default_factory=dict)

    def of(self, service: str) -> list[ObservedContainer]:
        return [c for c in self.containers if c.service == service]


def effective(desired: DesiredState, runtime: Mapping[str, RuntimeView]) -> DesiredState:
    """The desired state with each operator's rollback pin in force (`steward rollback`)."""
    pinned = {n: v.pinned_spec for n, v in runtime.items()
              if v.pinned_spec is not None and n in desired.services}
    if not pinned:
        return desired
    return replace(desired, services={**desired.services, **pinned})


def judge(desired: DesiredState, containers: Sequence[ObservedContainer],
          runtime: Mapping[str, RuntimeView] | None = None,
          networks: Sequence[ObservedNetwork] | None = None) -> Observation:
    """Pick each service's main container and its duplicates, and read its drift."""
    runtime = runtime or {}
    views = {name: runtime.get(name, RuntimeView(enabled=spec.enabled))
             for name, spec in desired.services.items()}
    specs = effective(desired, views).services
    by_service: dict[str, list[ObservedContainer]] = {}
    for container in containers:
        by_service.setdefault(container.service, []).append(container)
    picked = {name: _pick(by_service.get(name, []), spec, views[name])
              for name, spec in specs.items()}
    return Observation(
        containers=tuple(containers), views=views,
        networks=None if networks is None else tuple(networks),
        primaries={n: main for n, (main, _) in picked.items()},
        duplicates={n: tuple(rest) for n, (_, rest) in picked.items()},
        drift={n: drifted_fields(specs[n], main) for n, (main, _) in picked.items() if main},
        rollouts={n: rollout.rollout_containers(by_service.get(n, []), views[n].rollout)
                  for n in specs})


def _pick(containers: list[ObservedContainer], spec: ServiceSpec, view: RuntimeView
          ) -> tuple[ObservedContainer | None, list[ObservedContainer]]:
    """Keep the best container (current spec, running, newest); the rest are duplicates.

    During a rollout the old container is judged while it runs, else the new one, and
    neither is a duplicate.
    """
    new, old = rollout.rollout_containers(containers, view.rollout)
    if new or old:
        primary = old if old is not None and (old.running or new is None) else new
        return primary, [c for c in containers if c is not new and c is not old]
    if not containers:
        return None, []
    ranked = sorted(containers, key=lambda c: (c.spec_hash == spec.spec_hash, c.running,
                                               c.created, c.id), reverse=True)
    return ranked[0], ranked[1:]
