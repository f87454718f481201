"""The APScheduler jobs that run the reconciler: every interval, on demand, and at wake-ups.

One BackgroundScheduler. The interval job (`max_instances=1`, `coalesce=True`) is the
level-triggered safety net; `wake_at()` adds a dated job when a service's wait ends (its
backoff, a pause, its stable period). Both only *request* a pass: each request becomes a
one-off job with an id of its own (`trigger()`, also used by API actions, Docker events and
health changes), which the reconciler folds into the pass already running. So a job with a
fixed id is never still "running" when it comes due again, and is never skipped for that.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Callable, Iterable

from apscheduler.schedulers.background import BackgroundScheduler

from app.reconcile.reconciler import Reconciler


class ReconcileScheduler:
    def __init__(self, reconciler: Reconciler, interval: float) -> None:
        self.reconciler = reconciler
        self.interval = interval
        self._scheduler = BackgroundScheduler(timezone=timezone.utc)
        reconciler.wake = self.wake_at

    def every(self, seconds: float, job: Callable[[], object], name: str) -> None:
        """Run `job` every `seconds` (first after one interval), never two at once."""
        self._scheduler.add_job(job, "interval", seconds=seconds, id=name,
                                max_instances=1, coalesce=True, replace_existing=True)

    def start(self) -> None:
        self._scheduler.add_job(self.trigger, "interval", seconds=self.interval,
                                id="reconcile", max_instances=1, coalesce=True,
                                next_run_time=datetime.now(timezone.utc))
        self._scheduler.start()

    def trigger(self, only: Iterable[str] | None = None) -> None:
        """Run a pass (of `only`, or of everything) as soon as possible."""
        if self._scheduler.running:
            # No fixed id: a one-off job must never be skipped as "already running".
            self._scheduler.add_job(self.reconciler.run_pass,
                                    args=[None if only is None else frozenset(only)],
                                    misfire_grace_time=None)

    def wake_at(self, when: datetime, service: str | None, why: str) -> None:
        """Run a pass for `service` (None: everything) at `when`; it replaces the earlier
        wake-up of that service for the same reason."""
        if self._scheduler.running:
            self._scheduler.add_job(self.trigger, "date", run_date=when,
                                    args=[None if service is None else [service]],
                                    id=f"wake:{service or '*'}:{why}", replace_existing=True,
                                    misfire_grace_time=None)

    @property
    def running(self) -> bool:
        return self._scheduler.running

    def shutdown(self) -> None:
        """Stop scheduling; managed containers keep running."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
