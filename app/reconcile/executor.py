"""The executor: carry out a Plan on the engine and record each result in the store.

It makes no decisions. Actions run in the plan's order (dependency order); one service's
failure is recorded and the next action goes on. Only an unreachable engine stops the run,
since every further call would fail the same way. An action is skipped when an operator
acted on its service after the plan was made; the pass that request triggered re-plans.
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
from app.reconcile.views import RuntimeView
from app.store.db import Store
from app.store.runtime import is_current, record_action, record_action_error

log = logging.getLogger(__name__)


@dataclass
class ExecutionReport:
    done: list[Action] = field(default_factory=list)
    failed: list[tuple[Action, str]] = field(default_factory=list)
    skipped: list[Action] = field(default_factory=list)


def _create(engine: DockerEngine, action: Action, spec: ServiceSpec) -> str:
    return engine.create(spec)


def _recreate(engine: DockerEngine, action: Action, spec: ServiceSpec) -> str:
    engine.ensure_image(spec.image)  # never remove a working container for an image we lack
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


def _no_docker(engine: DockerEngine, action: Action, spec: ServiceSpec | None) -> None:
    """DISABLE, FLAPPING, RESET_FAILURES and REPORT_ORPHAN only change the store."""


_STEPS: Mapping[Kind, Callable[..., str | None]] = {
    Kind.CREATE: _create,
    Kind.START: _start,
    Kind.RECREATE: _recreate,
    Kind.RESTART: _restart,
    Kind.STOP: _stop,
    Kind.REMOVE_DUPLICATE: _remove,
    Kind.REMOVE_ORPHAN: _remove,
    Kind.DISABLE: _no_docker,
    Kind.FLAPPING: _no_docker,
    Kind.RESET_FAILURES: _no_docker,
    Kind.REPORT_ORPHAN: _no_docker,
}


def execute(plan: Plan, *, engine: DockerEngine, store: Store,
            specs: Mapping[str, ServiceSpec], runtime: Mapping[str, RuntimeView],
            now: Callable[[], datetime], reported: set[str]) -> ExecutionReport:
    """Apply each action; EngineUnavailable propagates to the caller after recording progress.

    `runtime` is what the plan was made from; `reported` holds the orphan container ids
    already reported, so each orphan is reported once per process, not once per pass.
    """
    report = ExecutionReport()
    for action in plan.actions:
        if action.kind is Kind.WAIT or (action.kind is Kind.REPORT_ORPHAN
                                        and action.container_id in reported):
            continue
        seen = runtime[action.service].request_version if action.service in runtime else None
        with store.session() as session:
            if not is_current(session, action.service, seen):
                log.info("skipping %s: an operator acted since the plan", action.render())
                report.skipped.append(action)
                continue
        try:
            container_id = _STEPS[action.kind](engine, action, specs.get(action.service))
        except ActionFailed as err:
            log.warning("%s failed: %s", action.render(), err)
            report.failed.append((action, str(err)))
            with store.session() as session:
                record_action_error(session, action, str(err), now())
            continue
        if action.kind is Kind.REPORT_ORPHAN:
            reported.add(action.container_id or "")
        report.done.append(action)
        with store.session() as session:
            record_action(session, action, now(), container_id=container_id, seen_version=seen)
    return report
