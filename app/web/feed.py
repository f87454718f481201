"""The live feed behind `/api/system/stream`: one thread watches the store, every browser
waits on it.

While at least one page listens, the feed polls the store (a few milliseconds for hundreds
of services) four times a second,
renders the parts of the page that changed (a service's row, the summary strip, the
banners) with the same templates as the page, and bumps a version. Each stream waits on a
condition for a newer version and sends what changed since the version its browser has,
so a change reaches every page within about half a second, whatever changed the store
(the reconciler, the API, another process). Streams are bounded (how many at once, and for
how long each), send a heartbeat so a vanished browser frees its thread, and end when
Steward shuts down.
"""
from __future__ import annotations

import logging
import secrets
import threading
from dataclasses import dataclass, field
from typing import Callable

from flask import Flask, render_template

from app.support.worker import Worker
from app.web.fleet import Fleet, stable_key

#: Where a cached row has its form tokens and its CPU/memory cell: each page fills in its
#: own session's token, and the cell (which moves every few seconds) comes from its own
#: part, so neither makes a row render again.
CSRF_SLOT = "__csrf__"


def stats_slot(name: str) -> str:
    return f"<!--stats:{name}-->"

log = logging.getLogger(__name__)


@dataclass
class _Part:
    key: object
    html: str
    version: int


@dataclass
class Changes:
    version: int
    epoch: str
    rows: dict[str, str] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)
    summary: str | None = None
    banners: str | None = None
    headline: str | None = None
    title: str | None = None
    level: str | None = None
    #: Each service's CPU and memory cell, apart from its row: it moves every few seconds.
    stats: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"position": f"{self.epoch}:{self.version}", "rows": self.rows,
                "removed": self.removed, "summary": self.summary, "banners": self.banners,
                "headline": self.headline, "title": self.title, "level": self.level,
                "stats": self.stats}


