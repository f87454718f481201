"""The read model the API and the status page share: each service as the contract shows it.

Built from the store alone (specs + runtime rows) and the clock, so answering a request never
waits on Docker.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from app.desired_state.spec import CATEGORIES, RestartPolicy, describe_gpus
from app.reconcile.policy import was_flapping
from app.status import Status, derive_status
from app.store.models import Rollout, RuntimeState, ServiceRecord
from app.store.pauses import pauses_by_service
from app.store.rollouts import latest_rollout


@dataclass(frozen=True)
class ServiceOverview:
    name: str
    display_name: str
    category: str
    status: Status
    enabled: bool
    manually_stopped: bool
    container_running: bool
    container_id: str | None
    image: str
    port: int | None
    failure_count: int
    restart_count: int
    last_restart_at: datetime | None
    uptime_seconds: int | None
    last_failure: str | None
    last_failure_at: datetime | None
    disabled_reason: str | None
    last_error: str | None
    health: str | None
    health_output: str | None
    next_restart_at: datetime | None
    waiting_for: str | None
    wait_reason: str | None
    wait_until: datetime | None
    flapping: bool
    paused_until: datetime | None
    pause_reason: str | None
    observed_at: datetime | None
    source_file: str
    gpus: tuple[str, ...] = ()
    networks: tuple[str, ...] = ()
    rollout: dict | None = None
    image_digest: str | None = None
    update_available: str | None = None
    image_checked_at: datetime | None = None
    #: For the page: what an operator asked for and the current run's facts.
    pending_action: str | None = None
    container_state: str | None = None
    started_at: datetime | None = None
    exit_code: int | None = None
    oom_killed: bool = False
    #: On Swarm, running/desired replicas ("2/3"); None on the docker engine.
    replicas: str | None = None


def overview_of(record: ServiceRecord | Row, runtime: RuntimeState | Row, now: datetime,
                pause: tuple[datetime, str | None] | None = None, *,
                spec: dict | None = None) -> ServiceOverview:
    """One service as the contract shows it; uptime counts only while it is `running`.
    `spec`: the record's spec, when the caller has it decoded already."""
    spec = record.spec if spec is None else spec
    status = derive_status(enabled=runtime.enabled, pending_action=runtime.pending_action,
                           container_state=runtime.container_state, health=runtime.health,
                           has_healthcheck=spec.get("healthcheck") is not None,
                           waiting_for_dependency=runtime.wait_kind == "dependency")
    window = spec["restart"].get("flap_window", RestartPolicy.flap_window)
    paused_until, pause_reason = pause or (None, None)
    uptime = None
    if status == "running" and runtime.started_at is not None:
        uptime = max(0, int((now - runtime.started_at).total_seconds()))
    return ServiceOverview(
        name=record.name, display_name=record.display_name, category=record.category,
        status=status, enabled=runtime.enabled, manually_stopped=runtime.manually_stopped,
        container_running=runtime.container_state == "running",
        container_id=runtime.container_id[:12] if runtime.container_id else None,
        image=spec["image"], port=spec.get("port"), failure_count=runtime.failure_count,
        restart_count=runtime.restart_count, last_restart_at=runtime.last_restart_at,
        uptime_seconds=uptime, last_failure=runtime.last_failure,
        last_failure_at=runtime.last_failure_at, disabled_reason=runtime.disabled_reason,
        last_error=runtime.last_error, health=runtime.health,
        health_output=runtime.health_output,
        next_restart_at=runtime.wait_until if runtime.wait_kind == "backoff" else None,
        waiting_for=runtime.wait_kind, wait_reason=runtime.wait_reason,
        wait_until=runtime.wait_until,
        flapping=was_flapping(runtime.flapping_at, window, now),
        paused_until=paused_until, pause_reason=pause_reason,
        observed_at=runtime.observed_at, source_file=record.source_file,
        image_digest=runtime.image_digest, update_available=runtime.available_digest,
        image_checked_at=runtime.image_checked_at,
        gpus=tuple(describe_gpus(spec.get("gpus"))),
        networks=tuple(n["name"] for n in spec.get("networks") or ()),
        pending_action=runtime.pending_action, container_state=runtime.container_state,
        started_at=runtime.started_at,
        exit_code=runtime.exit_code, oom_killed=bool(runtime.oom_killed),
        replicas=runtime.replicas,
    )


