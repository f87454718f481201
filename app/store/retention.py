"""Event retention: an APScheduler job that prunes the event log every hour.

Events older than `STEWARD_EVENT_RETENTION_DAYS` (default 30) go, and then all but the
newest `STEWARD_EVENT_MAX_ROWS` (default 100,000), so neither time nor a flood of refused
requests grows the table without bound. Sign-outs younger than a page session's lifetime
are kept whatever the cap says: they are what revokes sessions (`app/auth/access.py`); so are
the events the page's history is folded from, for the history's 30 days
(`app/operations/history.py`), so a flood of refusals cannot erase a month of uptime.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Callable, Collection

from apscheduler.schedulers.background import BackgroundScheduler

from app.store.db import Store
from app.store.events import prune_events

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 3600


class EventPruner:
    def __init__(self, store: Store, *, retention_days: float, max_rows: int,
                 session_lifetime: timedelta, clock: Callable[[], datetime],
                 history_kinds: Collection[str] = (), history_days: float = 30) -> None:
        self.store = store
        self.history_kinds = history_kinds
        self.history = timedelta(days=history_days)
        self.retention = timedelta(days=retention_days)
        self.max_rows = max_rows
        self.session_lifetime = session_lifetime
        self.clock = clock
        self._scheduler = BackgroundScheduler(timezone=timezone.utc)

    def prune(self) -> int:
        """Prune once; return how many events went."""
        now = self.clock()
        with self.store.session() as session:
            deleted = prune_events(session, before=now - self.retention, max_rows=self.max_rows,
                                   keep_sign_outs_since=now - self.session_lifetime,
                                   keep_kinds=self.history_kinds,
                                   keep_kinds_since=now - self.history)
        if deleted:
            log.info("pruned %d event(s): older than %s day(s), or past the newest %d",
                     deleted, f"{self.retention.total_seconds() / 86400:g}", self.max_rows)
        return deleted

    def start(self) -> None:
        """Prune now and then every hour; a run that fails is logged and tried again."""
        self._scheduler.add_job(self._run, "interval", seconds=INTERVAL_SECONDS,
                                id="prune-events", max_instances=1, coalesce=True,
                                next_run_time=datetime.now(timezone.utc))
        self._scheduler.start()

    def _run(self) -> None:
        try:
            self.prune()
        except Exception:  # noqa: BLE001 - the next run tries again
            log.exception("pruning the event log failed; trying again in an hour")

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
