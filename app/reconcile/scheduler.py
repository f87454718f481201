"""The APScheduler jobs that run the reconciler: every interval, on demand, and at wake-ups.

One BackgroundScheduler. The interval job (`max_instances=1`, `coalesce=True`) is the
level-triggered safety net; `trigger()` adds a one-off run now (API actions, Docker events,
health changes), and `wake_at()` a run when a service's wait ends (its backoff, a pause).
The reconciler folds runs that overlap into the pass already running.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Iterable

from apscheduler.schedulers.background import BackgroundScheduler

from app.reconcile.reconciler import Reconciler


class ReconcileScheduler:
    def __init__(self, reconciler: Reconciler, interval: float) -> None:
        self.reconciler = reconciler
        self.interval = interval
        self._scheduler = BackgroundScheduler(timezone=timezone.utc)
        reconciler.wake = self.wake_at

    def start(self) -> None:
        self._scheduler.add_job(self.reconciler.run_pass, "interval", seconds=self.interval,
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

    def wake_at(self, when: datetime, service: str | None) -> None:
        """Run a pass for `service` (None: everything) at `when`; replaces its earlier wake-up."""
        if self._scheduler.running:
            self._scheduler.add_job(self.reconciler.run_pass, "date", run_date=when,
                                    args=[None if service is None else frozenset([service])],
                                    id=f"wake:{service or '*'}", replace_existing=True,
                                    misfire_grace_time=None)

    def shutdown(self) -> None:
        """Stop scheduling; managed containers keep running."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
