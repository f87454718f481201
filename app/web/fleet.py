"""What the status page shows, read from the store alone: services, summaries, banners.

The page and its live feed both render from `Fleet`, so a badge looks the same whether the
first render or a live update drew it.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from app.desired_state.spec import CATEGORIES
from app.overview import ServiceOverview, by_category, list_services
from app.pending import NotObserved, pending_plan

if TYPE_CHECKING:
    from app.steward import Steward
from app.store.db import StoreProblem
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

    def by_category(self) -> list[tuple[str, list[ServiceOverview]]]:
        return [(c, [s for s in self.services if s.category == c]) for c in CATEGORIES]


def read_fleet(session: Session, now: datetime, pending: tuple[str, ...] = (),
               store_problem: StoreProblem | None = None) -> Fleet:
    """`store_problem`: the database's last failure (`Store.problem`), shown first."""
    services = list_services(session, now)
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
                 state_dirty=good.dirty if good else None, pending=pending)


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
        kept = f"the last good state ({revision}, loaded {_iso(good.at)}) stays " \
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
    return banners


def stable_key(service: ServiceOverview) -> ServiceOverview:
    """A service without the fields that change every second: what a live update compares."""
    return replace(service, uptime_seconds=None, observed_at=None)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
