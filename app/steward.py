"""The running parts of one Steward (store, reconciler, scheduler, health monitor, event
watcher, file watcher and git follower, event pruner, the page's live feed), kept on the app.

Views reach them through `current_steward()`; the background threads start only when
serving, so tests and CLI commands get the same app without a background thread.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Callable, Iterable, Protocol

from app.desired_state.follow import FileWatcher, GitFollower, SyncResult
from app.domain.clock import utcnow
from app.engine.docker_engine import ContainerEvent
from app.engine.stats import StatsCollector
from app.errors import AppError
from app.health.monitor import HealthMonitor
from app.leadership.lease import Leadership
from app.notify.webhooks import Notifier
from app.operations.history import HistoryCache
from app.reconcile.image_check import ImageCheck, check_images
from app.reconcile.reconciler import Reconciler
from app.reconcile.scheduler import ReconcileScheduler
from app.reconcile.watcher import EventWatcher
from app.store.db import Store
from app.store.retention import EventPruner
from app.store.source import record_sync

log = logging.getLogger(__name__)


class Companion(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...


@dataclass
class Steward:
    store: Store
    reconciler: Reconciler
    scheduler: ReconcileScheduler
    health: HealthMonitor
    watcher: EventWatcher
    files: FileWatcher
    #: This replica's side of the lease: only the leader acts (`app/leadership/lease.py`).
    leadership: Leadership
    follower: GitFollower | None = None
    notifier: Notifier | None = None
    #: Prunes the event log every hour (`app/store/retention.py`).
    pruner: EventPruner | None = None
    #: Parts of other packages that run on every replica while Steward does (the page's
    #: live feed), registered with `alongside()`.
    companions: list[Companion] = field(default_factory=list)
    #: CPU and memory samples per service (`app/engine/stats.py`).
    stats: StatsCollector | None = None
    #: How often the registries are asked about image updates (STEWARD_IMAGE_CHECK_INTERVAL).
    image_check_interval: float = 6 * 3600.0
    #: The page's history strips, recomputed as events come (`app/operations/history.py`).
    history: HistoryCache = field(default_factory=HistoryCache)
    #: Called once this replica has stopped acting after losing the lease (`steward serve`
    #: exits, for its supervisor to start it again as a follower).
    after_deposed: Callable[[], None] = lambda: None
    _acting: threading.Lock = field(default_factory=threading.Lock)
    _closing: bool = False

    def __post_init__(self) -> None:
        """Wire the parts that wake passes to the scheduler."""
        self.health.on_change = lambda service: self.trigger([service])
        self.watcher.on_event = self._on_event
        self.watcher.on_resync = self.trigger
        self.files.on_change = self.trigger
        if self.follower is not None:
            self.follower.on_result = self._on_sync

    def start_background(self) -> None:
        """Start what every replica runs (the page's live feed, the stats) and contend for
        the lease: only the leader runs the parts that act (`_lead`)."""
        for companion in self.companions:
            companion.start()
        if self.stats is not None:
            self.stats.start()
        self.leadership.on_elected = lambda: _in_thread(self._lead, "steward-lead")
        self.leadership.on_deposed = lambda reason: _in_thread(self._stand_down,
                                                               "steward-step-down")
        self.leadership.on_requests = self.trigger
        if self.follower is not None:  # a push webhook may reach a follower
            self.leadership.on_push = self.follower.wake
        self.leadership.start()

    def _lead(self) -> None:
        """Start the reconcile job (first pass at once), the monitor, the watchers, the
        notifier and the pruner: the parts that act, run by the leader alone.

        A followed git remote is synced once first, so the first pass has files to load.
        """
        with self._acting:
            if self.leadership.held is not None and not self._closing:
                self._start_acting()

    def _start_acting(self) -> None:
        if self.follower is not None:
            self._on_sync(self.follower.sync())
            self.follower.start()
        self.files.start()
        self.scheduler.every(self.image_check_interval, self._scheduled_image_check,
                             "image-check")
        self.scheduler.start()
        if self.notifier is not None:
            self.notifier.start()
        self.health.start()
        self.watcher.start()
        if self.pruner is not None:
            self.pruner.start()

    def _stand_down(self) -> None:
        """The lease is lost: stop the parts that act, then `after_deposed`."""
        with self._acting:
            self._stop_acting()
        self.after_deposed()

    def check_images(self) -> list[ImageCheck]:
        """Ask the registries whether the services' image tags moved; a pass rolls out the
        updates of `auto_update` services."""
        checks = check_images(self.reconciler.engine, self.store, utcnow)
        if any(c.available for c in checks):
            self.trigger([c.service for c in checks if c.available])
        return checks

    def _scheduled_image_check(self) -> None:
        try:
            self.check_images()
        except AppError as err:  # the engine or a registry is away: next time
            log.warning("image check failed: %s", err)

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

    def alongside(self, companion: Companion) -> None:
        """Run `companion` while Steward runs: started with the background parts, stopped
        first at shutdown."""
        self.companions.append(companion)

    def end_streams(self) -> None:
        """Stop the companions (the page's live streams hold server threads) ahead of
        shutdown."""
        for companion in self.companions:
            companion.stop()

    def shutdown(self) -> None:
        """Stop Steward's own threads and hand the lease back; the managed containers keep
        running. A lease won while shutting down starts nothing."""
        self._closing = True
        self.end_streams()
        if self.stats is not None:
            self.stats.stop()
        with self._acting:
            self._stop_acting()
        self.leadership.stop()
        self.store.dispose()

    def _stop_acting(self) -> None:
        """Stop the parts that act, the passes first; on a follower none of them started."""
        self.reconciler.close()
        self.scheduler.shutdown()
        if self.notifier is not None:
            self.notifier.stop()
        if self.follower is not None:
            self.follower.stop()
        if self.pruner is not None:
            self.pruner.shutdown()
        self.files.stop()
        self.watcher.stop()
        self.health.stop()


def _in_thread(target: Callable[[], None], name: str) -> None:
    """Run `target` apart: the lease loop or executor worker that noticed must not wait."""
    threading.Thread(target=target, name=name, daemon=True).start()
