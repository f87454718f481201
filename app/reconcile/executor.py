"""The executor: carry out a Plan on the engine and record each result in the store.

It makes no decisions. Actions run in the plan's order (dependency order), in waves of
independent actions carried out together; one service's failure is recorded and the others
go on. Only an unreachable engine stops the run, since every further call would fail the
same way. An action is skipped when an operator
acted on its service after the plan was made; the pass that request triggered re-plans.
"""
from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Mapping

from app.desired_state.spec import CATEGORIES, ServiceSpec
from app.domain.actions import Action, Kind, Plan
from app.domain.views import RuntimeView
from app.engine.base import kind_of
from app.engine.docker_engine import DockerEngine
from app.errors import ActionFailed, EngineUnavailable
from app.leadership.lease import holds_lease
from app.reconcile import swarm_steps
from app.store.db import Store
from app.store.runtime import (
    is_current,
    record_action,
    record_action_error,
    record_build,
)
from app.telemetry import metrics

log = logging.getLogger(__name__)

#: Engine calls one pass makes at once (creating 50 containers one by one is slow).
WORKERS = 8


@dataclass
class ExecutionReport:
    done: list[Action] = field(default_factory=list)
    failed: list[tuple[Action, str]] = field(default_factory=list)
    skipped: list[Action] = field(default_factory=list)


@dataclass(frozen=True)
class StepResult:
    """What a step leaves to record: the container it made, the output of a build, and a
    note (why a rollout's new container did not start, a failed one's last log lines)."""

    container_id: str | None = None
    build_log: str | None = None
    note: str | None = None


#: Seconds both containers serve under the service's name at a start-first switch.
DRAIN = 0.5
#: Log lines of a rolled-back container kept with the `rollback` event.
ROLLBACK_LOG_LINES = 20


def _create(engine: DockerEngine, action: Action, spec: ServiceSpec) -> StepResult:
    build_log = engine.prepare_image(spec)
    return StepResult(engine.create(spec), build_log)


def _recreate(engine: DockerEngine, action: Action, spec: ServiceSpec) -> StepResult:
    # Pull or build first: a working container is never removed for an image we lack.
    build_log = engine.prepare_image(spec)
    engine.remove(action.container_id or "")
    return StepResult(engine.create(spec), build_log)


def _start(engine: DockerEngine, action: Action, spec: ServiceSpec) -> None:
    engine.start(action.container_id or "")


def _restart(engine: DockerEngine, action: Action, spec: ServiceSpec) -> None:
    engine.restart(action.container_id or "", spec.stop_grace_period)


def _stop(engine: DockerEngine, action: Action, spec: ServiceSpec) -> None:
    engine.stop(action.container_id or "", spec.stop_grace_period)


def _remove(engine: DockerEngine, action: Action, spec: ServiceSpec | None) -> None:
    engine.remove(action.container_id or "")


def _rollout(engine: DockerEngine, action: Action, spec: ServiceSpec) -> StepResult:
    """Start the new container of a rollout; the old one is touched only once the image is
    there, and a stop-first rollout puts it back when the new one cannot even be created.
    A new container that fails to start is kept, for the planner to judge (and roll back)."""
    build_log = engine.prepare_image(spec, pull=action.image_digest is not None)
    old = action.container_id or ""
    if action.strategy == "stop-first":
        engine.stop(old, spec.stop_grace_period)
        engine.rename(old, engine.name_of(spec, "-prev"))
        try:
            new = engine.create_container(spec)
        except ActionFailed:
            engine.rename(old, engine.name_of(spec))
            engine.start(old)
            raise
    else:
        engine.remove(engine.name_of(spec, "-next"))  # left by an interrupted rollout
        new = engine.create_container(spec, suffix="-next", aliases=False)
    try:
        engine.start(new)
    except ActionFailed as err:
        return StepResult(new, build_log, note=str(err))
    return StepResult(new, build_log)


def _promote(engine: DockerEngine, action: Action, spec: ServiceSpec) -> StepResult:
    """The new container passed the gate: it takes the service's name, the old one goes.

    Start-first: the new one answers to the service's name first and both serve for a
    moment (`DRAIN`); then the old one leaves its networks, which takes it out of the
    service's name at once, and is removed."""
    new, old = action.target_id or "", action.container_id or ""
    if action.strategy == "start-first":
        engine.set_aliases(new, spec)
        time.sleep(DRAIN)
        engine.detach(old, spec)
    engine.remove(old)
    if action.strategy == "start-first":
        engine.rename(new, engine.name_of(spec))
    return StepResult(new)


def _rollback(engine: DockerEngine, action: Action, spec: ServiceSpec) -> StepResult:
    """The new container failed: keep its last log lines, remove it, and let the old one
    serve again (stop-first: under its own name, started again; nothing pulled or made)."""
    new, old = action.target_id, action.container_id
    logs = None
    if new:
        try:
            logs = engine.logs(new, ROLLBACK_LOG_LINES).strip() or None
        except ActionFailed:
            logs = None
        engine.remove(new)
    if action.strategy == "stop-first" and old:
        engine.rename(old, engine.name_of(spec))
        engine.start(old)
    return StepResult(note=logs)


def _create_network(engine: DockerEngine, action: Action, spec: ServiceSpec | None) -> None:
    assert action.network is not None
    engine.create_network(action.network)


