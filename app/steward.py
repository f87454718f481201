"""The running parts of one Steward (store, reconciler, scheduler, health monitor, event
watcher, the page's live feed), kept on the app.

Views reach them through `current_steward()`; the background threads start only when
serving, so tests and CLI commands get the same app without a background thread.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from flask import current_app

from app.engine.docker_engine import ContainerEvent
from app.health.monitor import HealthMonitor
from app.reconcile.reconciler import Reconciler, utcnow
from app.reconcile.scheduler import ReconcileScheduler
from app.reconcile.watcher import EventWatcher
from app.store.db import Store
from app.web.feed import FleetFeed

__all__ = ["Steward", "current_steward", "utcnow"]


@dataclass
class Steward:
    store: Store
    reconciler: Reconciler
    scheduler: ReconcileScheduler
    health: HealthMonitor
    watcher: EventWatcher
    #: The status page's live feed; set by the app factory (`app/web/feed.py`).
    feed: FleetFeed | None = None

    def __post_init__(self) -> None:
        """Wire the parts that wake passes to the scheduler."""
        self.health.on_change = lambda service: self.trigger([service])
        self.watcher.on_event = self._on_event
        self.watcher.on_resync = self.trigger

    def start_background(self) -> None:
        """Start the reconcile job (first pass at once), the monitor, the watcher, the feed."""
        self.scheduler.start()
        self.health.start()
        self.watcher.start()
        if self.feed is not None:
            self.feed.start()

    def trigger(self, only: Iterable[str] | None = None) -> None:
        """Ask for a pass now; without the scheduler (CLI, tests) the next explicit pass acts."""
        self.scheduler.trigger(only)

    def _on_event(self, event: ContainerEvent) -> None:
        self.reconciler.forget_container(event.container_id)
        self.trigger([event.service])

    def end_streams(self) -> None:
        """End the status page's live streams (they hold server threads) ahead of shutdown."""
        if self.feed is not None:
            self.feed.stop()

    def shutdown(self) -> None:
        """Stop Steward's own threads; the managed containers keep running."""
        self.end_streams()
        self.watcher.stop()
        self.health.stop()
        self.reconciler.close()
        self.scheduler.shutdown()
        self.store.dispose()


def current_steward() -> Steward:
    return current_app.extensions["steward"]
