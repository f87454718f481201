"""The executor's steps on a Swarm engine, one per action kind (see `swarm_plan`).

Each step is at most one service call. The engine's own verdicts on an update (PROMOTE,
ROLLBACK, PAUSE_ROLLOUT) need no call: Swarm already did it; they are only recorded.
"""
from __future__ import annotations

from typing import Callable, Mapping

from app.desired_state.spec import ServiceSpec
from app.domain.actions import Action, Kind
from app.engine.swarm_engine import SwarmEngine
from app.reconcile.swarm_plan import wanted_replicas


class _Result:
    """Duck-typed like the executor's StepResult (no import cycle): the service made."""

    def __init__(self, container_id: str | None) -> None:
        self.container_id, self.build_log, self.note = container_id, None, None


def _create(engine: SwarmEngine, action: Action, spec: ServiceSpec) -> _Result:
    return _Result(engine.create_service(spec, wanted_replicas(spec)))


def _update(engine: SwarmEngine, action: Action, spec: ServiceSpec) -> _Result:
    return _Result(engine.update_service(spec, wanted_replicas(spec)))


def _restart(engine: SwarmEngine, action: Action, spec: ServiceSpec) -> None:
    engine.update_service(spec, wanted_replicas(spec), force=True)


def _start(engine: SwarmEngine, action: Action, spec: ServiceSpec) -> None:
    engine.scale(spec.name, wanted_replicas(spec))


def _stop(engine: SwarmEngine, action: Action, spec: ServiceSpec) -> None:
    engine.scale(spec.name, 0)


def _remove(engine: SwarmEngine, action: Action, spec: ServiceSpec | None) -> None:
    engine.remove(action.container_id or "")


def _create_network(engine: SwarmEngine, action: Action, spec: ServiceSpec | None) -> None:
    assert action.network is not None
    engine.create_network(action.network)


def _remove_network(engine: SwarmEngine, action: Action, spec: ServiceSpec | None) -> None:
    engine.remove_network(action.target_id or "")


def _recorded_only(engine: SwarmEngine, action: Action, spec: ServiceSpec | None) -> None:
    """The engine did it (an update's verdict), or it only changes the store."""


STEPS: Mapping[Kind, Callable[..., object]] = {
    Kind.CREATE: _create,
    Kind.RECREATE: _update,
    Kind.UPDATE: _update,
    Kind.START: _start,
    Kind.SCALE: _start,
    Kind.RESTART: _restart,
    Kind.STOP: _stop,
    Kind.DISABLE: _stop,  # at the failure limit: scaled to 0 in the same pass
    Kind.REMOVE_DUPLICATE: _remove,
    Kind.REMOVE_ORPHAN: _remove,
    Kind.CREATE_NETWORK: _create_network,
    Kind.REMOVE_NETWORK: _remove_network,
    Kind.FLAPPING: _recorded_only,
    Kind.RESET_FAILURES: _recorded_only,
    Kind.REPORT_ORPHAN: _recorded_only,
    Kind.PROMOTE: _recorded_only,
    Kind.ROLLBACK: _recorded_only,
    Kind.PAUSE_ROLLOUT: _recorded_only,
    Kind.ROLLOUT: _update,
}
