"""The APScheduler job that runs the reconciler every interval, and on demand.

One BackgroundScheduler, one interval job (`max_instances=1`, `coalesce=True`); `trigger()`
adds a one-off run now, which the reconciler folds into a running pass if there is one.
"""
from __future__ import annotations

from datetime import datetime, timezone

from apscheduler.schedulers.background import BackgroundScheduler

from app.reconcile.reconciler import Reconciler


class ReconcileScheduler:
    def __init__(self, reconciler: Reconciler, interval: float) -> None:
        self.reconciler = reconciler
        self.interval = interval
        self._scheduler = BackgroundScheduler(timezone=timezone.utc)

    def start(self) -> None:
        self._scheduler.add_job(self.reconciler.run_pass, "interval", seconds=self.interval,
                                id="reconcile", max_instances=1, coalesce=True,
                                next_run_time=datetime.now(timezone.utc))
        self._scheduler.start()

    def trigger(self) -> None:
        """Run a pass as soon as possible (API actions call this)."""
        if self._scheduler.running:
            # No fixed id: a one-off job must never be skipped as "already running".
            self._scheduler.add_job(self.reconciler.run_pass, misfire_grace_time=None)

    def shutdown(self) -> None:
        """Stop scheduling; managed containers keep running."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
