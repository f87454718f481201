"""The running parts of one Steward (store, engine, reconciler, scheduler), kept on the app.

Views reach them through `current_steward()`; the scheduler starts only when serving, so
tests and CLI commands get the same app without a background thread.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from app.reconcile.reconciler import Reconciler, utcnow
from app.reconcile.scheduler import ReconcileScheduler
from app.store.db import Store

__all__ = ["Steward", "current_steward", "utcnow"]


@dataclass
class Steward:
    store: Store
    reconciler: Reconciler
    scheduler: ReconcileScheduler

    def start_background(self) -> None:
        """Start the reconcile job (first pass at once)."""
        self.scheduler.start()

    def trigger(self) -> None:
        """Ask for a pass now; without the scheduler (CLI, tests) the next explicit pass acts."""
        self.scheduler.trigger()

    def shutdown(self) -> None:
        """Stop Steward's own threads; the managed containers keep running."""
        self.scheduler.shutdown()
        self.reconciler.close()
        self.store.dispose()


def current_steward() -> Steward:
    return current_app.extensions["steward"]
