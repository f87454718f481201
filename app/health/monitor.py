"""The health monitor: probes every service with an http or tcp check on its own interval.

Each service's probe runs in a worker pool on its own schedule, outside any reconcile pass
and any transaction, so a slow or hanging service never delays another's checks or a
pass. A verdict that changes a service's health wakes the reconciler for that service at
once (`on_change`), which is how an unhealthy service is restarted within moments.
"""
from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable, Iterable

from app.desired_state.spec import HealthCheck
from app.health.probes import Address, probe
from app.store.db import Store
from app.store.runtime import record_probe
from app.support.worker import Worker
from app.telemetry import metrics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Target:
    """One running container to probe: the service's check and the run it belongs to."""

    service: str
    check: HealthCheck
    container_id: str
    started_at: datetime | None
    address: Address | None = None

    @property
    def run(self) -> tuple[str, datetime | None]:
        return self.container_id, self.started_at


class HealthMonitor:
    def __init__(self, store: Store, *, clock: Callable[[], datetime], workers: int = 16,
                 on_change: Callable[[str], None] | None = None) -> None:
        self.store = store
        self.clock = clock
        self.on_change = on_change or (lambda service: None)
        self._targets: dict[str, Target] = {}
        self._due: dict[str, datetime] = {}
        self._in_flight: dict[str, Future] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="steward-probe")
        self._worker = Worker("steward-health", self._loop, wake=self._wake.set)

    def watch(self, targets: Iterable[Target]) -> None:
        """Probe exactly these from now on; a new container run is probed at once."""
        now = self.clock()
        with self._lock:
            fresh = {t.service: t for t in targets}
            for name, target in fresh.items():
                if self._targets.get(name) != target:
                    self._due[name] = now
            for name in set(self._targets) - set(fresh):
                self._due.pop(name, None)
            self._targets = fresh
        self._wake.set()

    def probe_due(self) -> list[Future]:
        """Start every probe that is due and not already running; return their futures."""
        now = self.clock()
        started = []
        with self._lock:
            for name, target in self._targets.items():
                if name in self._in_flight or self._due.get(name, now) > now:
                    continue
                self._due[name] = now + timedelta(seconds=target.check.interval)
                future = self._pool.submit(self._probe, target)
                self._in_flight[name] = future
                started.append(future)
        return started

    def _probe(self, target: Target) -> None:
        try:
            with metrics.PROBE_DURATION.labels(target.check.kind).time():
                result = probe(target.check, target.address)
            now = self.clock()
            in_grace = target.started_at is None or \
                now - target.started_at < timedelta(seconds=target.check.start_period)
            with self.store.session() as session:
                changed = record_probe(session, target.service, target.run, ok=result.ok,
                                       detail=result.detail, in_grace=in_grace,
                                       retries=target.check.retries, now=now)
            if changed:
                self.on_change(target.service)
        except Exception:  # noqa: BLE001 - one failed probe must not stop the monitor
            log.exception("health probe of %s failed", target.service)
        finally:
            with self._lock:
                self._in_flight.pop(target.service, None)
            self._wake.set()

    def start(self) -> None:
        self._worker.start()

    def _loop(self) -> None:
        while not self._worker.stopping.is_set():
            self._wake.clear()
            self.probe_due()
            self._wake.wait(self._seconds_to_next_due())

    def _seconds_to_next_due(self) -> float:
        with self._lock:
            pending = [d for n, d in self._due.items() if n not in self._in_flight]
        if not pending:
            return 1.0
        return min(1.0, max(0.0, (min(pending) - self.clock()).total_seconds()))

    def stop(self) -> None:
        self._worker.stop()
        self._pool.shutdown(wait=False, cancel_futures=True)