#: Columns the list does not need: the large JSON documents, decoded on every read.
_HEAVY = frozenset({"spec", "health_transitions", "drift", "applied_spec", "pinned_spec"})
_LIST_COLUMNS = [c for c in (*ServiceRecord.__table__.c, *RuntimeState.__table__.c)
                 if c.name not in _HEAVY]
#: Decoded specs by (database, name, spec hash, time stored): a spec changes only when the
#: files do, and every change stores a new time.
_SPECS: dict[tuple, dict] = {}
_SPECS_KEPT = 4096


def list_services(session: Session, now: datetime, category: str | None = None
                  ) -> list[ServiceOverview]:
    """Every service, infrastructure first, then ai, then monitoring, each by name.

    Plain rows rather than ORM objects: this is the hottest read (every list call, every
    page, the live feed). Rows carry the same attributes at a fraction of the cost, and
    each spec is decoded once per version rather than on every read.
    """
    query = (select(*_LIST_COLUMNS)
             .join(RuntimeState, RuntimeState.service == ServiceRecord.name))
    if category is not None:
        query = query.where(ServiceRecord.category == category)
    pauses = pauses_by_service(session, now)
    rows = session.execute(query).all()
    specs = _specs(session, rows)
    services = [overview_of(row, row, now, pauses.get(row.name), spec=specs[row.name])
                for row in rows if row.name in specs]
    rank = {c: i for i, c in enumerate(CATEGORIES)}
    return sorted(services, key=lambda s: (rank.get(s.category, 99), s.name))


def _specs(session: Session, rows: list[Row]) -> dict[str, dict]:
    """Each row's spec by service name, decoding only those not seen before. A service
    removed between the two reads is left out (the next read will not list it either)."""
    global _SPECS
    cache, database = _SPECS, str(session.get_bind().url)
    key = {row.name: (database, row.name, row.spec_hash, row.updated_at) for row in rows}
    found = {name: cache[k] for name, k in key.items() if k in cache}
    missing = [name for name in key if name not in found]
    if missing:
        for name, spec in session.execute(select(ServiceRecord.name, ServiceRecord.spec)
                                          .where(ServiceRecord.name.in_(missing))):
            found[name] = spec
        if len(cache) > _SPECS_KEPT:
            _SPECS = cache = {}  # a new dict: a reader holding the old one is not disturbed
        cache.update((key[name], found[name]) for name in missing if name in found)
    return found


def get_service(session: Session, name: str, now: datetime) -> ServiceOverview | None:
    record = session.get(ServiceRecord, name)
    runtime = session.get(RuntimeState, name)
    if record is None or runtime is None:
        return None
    service = overview_of(record, runtime, now, pauses_by_service(session, now).get(name))
    return replace(service, rollout=rollout_summary(latest_rollout(session, name)))


def rollout_summary(row: Rollout | None) -> dict | None:
    """The service's newest rollout as the detail endpoint shows it."""
    if row is None:
        return None
    return {"state": row.state, "strategy": row.strategy, "revision": row.revision,
            "spec_hash": row.spec_hash, "started_at": row.started_at,
            "finished_at": row.finished_at, "reason": row.reason}


def by_category(services: list[ServiceOverview]) -> dict[str, dict[str, int]]:
    """Totals per category, always all three; healthy means status `running`."""
    summary = {c: {"total": 0, "healthy": 0, "unhealthy": 0} for c in CATEGORIES}
    for service in services:
        counts = summary[service.category]
        counts["total"] += 1
        counts["healthy" if service.status == "running" else "unhealthy"] += 1
    return summary
