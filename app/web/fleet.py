"""What the status page shows, read from the store alone: services, summaries, banners.

The page and its live feed both render from `Fleet`, so a badge looks the same whether the
first render or a live update drew it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.desired_state.spec import CATEGORIES
from app.domain.clock import iso
from app.domain.stats import Sample
from app.errors import NotObserved
from app.operations.history import HistoryCache
from app.operations.plan_preview import pending_plan
from app.operations.read_model import ServiceOverview, by_category, list_services
from app.web.view import Headline, Row, headline, history_state, make_row

if TYPE_CHECKING:
    from app.steward import Steward
from app.store.db import StoreProblem
from app.store.models import ServiceRecord
from app.store.rollouts import latest_rollouts
from app.store.runtime import engine_status
from app.store.sync import last_load


@dataclass(frozen=True)
class Banner:
    kind: str  # store, engine, desired-state, failure-limit
    title: str
    lines: tuple[str, ...] = ()


@dataclass(frozen=True)
class Fleet:
    services: tuple[ServiceOverview, ...]
    summary: dict[str, dict[str, int]]
    banners: tuple[Banner, ...]
    state_digest: str | None
    state_loaded_at: datetime | None
    state_revision: str | None = None
    state_dirty: bool | None = None
    #: What a pass would change now (one line each), from the latest observation.
    pending: tuple[str, ...] = ()
    #: The page's view of each service (shown status, reasons, history), in list order.
    rows: tuple[Row, ...] = ()
    #: Each running service's resource samples, oldest first (`app/engine/stats.py`).
    stats: dict[str, tuple[Sample, ...]] = field(default_factory=dict)
    read_at: datetime | None = None

    def by_category(self) -> list[tuple[str, list[ServiceOverview]]]:
        return [(c, [s for s in self.services if s.category == c]) for c in CATEGORIES]

    @property
    def headline(self) -> Headline:
        return headline(self.rows)

    def page_summary(self) -> dict[str, dict[str, int]]:
        """Per category as the page counts: healthy, off (planned) and needing attention;
        the contract's `summary` stays as it is for the API."""
        counts = {c: {"total": 0, "healthy": 0, "off": 0, "attention": 0, "starting": 0}
                  for c in CATEGORIES}
        for row in self.rows:
            bucket = counts[row.service.category]
            bucket["total"] += 1
            key = {"running": "healthy", "off": "off", "starting": "starting"}.get(
                row.shown, "attention")
            bucket[key] += 1
        return counts

    def latest(self, name: str) -> Sample | None:
        samples = self.stats.get(name)
        return samples[-1] if samples else None


def read_for(steward: Steward, now: datetime) -> Fleet:
    """The whole page's data: the fleet, its history strips and its resource figures."""
    with steward.store.reader() as session:
        return read_fleet(session, now, pending_lines(steward), steward.store.problem,
                          history=steward.history,
                          stats=steward.stats.snapshot() if steward.stats else {})


def read_fleet(session: Session, now: datetime, pending: tuple[str, ...] = (),
               store_problem: StoreProblem | None = None, *,
               history: HistoryCache | None = None,
               stats: dict[str, tuple[Sample, ...]] | None = None) -> Fleet:
    """`store_problem`: the database's last failure (`Store.problem`), shown first."""
    services = list_services(session, now)
    histories = history.get(session, now, {s.name: history_state(s) for s in services}) \
        if history is not None else {}
    rows = tuple(make_row(s, histories.get(s.name)) for s in services)
    good, newest = last_load(session, ok=True), last_load(session)
    store = [Banner("store", "Steward's database is failing; actions and healing records "
                             "cannot be saved", (str(store_problem),
                                                 "See /readyz; Steward retries on its own "
                                                 "once the database takes writes again."))
             ] if store_problem else []
    return Fleet(services=tuple(services), summary=by_category(services),
                 banners=tuple(store + _banners(session, services, good, newest)),
                 state_digest=good.digest if good else None,
                 state_loaded_at=good.at if good else None,
                 state_revision=good.revision if good else None,
                 state_dirty=good.dirty if good else None, pending=pending,
                 rows=rows, stats=stats or {}, read_at=now)


def pending_lines(steward: Steward) -> tuple[str, ...]:
    """The steps of the pending plan that would change something, one line each."""
    try:
        the_report = pending_plan(steward)
    except NotObserved:
        return ()
    return tuple(s.render().splitlines()[0] for s in the_report.steps if s.changes_something)


def _banners(session: Session, services: list[ServiceOverview], good, newest) -> list[Banner]:
    banners = []
    engine = engine_status(session)
    if engine is not None and not engine.reachable:
        banners.append(Banner("engine", "Docker engine unreachable", (
            f"{engine.detail}",
            "Steward keeps serving what it last saw and retries on its own; actions wait "
            "until the engine answers again.")))
    if newest is not None and not newest.ok:
        revision = f"revision {good.revision[:12]}" if good and good.revision else \
            f"digest {good.digest[:12]}" if good else ""
        kept = f"the last good state ({revision}, loaded {iso(good.at)}) stays " \
               "in force" if good else "no valid desired state has been loaded yet"
        banners.append(Banner("desired-state", f"Desired-state files are invalid; {kept}",
                              tuple((newest.error or "").splitlines())))
    limited = [s for s in services
               if not s.enabled and (s.disabled_reason or "").startswith("failure limit")]
    if limited:
        banners.append(Banner(
            "failure-limit", f"{len(limited)} service(s) disabled by the failure limit; "
                             "enable them once the cause is fixed",
            tuple(f"{s.display_name} ({s.name}): {s.disabled_reason}" for s in limited)))
    return banners + _failed_rollouts(session, services)


def _failed_rollouts(session: Session, services: list[ServiceOverview]) -> list[Banner]:
    """Services whose last rollout was rolled back (or paused) and is still the desired
    spec: they run their last good spec until the files change or someone retries."""
    rollouts = latest_rollouts(session)
    desired = dict(session.execute(select(ServiceRecord.name, ServiceRecord.spec_hash)).all())
    failed = [(s, rollouts[s.name]) for s in services if s.name in rollouts
              and rollouts[s.name].state in ("rolled_back", "paused")
              and rollouts[s.name].spec_hash == desired.get(s.name)
              and not (rollouts[s.name].reason or "").startswith("superseded")]
    if not failed:
        return []
    return [Banner("rollout", f"{len(failed)} rollout(s) failed; the last good spec keeps "
                              "running until the files change or a retry is asked for",
                   tuple(f"{s.display_name} ({s.name}): rollout of "
                         f"{(r.revision or 'an uncommitted tree')[:12]} {r.state.replace('_', ' ')}"
                         f": {r.reason}; retry: steward retry-rollout {s.name}"
                         for s, r in failed))]


_TICKING = ("uptime_seconds", "observed_at")


def stable_key(row: Row) -> tuple:
    """A row without the fields that change every second: what a live update compares
    (a plain tuple: this runs for every service four times a second)."""
    fields = vars(row.service)
    service = tuple(v for k, v in fields.items() if k not in _TICKING)
    return service, row.shown, row.reasons, row.recovered, row.history
