"""One reconcile pass: load files -> observe (one list call) -> plan -> execute -> record waits.

Passes never overlap: a request for a pass while one runs makes the running pass go round
once more, so an API action or a Docker event is acted on within one pass, never lost,
never run twice at once. A pass may cover the whole fleet or only some services (and their
dependents), e.g. the one whose container just died. A pass that leaves a service waiting
(backoff, pause, dependency settling) asks, through `wake`, for a pass when the wait ends,
so timing is exact without waiting for the interval job.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable, Iterable, Mapping

from app.desired_state import (
    DesiredState,
    DesiredStateError,
    LoadSettings,
    digest_of,
    load_directory,
    tree_signature,
)
from app.desired_state.revision import Revision, revision_of
from app.domain.actions import Plan
from app.domain.clock import utcnow
from app.domain.recap import summarize
from app.domain.views import RuntimeView
from app.engine.base import kind_of
from app.engine.docker_engine import DockerEngine
from app.engine.observed import ObservedContainer
from app.errors import EngineUnavailable
from app.health.monitor import HealthMonitor, Target
from app.reconcile import policy
from app.reconcile.executor import ExecutionReport, execute
from app.reconcile.fleet import drifted_fields
from app.reconcile.gate import judge_new_containers, probe_address
from app.reconcile.plan import (
    effective,
    plan,
    primary_containers,
    with_dependents,
)
from app.store.applies import record_apply
from app.store.db import Store
from app.store.rollouts import record_gate
from app.store.runtime import (
    consume_pending,
    record_observations,
    record_waits,
    runtime_rows,
    runtime_views,
    set_engine_status,
)
from app.store.sync import record_load_failure, stored_desired_state, sync_desired_state
from app.telemetry import metrics

log = logging.getLogger(__name__)

#: How soon a pass is retried after the engine was unreachable or a pass failed.
ENGINE_RETRY = timedelta(seconds=2)
#: How often a pass with unchanged files asks git whether the revision moved.
REVISION_CHECK_SECONDS = 5.0


@dataclass(frozen=True)
class PassResult:
    plan: Plan | None = None
    report: ExecutionReport | None = None
    engine_error: str | None = None
    load_error: str | None = None
    desired: DesiredState | None = None
    observed: tuple[ObservedContainer, ...] = ()
    planned: frozenset[str] = frozenset()
    started_at: datetime | None = None


class Reconciler:
    """Owns the pass: the only caller of the planner and the executor."""

    def __init__(self, *, store: Store, engine: DockerEngine, desired_dir: Path,
                 stable_period: float, health: HealthMonitor,
                 clock: Callable[[], datetime] = utcnow,
                 load_settings: LoadSettings | None = None) -> None:
        self.store = store
        self.engine = engine
        self.desired_dir = desired_dir
        self.load_settings = load_settings or LoadSettings(instance=engine.instance)
        self.stable_period = stable_period
        self.health = health
        self.clock = clock
        #: Called with (when, service or None for a full pass, why) to ask for a later pass.
        self.wake: Callable[[datetime, str | None, str], None] = lambda when, service, why: None
        self._lock = threading.Lock()
        self._requests = threading.Lock()
        self._wanted: Scope | None = None
        self._loaded_digest: str | None = None
        self._loaded_signature: tuple | None = None
        self._loaded_revision: Revision | None = None
        self._revision_checked = 0.0
        self._load_error: str | None = None
        self._reported_orphans: set[str] = set()
        self._signatures: dict[str, str] = {}
        self._stale: set[str] = set()
        self._stale_lock = threading.Lock()
        self._closed = False
        self.last_result: PassResult | None = None
        #: The containers of the latest observation, for plans the API makes without Docker.
        self.last_observed: tuple[ObservedContainer, ...] | None = None

    def run_pass(self, only: Iterable[str] | None = None) -> PassResult | None:
        """Run passes until no further one was requested; None if another thread runs them.

        `only` asks for a pass of those services (and their dependents); None for the whole
        fleet. Requests that come in while a pass runs are merged into the next one.
        """
        self._request(only)
        return self._drain()

    def _drain(self) -> PassResult | None:
        while self._has_request() and not self._closed:
            if not self._lock.acquire(blocking=False):
                return None
            try:
                while not self._closed and (scope := self._take_request()) is not None:
                    self.last_result = self._guarded_pass(scope.services)
            finally:
                self._lock.release()
        return self.last_result

    def forget_container(self, container_id: str) -> None:
        """Inspect this container again on the next pass (an event said it changed)."""
        with self._stale_lock:
            self._stale.add(container_id)

    def _request(self, only: Iterable[str] | None) -> None:
        wanted = Scope(None if only is None else frozenset(only))
        with self._requests:
            self._wanted = wanted if self._wanted is None else self._wanted.merge(wanted)

    def _has_request(self) -> bool:
        with self._requests:
            return self._wanted is not None

    def _take_request(self) -> Scope | None:
        with self._requests:
            wanted, self._wanted = self._wanted, None
            return wanted

    def _guarded_pass(self, only: frozenset[str] | None) -> PassResult | None:
        """A pass that fails unexpectedly is logged; the next one starts afresh."""
        try:
            return self._pass(only)
        except Exception:  # noqa: BLE001 - the job must outlive any single bad pass
            log.exception("reconcile pass failed; retrying on the next one")
            metrics.PASSES.labels("error").inc()
            self.wake(self.clock() + ENGINE_RETRY, None, "retry")
            return None

    def load_desired(self) -> str | None:
        """Sync the files into the store when they changed; return the load error, if any.

        A cheap look at names, sizes and times first; contents are read only when those
        moved, and a load happens only when the contents really changed, or when the git
        revision moved under identical files (a commit of what was dirty, or a commit
        elsewhere in the repository): the revision in force must be the true one.
        """
        signature = tree_signature(self.desired_dir)
        if signature == self._loaded_signature and not self._revision_moved():
            return self._load_error
        digest = digest_of(self.desired_dir)
        self._loaded_signature = signature
        revision = revision_of(self.desired_dir)
        if (digest, revision) == (self._loaded_digest, self._loaded_revision):
            return self._load_error
        self._loaded_revision = revision
        self._revision_checked = time.monotonic()
        now = self.clock()
        try:
            desired = load_directory(self.desired_dir, self.load_settings)
        except Exception as err:  # noqa: BLE001 - any failure to load keeps the last good state
            metrics.LOAD_ERRORS.inc()
            self._load_error = "\n".join(str(e) for e in err.errors) \
                if isinstance(err, DesiredStateError) else _unexpected(err)
            log.error("desired state at %s rejected, last good state kept:\n%s",
                      revision.describe(), self._load_error)
            with self.store.session() as session:
                record_load_failure(session, digest, self._load_error, now, revision)
        else:
            self._load_error = None
            log.info("desired state at %s loaded: %d service(s)", revision.describe(),
                     len(desired.services))
            with self.store.session() as session:
                sync_desired_state(session, desired, now, revision)
        self._loaded_digest = digest
        return self._load_error

    def _revision_moved(self) -> bool:
        """Whether git's HEAD or dirtiness changed; asked at most every few seconds."""
        if time.monotonic() - self._revision_checked < REVISION_CHECK_SECONDS:
            return False
        self._revision_checked = time.monotonic()
        return revision_of(self.desired_dir) != self._loaded_revision

    def apply(self, only: Iterable[str] | None = None, *, actor: str,
              timeout: float = 600) -> PassResult | None:
        """Run one pass now, after the running one if any, and record it as an apply.

        For `steward apply` and `POST /api/system/apply`: the same pass as every other,
        only its result goes back to the caller. None if the running pass did not end
        within `timeout`.
        """
        if not self._lock.acquire(timeout=timeout):
            return None
        scope = None if only is None else frozenset(only)
        try:
            result = self._pass(scope, actor=actor)
        except Exception as err:  # noqa: BLE001 - the caller gets the reason, not a trace
            log.exception("apply failed")
            result = PassResult(engine_error=f"the pass failed: {err}; see Steward's log")
        finally:
            self._lock.release()
        self.last_result = result
        self._drain()  # serve the requests that came in meanwhile
        return result

    def _pass(self, only: frozenset[str] | None, actor: str | None = None) -> PassResult:
        """One pass, timed and counted by outcome. It is recorded as an apply when an actor
        asked for it (CLI, API), or when it changed containers on its own (`reconciler`)."""
        with metrics.PASS_DURATION.time():
            result = self._one_pass(only, actor)
        outcome = "engine_unavailable" if result.engine_error else summarize(result).result
        metrics.PASSES.labels(outcome).inc()
        if not result.engine_error:
            metrics.LAST_SUCCESS.set_to_current_time()
        return result

    def _one_pass(self, only: frozenset[str] | None, actor: str | None) -> PassResult:
        started = self.clock()
        load_error = self.load_desired()
        with self.store.reader() as session:
            desired = stored_desired_state(session)
        try:
            observed, views = self._observe(desired)
            networks = self.engine.observe_networks()
        except EngineUnavailable as err:
            return self._engine_down(str(err), load_error)
        the_plan = plan(desired, observed, views, self.clock(), stable_period=self.stable_period,
                        only=only, networks=networks,
                        engine_updates=kind_of(self.engine) == "swarm")
        if the_plan.actions:
            log.debug("plan:\n%s", the_plan.render())
        planned = desired.services.keys() if only is None else \
            with_dependents(desired.services.values(), only)
        report = ExecutionReport()
        consumed = set(planned)
        try:
            execute(the_plan, engine=self.engine, store=self.store,
                    specs=effective(desired, views).services,
                    runtime=views, now=self.clock, reported=self._reported_orphans,
                    report=report)
            for action in report.done:
                if action.container_id:
                    self.forget_container(action.container_id)
            if the_plan.writes_docker:
                self._observe(desired)  # so the API shows what the pass just did
        except EngineUnavailable as err:
            # Requests whose actions never ran stay pending: the next pass carries them out.
            finished = {a.service for a in report.done + report.skipped} | \
                {a.service for a, _ in report.failed}
            consumed -= {a.service for a in the_plan.actions} - finished
            return self._engine_down(str(err), load_error, the_plan)
        finally:
            with self.store.session() as session:
                consume_pending(session, {n: views[n] for n in consumed if n in views})
                record_waits(session, the_plan, planned, self.clock())
        self._schedule_wakeups(the_plan, {n: views[n] for n in planned if n in views})
        result = PassResult(plan=the_plan, report=report, load_error=load_error, desired=desired,
                            observed=tuple(observed), planned=frozenset(planned),
                            started_at=started)
        if actor is not None or (the_plan.writes_docker and report.done):
            self._record_apply(result, actor or "reconciler", only)
        return result

    def _record_apply(self, result: PassResult, actor: str, only: Iterable[str] | None) -> None:
        with self.store.session() as session:
            record_apply(session, summarize(result), actor=actor,
                         scope=",".join(sorted(only)) if only else None,
                         started_at=result.started_at or self.clock(), finished_at=self.clock())

    def _schedule_wakeups(self, the_plan: Plan, views: Mapping[str, RuntimeView]) -> None:
        """A pass when each wait ends, and when a healed service will have been stable."""
        for action in the_plan.actions:
            if action.until is not None:
                self.wake(action.until, action.service, "wait")
        for name, view in views.items():
            stable_at = policy.stable_at(view, self.stable_period)
            if view.failure_count and stable_at is not None and stable_at > self.clock():
                self.wake(stable_at, name, "stable")

    def _observe(self, desired: DesiredState
                 ) -> tuple[list[ObservedContainer], dict[str, RuntimeView]]:
        """List the containers, store what changed, point the health monitor at them.

        Returns what the planner needs: the containers and each service's runtime view.
        """
        with self._stale_lock:
            known = {i: sig for i, sig in self._signatures.items() if i not in self._stale}
            self._stale.clear()
        observed = self.engine.observe(known)
        with self._stale_lock:
            self._signatures = {c.id: c.signature for c in observed if c.id not in self._stale}
        now = self.clock()
        with self.store.reader() as session:
            before = runtime_views(session, now)
        desired = effective(desired, before)
        gate = judge_new_containers(desired, observed, before)  # probes, outside transactions
        primaries = primary_containers(desired, observed, before)
        docker_checked = {n for n, s in desired.services.items()
                          if s.healthcheck is not None and s.healthcheck.kind == "command"
                          or kind_of(self.engine) == "swarm"}  # Swarm: health is from tasks
        drift = {n: drifted_fields(desired.services[n], c) for n, c in primaries.items() if c}
        with self.store.session() as session:
            rows = runtime_rows(session)
            record_observations(session, rows, primaries, docker_checked, drift, now)
            record_gate(session, gate, now)
            set_engine_status(session, reachable=True, detail=None, now=now)
            views = runtime_views(session, now, rows)
        self.health.watch(_probe_targets(desired, primaries, views)
                          if kind_of(self.engine) == "docker" else [])
        self.last_observed = tuple(observed)
        return observed, views

    def _engine_down(self, error: str, load_error: str | None, the_plan: Plan | None = None
                     ) -> PassResult:
        log.warning("%s; retrying in %ss", error, ENGINE_RETRY.total_seconds())
        self.last_observed = None
        with self.store.session() as session:
            set_engine_status(session, reachable=False, detail=error, now=self.clock())
        with self._stale_lock:
            self._signatures.clear()
        self.wake(self.clock() + ENGINE_RETRY, None, "retry")
        return PassResult(plan=the_plan, engine_error=error, load_error=load_error)

    def close(self) -> None:
        """Run no further pass, let the running one finish, then let go of the engine."""
        self._closed = True
        with self._lock:
            self.engine.close()


def _unexpected(err: Exception) -> str:
    """A load that failed in an unforeseen way, said as a load error (never a stack trace)."""
    log.exception("loading the desired state failed unexpectedly")
    return f"loading the desired state failed: {type(err).__name__}: {err}"[:1000]


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


@dataclass(frozen=True)
class Scope:
    """Which services a requested pass covers; `services=None` means the whole fleet."""

    services: frozenset[str] | None

    def merge(self, other: Scope) -> Scope:
        if self.services is None or other.services is None:
            return Scope(None)
        return Scope(self.services | other.services)
