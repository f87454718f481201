"""One reconcile pass: load files -> observe (one list call) -> assess health -> plan -> execute.

Passes never overlap: a request for a pass while one runs makes the running pass go round
once more, so an API action is acted on within one pass, never lost, never run twice at once.
"""
from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Mapping

from app.desired_state import DesiredState, DesiredStateError, digest_of, load_directory
from app.engine.docker_engine import DockerEngine
from app.engine.observed import ObservedContainer
from app.errors import EngineUnavailable
from app.health.assessment import Health, assess
from app.health.probes import probe
from app.reconcile.actions import Plan
from app.reconcile.executor import ExecutionReport, execute
from app.reconcile.plan import plan, primary_containers
from app.reconcile.views import RuntimeView
from app.store.db import Store
from app.store.models import RuntimeState
from app.store.runtime import (
    consume_pending, record_observations, runtime_rows, set_engine_status, to_view,
)
from app.store.sync import record_load_failure, stored_desired_state, sync_desired_state

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class PassResult:
    plan: Plan | None = None
    report: ExecutionReport | None = None
    engine_error: str | None = None
    load_error: str | None = None


class Reconciler:
    """Owns the pass: the only caller of the planner and the executor."""

    def __init__(self, *, store: Store, engine: DockerEngine, desired_dir: Path,
                 stable_period: float, clock: Callable[[], datetime] = utcnow) -> None:
        self.store = store
        self.engine = engine
        self.desired_dir = desired_dir
        self.stable_period = stable_period
        self.clock = clock
        self._lock = threading.Lock()
        self._wanted = threading.Event()
        self._loaded_digest: str | None = None
        self._load_error: str | None = None
        self._reported_orphans: set[str] = set()
        self._last_probe: dict[str, tuple[tuple, datetime]] = {}
        self._probes = ThreadPoolExecutor(max_workers=8, thread_name_prefix="steward-probe")
        self.last_result: PassResult | None = None

    def run_pass(self) -> PassResult | None:
        """Run passes until no further one was requested; return None if another thread runs."""
        self._wanted.set()
        while self._wanted.is_set():
            if not self._lock.acquire(blocking=False):
                return None
            try:
                while self._wanted.is_set():
                    self._wanted.clear()
                    self.last_result = self._guarded_pass()
            finally:
                self._lock.release()
        return self.last_result

    def _guarded_pass(self) -> PassResult | None:
        """A pass that fails unexpectedly is logged; the next one starts afresh."""
        try:
            return self._pass()
        except Exception:  # noqa: BLE001 - the job must outlive any single bad pass
            log.exception("reconcile pass failed; retrying on the next one")
            return None

    def load_desired(self) -> str | None:
        """Sync the files into the store when they changed; return the load error, if any."""
        digest = digest_of(self.desired_dir)
        if digest == self._loaded_digest:
            return self._load_error
        now = self.clock()
        try:
            desired = load_directory(self.desired_dir)
        except DesiredStateError as err:
            self._load_error = "\n".join(str(e) for e in err.errors)
            log.error("desired state rejected, last good state kept:\n%s", self._load_error)
            with self.store.session() as session:
                record_load_failure(session, digest, self._load_error, now)
        else:
            self._load_error = None
            with self.store.session() as session:
                sync_desired_state(session, desired, now)
        self._loaded_digest = digest
        return self._load_error

    def _pass(self) -> PassResult:
        load_error = self.load_desired()
        with self.store.reader() as session:
            desired = stored_desired_state(session)
        try:
            observed, views = self._observe(desired)
        except EngineUnavailable as err:
            return self._engine_down(str(err), load_error)
        the_plan = plan(desired, observed, views, self.clock(), stable_period=self.stable_period)
        if the_plan.actions:
            log.debug("plan:\n%s", the_plan.render())
        try:
            report = execute(the_plan, engine=self.engine, store=self.store,
                             specs=desired.services, runtime=views, now=self.clock,
                             reported=self._reported_orphans)
            if the_plan.writes_docker:
                self._observe(desired)  # so the API shows what the pass just did
        except EngineUnavailable as err:
            return self._engine_down(str(err), load_error, the_plan)
        finally:
            with self.store.session() as session:
                consume_pending(session, views)
        return PassResult(plan=the_plan, report=report, load_error=load_error)

    def _observe(self, desired: DesiredState
                 ) -> tuple[list[ObservedContainer], dict[str, RuntimeView]]:
        """List the containers, assess health, store both; return what the planner needs.

        Probes run outside any transaction, so a slow service never holds the store's lock.
        """
        with self.store.reader() as session:
            before = runtime_rows(session)
        observed = self.engine.observe({r.container_id: r.container_state or ""
                                        for r in before.values() if r.container_id})
        now = self.clock()
        primaries = primary_containers(desired, observed)
        health = self._assess_health(desired, primaries, before, now)
        with self.store.session() as session:
            rows = runtime_rows(session)
            record_observations(rows, primaries, health, now)
            set_engine_status(session, reachable=True, detail=None, now=now)
            views = {name: to_view(row) for name, row in rows.items()}
        return observed, views

    def _engine_down(self, error: str, load_error: str | None, the_plan: Plan | None = None
                     ) -> PassResult:
        log.warning("%s; retrying on the next pass", error)
        with self.store.session() as session:
            set_engine_status(session, reachable=False, detail=error, now=self.clock())
        return PassResult(plan=the_plan, engine_error=error, load_error=load_error)

    def _assess_health(self, desired: DesiredState,
                       primaries: Mapping[str, ObservedContainer | None],
                       rows: Mapping[str, RuntimeState], now: datetime) -> dict[str, Health]:
        """Docker's verdict for command checks; concurrent probes for http and tcp checks.

        A check is probed at most once per `interval` while the same container keeps running
        (same id, same start time), however often passes run, so `retries` counts probes.
        """
        results: dict[str, Health] = {}
        probes = {}
        for name, container in primaries.items():
            check = desired.services[name].healthcheck
            row = rows.get(name)
            if container is None or not container.running or check is None or row is None:
                continue
            if check.kind == "command":
                results[name] = Health(container.health, 0, None)
                continue
            previous = Health(row.health, row.health_failures, row.health_output) \
                if row.container_id == container.id else Health(None)
            started = container.started_at or row.started_at
            run = (container.id, started)
            last = self._last_probe.get(name)
            if last and last[0] == run and now - last[1] < timedelta(seconds=check.interval):
                results[name] = previous
                continue
            self._last_probe[name] = (run, now)
            in_grace = started is None or now - started < timedelta(seconds=check.start_period)
            probes[name] = (self._probes.submit(probe, check), previous, in_grace, check.retries)
        for name, (future, previous, in_grace, retries) in probes.items():
            result = future.result()
            results[name] = assess(previous, ok=result.ok, detail=result.detail,
                                   in_grace=in_grace, retries=retries)
        return results

    def close(self) -> None:
        self._probes.shutdown(wait=False)
        self.engine.close()