def _remove_network(engine: DockerEngine, action: Action, spec: ServiceSpec | None) -> None:
    engine.remove_network(action.target_id or "")


def _no_docker(engine: DockerEngine, action: Action, spec: ServiceSpec | None) -> None:
    """DISABLE, FLAPPING, RESET_FAILURES and REPORT_ORPHAN only change the store."""


_STEPS: Mapping[Kind, Callable[..., StepResult | None]] = {
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
    Kind.CREATE_NETWORK: _create_network,
    Kind.REMOVE_NETWORK: _remove_network,
    Kind.ROLLOUT: _rollout,
    Kind.PROMOTE: _promote,
    Kind.ROLLBACK: _rollback,
    Kind.PAUSE_ROLLOUT: _no_docker,
}


def execute(plan: Plan, *, engine: DockerEngine, store: Store,
            specs: Mapping[str, ServiceSpec], runtime: Mapping[str, RuntimeView],
            now: Callable[[], datetime], reported: set[str],
            workers: int = WORKERS, report: ExecutionReport | None = None) -> ExecutionReport:
    """Apply each action; EngineUnavailable propagates to the caller after recording progress.

    Actions run in waves (see `waves`): one wave after the other, the actions of a wave at
    the same time, up to `workers` at once, since creating or starting a container is
    mostly waiting on the engine. `runtime` is what the plan was made from; `reported`
    holds the orphan container ids already reported, so each orphan is reported once per
    process, not once per pass. A `report` passed in is filled as actions finish, so the
    caller knows what was done even when the engine goes away midway.
    """
    report = report if report is not None else ExecutionReport()
    todo = [a for a in plan.actions if a.kind is not Kind.WAIT
            and not (a.kind is Kind.REPORT_ORPHAN and a.container_id in reported)]
    for wave in waves(todo, specs):
        with ThreadPoolExecutor(max_workers=min(workers, len(wave)),
                                thread_name_prefix="steward-exec") as pool:
            outcomes = list(pool.map(lambda a: _guarded(a, engine, store, specs, runtime, now),
                                     wave))
        unreachable = None
        for action, (outcome, detail) in zip(wave, outcomes):
            if outcome == "done":
                report.done.append(action)
                if action.kind is Kind.REPORT_ORPHAN:
                    reported.add(action.container_id or "")
            elif outcome == "failed":
                report.failed.append((action, detail))
            elif outcome == "skipped":
                report.skipped.append(action)
            else:
                unreachable = unreachable or detail
        if unreachable is not None:
            raise EngineUnavailable(unreachable)
    return report


def waves(actions: list[Action], specs: Mapping[str, ServiceSpec]) -> list[list[Action]]:
    """Consecutive actions of the plan (already in dependency order) that may run together:
    a new wave starts with each category tier, with any service that depends on one in the
    current wave, and with a second action on the same service (a duplicate's removal
    before the recreate that reuses its name). Orphans go with the tier they appear in."""
    rank = {c: i for i, c in enumerate(CATEGORIES)}
    result: list[list[Action]] = []
    tier, members = None, set()
    for action in actions:
        spec = specs.get(action.service)
        action_tier = rank.get(spec.category, -1) if spec else -1
        depends = set(spec.dependencies) if spec else set()
        if not result or action_tier != tier or (depends | {action.service}) & members:
            result.append([])
            tier, members = action_tier, set()
        result[-1].append(action)
        members.add(action.service)
    return result


def _guarded(action: Action, *args: Any) -> tuple[str, str]:
    """One action; an unexpected error (a locked database, an SDK surprise) fails just it."""
    try:
        return _run(action, *args)
    except Exception as err:  # noqa: BLE001 - one odd failure must not lose the others
        log.exception("%s failed unexpectedly", action.render())
        return "failed", f"unexpected error: {err}"


def _run(action: Action, engine: DockerEngine, store: Store, specs: Mapping[str, ServiceSpec],
         runtime: Mapping[str, RuntimeView], now: Callable[[], datetime]) -> tuple[str, str]:
    """One action, recorded: ("done" | "failed" | "skipped" | "unreachable", detail)."""
    seen = runtime[action.service].request_version if action.service in runtime else None
    with store.session() as session:
        if not is_current(session, action.service, seen):
            log.info("skipping %s: an operator acted since the plan", action.render())
            return "skipped", ""
        if not holds_lease(session, store):  # fencing: only the lease's holder acts
            return "skipped", ""
    try:
        step = (swarm_steps.STEPS if kind_of(engine) == "swarm" else _STEPS)[action.kind]
        result = step(engine, action, specs.get(action.service)) or StepResult()
    except ActionFailed as err:
        log.warning("%s failed: %s", action.render(), err)
        with store.session() as session:
            record_action_error(session, action, str(err), now())
        return "failed", str(err)
    except EngineUnavailable as err:
        return "unreachable", str(err)
    with store.session() as session:
        if result.build_log:
            record_build(session, action.service, result.build_log, now())
        spec = specs.get(action.service)
        record_action(session, action, now(), container_id=result.container_id,
                      seen_version=seen, spec=spec.to_dict() if spec else None,
                      note=result.note)
    if action.heal or action.kind in (Kind.FLAPPING, Kind.DISABLE):
        metrics.FAILURES.labels(action.service).inc()
    return "done", ""
