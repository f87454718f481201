"""The running parts of one Steward (store, reconciler, scheduler, health monitor, event
watcher, file watcher and git follower, event pruner, the page's live feed), kept on the app.

Views reach them through `current_steward()`; the background threads start only when
serving, so tests and CLI commands get the same app without a background thread.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from flask import current_app

from app.desired_state.follow import FileWatcher, GitFollower, SyncResult
from app.engine.docker_engine import ContainerEvent
from app.engine.stats import StatsCollector
from app.health.monitor import HealthMonitor
from app.history import HistoryCache
from app.notify import Notifier
from app.reconcile.reconciler import Reconciler, utcnow
from app.reconcile.scheduler import ReconcileScheduler
from app.reconcile.watcher import EventWatcher
from app.retention import EventPruner
from app.store.db import Store
from app.store.source import record_sync
from app.web.feed import FleetFeed

__all__ = ["Steward", "current_steward", "utcnow"]


@dataclass
class Steward:
    store: Store
    reconciler: Reconciler
    scheduler: ReconcileScheduler
    health: HealthMonitor
    watcher: EventWatcher
    files: FileWatcher
    follower: GitFollower | None = None
    notifier: Notifier | None = None
    #: Prunes the event log every hour (`app/retention.py`).
    pruner: EventPruner | None = None
    #: The status page's live feed; set by the app factory (`app/web/feed.py`).
    feed: FleetFeed | None = None
    #: The Prometheus registry `/metrics` serves; set by the app factory.
    metrics: Any = None
    #: The serialised service list (`app/api/services/cache.py`); set by the app factory.
    service_list: Any = None
    #: CPU and memory samples per service (`app/engine/stats.py`).
    stats: StatsCollector | None = None
    #: The page's history strips, recomputed as events come (`app/history.py`).
    history: HistoryCache = field(default_factory=HistoryCache)

    def __post_init__(self) -> None:
        """Wire the parts that wake passes to the scheduler."""
        self.health.on_change = lambda service: self.trigger([service])
        self.watcher.on_event = self._on_event
        self.watcher.on_resync = self.trigger
        self.files.on_change = self.trigger
        if self.follower is not None:
            self.follower.on_result = self._on_sync

    def start_background(self) -> None:
        """Start the reconcile job (first pass at once), the monitor, the watchers, the feed.

        A followed git remote is synced once first, so the first pass has files to load.
        """
        if self.follower is not None:
            self._on_sync(self.follower.sync())
            self.follower.start()
        self.files.start()
        self.scheduler.start()
        if self.notifier is not None:
            self.notifier.start()
        self.health.start()
        self.watcher.start()
        if self.pruner is not None:
            self.pruner.start()
        if self.feed is not None:
            self.feed.start()
        if self.stats is not None:
            self.stats.start()

    def trigger(self, only: Iterable[str] | None = None) -> None:
        """Ask for a pass now; without the scheduler (CLI, tests) the next explicit pass acts."""
        self.scheduler.trigger(only)

    def _on_sync(self, result: SyncResult) -> None:
        with self.store.session() as session:
            record_sync(session, remote=self.follower.shown_url, branch=self.follower.branch,
                        result=result, now=utcnow())
        if result.moved:
            self.trigger()

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
        if self.stats is not None:
            self.stats.stop()
        if self.notifier is not None:
            self.notifier.stop()
        if self.follower is not None:
            self.follower.stop()
        if self.pruner is not None:
            self.pruner.shutdown()
        self.files.stop()
        self.watcher.stop()
        self.health.stop()
        self.reconciler.close()
        self.scheduler.shutdown()
        self.store.dispose()


def current_steward() -> Steward:
    return current_app.extensions["steward"]
