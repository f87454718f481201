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
from app.health.monitor import HealthMonitor
from app.reconcile import policy
from app.reconcile.executor import ExecutionReport, execute
from app.reconcile.fleet import Observation, effective
from app.reconcile.observe import Observer
from app.reconcile.plan import plan, with_dependents
from app.store.applies import record_apply
from app.store.db import Store
from app.store.runtime import (
    consume_pending,
    record_waits,
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
        self.observer = Observer(engine=engine, store=store, health=health, clock=clock)
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
        self.observer.forget(container_id)

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
        """Observe, plan, execute, record."""
        started = self.clock()
        load_error = self.load_desired()
        with self.store.reader() as session:
            desired = stored_desired_state(session)
        try:
            seen = self._observe(desired)
        except EngineUnavailable as err:
            return self._engine_down(str(err), load_error)
        the_plan = plan(desired, seen, self.clock(), stable_period=self.stable_period,
                        only=only, engine_updates=kind_of(self.engine) == "swarm")
        if the_plan.actions:
            log.debug("plan:\n%s", the_plan.render())
        planned = frozenset(desired.services.keys() if only is None else
                            with_dependents(desired.services.values(), only))
        report, engine_error = ExecutionReport(), None
        try:
            engine_error = self._execute(the_plan, desired, seen, report)
        finally:  # whatever ended the pass, the requests it served are done
            self._record(the_plan, report, seen.views, planned,
                         engine_down=engine_error is not None)
        if engine_error is not None:
            return self._engine_down(engine_error, load_error, the_plan)
        self._schedule_wakeups(the_plan, {n: seen.views[n] for n in planned if n in seen.views})
        result = PassResult(plan=the_plan, report=report, load_error=load_error, desired=desired,
                            observed=seen.containers, planned=planned, started_at=started)
        if actor is not None or (the_plan.writes_docker and report.done):
            self._record_apply(result, actor or "reconciler", only)
        return result

    def _observe(self, desired: DesiredState, *, networks: bool = True) -> Observation:
        seen = self.observer.observe(desired, networks=networks)
        self.last_observed = seen.containers
        return seen

    def _execute(self, the_plan: Plan, desired: DesiredState, seen: Observation,
                 report: ExecutionReport) -> str | None:
        """Carry the plan out into `report`; None, or why the engine went away midway."""
        try:
            execute(the_plan, engine=self.engine, store=self.store,
                    specs=effective(desired, seen.views).services, runtime=seen.views,
                    now=self.clock, reported=self._reported_orphans, report=report)
            for action in report.done:
                if action.container_id:
                    self.forget_container(action.container_id)
            if the_plan.writes_docker:  # so the API shows what the pass just did
                self._observe(desired, networks=False)
        except EngineUnavailable as err:
            return str(err)
        return None

    def _record(self, the_plan: Plan, report: ExecutionReport,
                views: Mapping[str, RuntimeView], planned: frozenset[str], *,
                engine_down: bool) -> None:
        """The requests the pass served are done, and its waits noted."""
        served = served_requests(the_plan, report, planned) if engine_down else planned
        with self.store.session() as session:
            consume_pending(session, {n: views[n] for n in served if n in views})
            record_waits(session, the_plan, planned, self.clock())

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

    def _engine_down(self, error: str, load_error: str | None, the_plan: Plan | None = None
                     ) -> PassResult:
        log.warning("%s; retrying in %ss", error, ENGINE_RETRY.total_seconds())
        self.last_observed = None
        with self.store.session() as session:
            set_engine_status(session, reachable=False, detail=error, now=self.clock())
        self.observer.forget_all()
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


def served_requests(the_plan: Plan, report: ExecutionReport, planned: frozenset[str]
                    ) -> frozenset[str]:
    """The services whose pending requests a pass cut short by the engine still served:
    all it planned but those with an action that never ran (the next pass runs it)."""
    finished = {a.service for a in (*report.done, *report.skipped)} | \
        {a.service for a, _ in report.failed}
    return planned - ({a.service for a in the_plan.actions} - finished)


@dataclass(frozen=True)
class Scope:
    """Which services a requested pass covers; `services=None` means the whole fleet."""

    services: frozenset[str] | None

    def merge(self, other: Scope) -> Scope:
        if self.services is None or other.services is None:
            return Scope(None)
        return Scope(self.services | other.services)
