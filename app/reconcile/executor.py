"""The executor: carry out a Plan on the engine and record each result in the store.

It makes no decisions. Actions run in the plan's order (dependency order); one service's
failure is recorded and the next action goes on. Only an unreachable engine stops the run,
since every further call would fail the same way.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable, Mapping

from app.desired_state.spec import ServiceSpec
from app.engine.docker_engine import DockerEngine
from app.errors import ActionFailed
from app.reconcile.actions import Action, Kind, Plan
from app.store.db import Store
from app.store.runtime import record_action, record_action_error

log = logging.getLogger(__name__)


@dataclass
class ExecutionReport:
    done: list[Action] = field(default_factory=list)
    failed: list[tuple[Action, str]] = field(default_factory=list)


def _recreate(engine: DockerEngine, action: Action, spec: ServiceSpec) -> str:
    engine.remove(action.container_id or "")
    return engine.create(spec)


def _start(engine: DockerEngine, action: Action, spec: ServiceSpec) -> None:
    engine.start(action.container_id or "")


def _restart(engine: DockerEngine, action: Action, spec: ServiceSpec) -> None:
    engine.restart(action.container_id or "", spec.stop_grace_period)


def _stop(engine: DockerEngine, action: Action, spec: ServiceSpec) -> None:
    engine.stop(action.container_id or "", spec.stop_grace_period)


def _remove(engine: DockerEngine, action: Action, spec: ServiceSpec | None) -> None:
    engine.remove(action.container_id or "")


def _create(engine: DockerEngine, action: Action, spec: ServiceSpec) -> str:
    return engine.create(spec)


_STEPS: Mapping[Kind, Callable[..., str | None]] = {
    Kind.CREATE: _create,
    Kind.START: _start,
    Kind.RECREATE: _recreate,
    Kind.RESTART: _restart,
    Kind.STOP: _stop,
    Kind.REMOVE_DUPLICATE: _remove,
    Kind.REMOVE_ORPHAN: _remove,
}


def execute(plan: Plan, *, engine: DockerEngine, store: Store,
            specs: Mapping[str, ServiceSpec], now: Callable[[], datetime],
            reported: set[str]) -> ExecutionReport:
    """Apply each action; EngineUnavailable propagates to the caller after recording progress.

    `reported` holds the orphan container ids already reported, so each is logged once.
    """
    report = ExecutionReport()
    for action in plan.actions:
        if action.kind is Kind.WAIT:
            continue
        if action.kind is Kind.REPORT_ORPHAN:
            if action.container_id not in reported:
                reported.add(action.container_id or "")
                with store.session() as session:
                    record_action(session, action, now())
            continue
        step = _STEPS.get(action.kind)
        try:
            container_id = step(engine, action, specs.get(action.service)) if step else None
        except ActionFailed as err:
            log.warning("%s failed: %s", action.render(), err)
            report.failed.append((action, str(err)))
            with store.session() as session:
                record_action_error(session, action, str(err), now())
            continue
        report.done.append(action)
        with store.session() as session:
            record_action(session, action, now(), container_id)
    return report