class FleetFeed:
    def __init__(self, app: Flask, read: Callable[[], Fleet], *, max_streams: int,
                 poll_seconds: float = 0.25) -> None:
        self.app = app
        self.read = read
        self.poll_seconds = poll_seconds
        self.version = 0
        #: Tells this process's versions from an earlier one's (event ids are epoch:version).
        self.epoch = secrets.token_hex(4)
        self._rows: dict[str, _Part] = {}
        self._removed: dict[str, int] = {}
        self._summary: _Part | None = None
        self._banners: _Part | None = None
        self._headline: _Part | None = None
        self._stats: dict[str, _Part] = {}
        self._changed = threading.Condition()
        self._worker = Worker("steward-feed", self._loop, wake=self._notify_all)
        self._slots = threading.BoundedSemaphore(max_streams)
        self._streams = 0

    @property
    def stopped(self) -> bool:
        return self._worker.stopping.is_set()

    @property
    def running(self) -> bool:
        """Started and not stopped: only then does a stream get updates."""
        return self._worker.running and not self.stopped

    def start(self) -> None:
        self.refresh()
        self._worker.start()

    def _loop(self) -> None:
        while not self._worker.stopping.wait(self.poll_seconds):
            if self._streams == 0:
                continue  # nobody watches: do not read the store for nothing
            try:
                self.refresh()
            except Exception:  # noqa: BLE001 - the feed must outlive a failed read
                log.exception("live feed could not read the store; trying again")

    def refresh(self) -> None:
        """Read the fleet, re-render what changed, and wake the streams if anything did."""
        fleet = self.read()
        with self.app.test_request_context("/"), self._changed:
            if self._update(fleet):
                self._changed.notify_all()

    def _update(self, fleet: Fleet) -> bool:
        next_version = self.version + 1
        changed = False
        names = set()
        for row in fleet.rows:
            names.add(row.name)
            key = stable_key(row)
            part = self._rows.get(row.name)
            if part is None or part.key != key:
                html = render_template("_service_row.html", row=row, fleet=fleet,
                                       csrf=CSRF_SLOT, stats_slot=True)
                self._rows[row.name] = _Part(key, html, next_version)
                self._removed.pop(row.name, None)
                changed = True
            samples = fleet.stats.get(row.name, ())
            stats = self._stats.get(row.name)
            if stats is None or stats.key != samples[-1:]:
                self._stats[row.name] = _Part(samples[-1:], render_template(
                    "_stats.html", fleet=fleet, name=row.name), next_version)
                changed = changed or stats is not None
        for gone in set(self._rows) - names:
            del self._rows[gone]
            self._stats.pop(gone, None)
            self._removed[gone] = next_version
            changed = True
        summary_key = (fleet.page_summary(),)
        if self._summary is None or self._summary.key != summary_key:
            self._summary = _Part(summary_key, render_template("_summary.html", fleet=fleet),
                                  next_version)
            changed = True
        head = fleet.headline
        if self._headline is None or self._headline.key != head:
            self._headline = _Part(head, render_template("_headline.html", fleet=fleet,
                                                         filters=None), next_version)
            changed = True
        if self._banners is None or self._banners.key != fleet.banners:
            self._banners = _Part(fleet.banners, render_template("_banners.html", fleet=fleet),
                                  next_version)
            changed = True
        if changed:
            self.version = next_version
        return changed

    def rows_html(self, fleet: Fleet) -> dict[str, str]:
        """Every row of `fleet` as HTML, rendering only rows that changed since the feed
        last looked (the page and the streams share the work); the CSRF slot is left for
        the caller to fill."""
        with self._changed:
            if self._update(fleet):
                self._changed.notify_all()
            return {name: self._row_html(name) for name in self._rows}

    def _row_html(self, name: str) -> str:
        stats = self._stats.get(name)
        return self._rows[name].html.replace(stats_slot(name), stats.html if stats else "")

    def position(self) -> str:
        """Where a page rendered now stands, as an event id: `epoch:version`."""
        return f"{self.epoch}:{self.version}"

    def seen_version(self, position: str) -> int:
        """The version a page's `epoch:version` stands for; 0 (everything) if it comes
        from another run of Steward or makes no sense."""
        epoch, _, version = position.partition(":")
        if epoch != self.epoch or not version.isdigit() or int(version) > self.version:
            return 0
        return int(version)

    def changes_since(self, seen: int) -> Changes:
        """Everything newer than version `seen`."""
        with self._changed:
            changes = Changes(self.version, self.epoch)
            changes.rows = {n: self._row_html(n) for n, p in self._rows.items()
                            if p.version > seen}
            changes.removed = [n for n, v in self._removed.items() if v > seen]
            if self._summary and self._summary.version > seen:
                changes.summary = self._summary.html
            if self._banners and self._banners.version > seen:
                changes.banners = self._banners.html
            if self._headline and self._headline.version > seen:
                head = self._headline.key
                changes.headline, changes.title, changes.level = \
                    self._headline.html, head.title, head.level
            changes.stats = {n: p.html for n, p in self._stats.items()
                             if p.version > seen and n not in changes.rows}
            return changes

    def wait(self, seen: int, timeout: float) -> int:
        """Block until the version moves past `seen`, the timeout passes, or Steward stops."""
        with self._changed:
            self._changed.wait_for(lambda: self.version != seen or self.stopped, timeout)
        return self.version

    def open_stream(self) -> bool:
        """Take one of the bounded stream slots; False when all are taken. The first stream
        after an idle spell brings the feed up to date before it starts."""
        if not self._slots.acquire(blocking=False):
            return False
        with self._changed:
            self._streams += 1
        try:
            self.refresh()
        except Exception:  # noqa: BLE001 - the stream still works from the last refresh
            log.exception("live feed could not read the store; trying again")
        return True

    def close_stream(self) -> None:
        with self._changed:
            self._streams -= 1
        self._slots.release()

    def stop(self) -> None:
        self._worker.stop()

    def _notify_all(self) -> None:
        """Wake every stream waiting for a change, so each sees the feed stopping."""
        with self._changed:
            self._changed.notify_all()
