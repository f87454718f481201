"""The changes a pass would make now, computed without Docker: the desired state and runtime
state from the store, the containers from the reconciler's latest observation.

`GET /api/system/plan` and the status page show this; `steward plan` makes the same report
from the files on disk and a fresh look at Docker.
"""
from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from sqlalchemy import inspect
from sqlalchemy.exc import SQLAlchemyError

from app.desired_state import LoadSettings, load_directory
from app.desired_state.age_secrets import Keyring
from app.domain.clock import utcnow
from app.domain.views import RuntimeView
from app.engine.base import kind_of, make_engine
from app.errors import NotObserved
from app.reconcile.fleet import judge
from app.reconcile.plan import plan
from app.reconcile.report import PlanReport, report
from app.store.db import Store
from app.store.runtime import runtime_views
from app.store.sync import stored_desired_state

if TYPE_CHECKING:
    from app.steward import Steward


def pending_plan(steward: Steward) -> PlanReport:
    observed = steward.reconciler.last_observed
    if observed is None:
        raise NotObserved("Steward has not been able to look at Docker yet (starting, or the "
                          "engine is unreachable); try again shortly")
    now = utcnow()
    with steward.store.reader() as session:
        desired = stored_desired_state(session)
        views = runtime_views(session, now)
    seen = judge(desired, observed, views)
    the_plan = plan(desired, seen, now, stable_period=steward.reconciler.stable_period,
                    engine_updates=kind_of(steward.reconciler.engine) == "swarm")
    return report(the_plan, desired, seen)


def check_plan(desired_dir: Path, config: Mapping[str, Any]) -> PlanReport:
    """Check mode: what a pass would do for the files in `desired_dir` as they are now.

    Changes nothing: the files are validated (DesiredStateError), Docker is listed
    (EngineUnavailable), and the store, if there is one, is only read.
    """
    desired = load_directory(desired_dir, LoadSettings.from_config(config))
    engine = make_engine(config.get("ENGINE", "docker"), instance=config["INSTANCE"],
                         timeout=config["DOCKER_TIMEOUT"], secrets=Keyring())
    try:
        observed = engine.observe()
        networks = engine.observe_networks()
    finally:
        engine.close()
    now = utcnow()
    views = _stored_views(config["DATABASE_URL"], now)
    seen = judge(desired, observed, views, networks)
    the_plan = plan(desired, seen, now, stable_period=config["STABLE_PERIOD"],
                    engine_updates=engine.kind == "swarm")
    return report(the_plan, desired, seen)


def _stored_views(url: str, now: datetime) -> dict[str, RuntimeView]:
    """Runtime state from the store without creating or migrating anything; none if absent."""
    if url.startswith("sqlite") and not Path(url.split("///", 1)[-1]).is_file():
        return {}
    store = Store(url)
    try:
        if not inspect(store.engine).has_table("runtime_state"):
            return {}
        with store.reader() as session:
            return runtime_views(session, now)
    except SQLAlchemyError:
        return {}
    finally:
        store.dispose()
