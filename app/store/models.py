"""SQLAlchemy models: desired specs, runtime state, the event log, loads and engine status.

The API and the status page answer from these tables alone; only the reconciler writes
what it observed in Docker here, so a request never waits on the engine.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator):
    """Store naive UTC, hand back aware UTC: SQLite keeps no time zone of its own."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use timezone-aware UTC")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return value.replace(tzinfo=timezone.utc) if value is not None else None


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class ServiceRecord(Base):
    """The last valid desired spec of one service, as loaded from its file."""

    __tablename__ = "services"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    category: Mapped[str] = mapped_column(String(32))
    display_name: Mapped[str] = mapped_column(String(200))
    spec: Mapped[dict] = mapped_column(JSON)
    spec_hash: Mapped[str] = mapped_column(String(64))
    source_file: Mapped[str] = mapped_column(String(500))
    source_line: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RuntimeState(Base):
    """What Steward knows and has decided about one service at run time."""

    __tablename__ = "runtime_state"

    service: Mapped[str] = mapped_column(String(64), primary_key=True)
    enabled: Mapped[bool] = mapped_column(default=True)
    spec_enabled: Mapped[bool] = mapped_column(default=True)
    manually_stopped: Mapped[bool] = mapped_column(default=False)
    pending_action: Mapped[str | None] = mapped_column(String(16))
    #: Bumped by every operator action; a pass acts only on what it planned with.
    request_version: Mapped[int] = mapped_column(default=0)
    failure_count: Mapped[int] = mapped_column(default=0)
    restart_count: Mapped[int] = mapped_column(default=0)
    last_restart_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_failure_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_failure: Mapped[str | None] = mapped_column(Text)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    error_count: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    container_id: Mapped[str | None] = mapped_column(String(64))
    container_state: Mapped[str | None] = mapped_column(String(32))
    health: Mapped[str | None] = mapped_column(String(16))
    health_failures: Mapped[int] = mapped_column(default=0)
    health_output: Mapped[str | None] = mapped_column(Text)
    exit_code: Mapped[int | None] = mapped_column(Integer)
    oom_killed: Mapped[bool] = mapped_column(default=False)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    observed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: ISO times the health check result flipped (pass <-> fail), newest last, bounded.
    health_transitions: Mapped[list] = mapped_column(JSON, default=list)
    flapping_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: What the service waits for right now (backoff, dependency, pause, retry), and until when.
    wait_kind: Mapped[str | None] = mapped_column(String(16))
    wait_reason: Mapped[str | None] = mapped_column(Text)
    wait_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Container fields that differ from the desired spec (the next pass recreates it).
    drift: Mapped[list | None] = mapped_column(JSON)
    #: The full spec the service's container was last made from (for `steward rollback`).
    applied_spec: Mapped[dict | None] = mapped_column(JSON)
    #: An operator's rollback: this spec runs instead of the desired one while the desired
    #: spec's hash is still `pinned_for_hash`.
    pinned_spec: Mapped[dict | None] = mapped_column(JSON)
    pinned_for_hash: Mapped[str | None] = mapped_column(String(64))
    #: The registry digest the container's image was pulled as, the newer one the registry
    #: has for the same tag (None when up to date), and when and how that was last asked.
    image_digest: Mapped[str | None] = mapped_column(String(100))
    available_digest: Mapped[str | None] = mapped_column(String(100))
    image_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    image_check_error: Mapped[str | None] = mapped_column(Text)
    #: On Swarm: running/desired replicas ("2/3") and each task's node, slot and state, as
    #: last observed (stored, so every replica's API and page show them); failed tasks
    #: count toward the limit only after `failures_counted_since` (a stable period's reset).
    replicas: Mapped[str | None] = mapped_column(String(16))
    tasks: Mapped[list | None] = mapped_column(JSON)
    failures_counted_since: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Rollout(Base):
    """One health-gated replacement of a running service's container, and how it ended."""

    __tablename__ = "rollouts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    service: Mapped[str] = mapped_column(String(64), index=True)
    #: in_progress, succeeded, rolled_back or paused
    state: Mapped[str] = mapped_column(String(16))
    #: start-first or stop-first
    strategy: Mapped[str] = mapped_column(String(16))
    spec_hash: Mapped[str] = mapped_column(String(64))
    revision: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reason: Mapped[str | None] = mapped_column(Text)
    candidate_id: Mapped[str | None] = mapped_column(String(64))
    old_id: Mapped[str | None] = mapped_column(String(64))
    #: Since when the new container has passed its check without a break (the gate).
    healthy_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The spec the old container ran, kept when the rollout succeeds.
    previous_spec: Mapped[dict | None] = mapped_column(JSON)
    #: The registry digest rolled out, when the rollout is an image update of the same spec.
    image_digest: Mapped[str | None] = mapped_column(String(100))


class Pause(Base):
    """Self-healing paused for one service or one category until a given time (maintenance)."""

    __tablename__ = "pauses"
    __table_args__ = (UniqueConstraint("scope", "target"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    scope: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(64))
    until: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Event(Base):
    """Append-only log of what happened to which service, when and why."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    service: Mapped[str | None] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(64), default="reconciler", index=True)
    #: Where the actor was: an address for API and page requests, `local` for Steward.
    origin: Mapped[str | None] = mapped_column(String(64))


class DesiredStateLoad(Base):
    """One attempt to load `desired_state/`; the newest ok row is the state in force."""

    __tablename__ = "desired_state_loads"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    digest: Mapped[str] = mapped_column(String(64))
    ok: Mapped[bool]
    services: Mapped[int] = mapped_column(default=0)
    prune: Mapped[bool] = mapped_column(default=False)
    error: Mapped[str | None] = mapped_column(Text)
    #: The git commit the files came from, and whether the work tree had local changes.
    revision: Mapped[str | None] = mapped_column(String(64))
    dirty: Mapped[bool | None]


class Apply(Base):
    """One pass that was asked for (CLI, API) or that changed containers, and its result."""

    __tablename__ = "applies"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str | None] = mapped_column(String(64))
    revision: Mapped[str | None] = mapped_column(String(64))
    dirty: Mapped[bool | None]
    digest: Mapped[str | None] = mapped_column(String(64))
    ok: Mapped[int] = mapped_column(default=0)
    changed: Mapped[int] = mapped_column(default=0)
    failed: Mapped[int] = mapped_column(default=0)
    skipped: Mapped[int] = mapped_column(default=0)
    result: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str] = mapped_column(Text, default="")


class SourceStatus(Base):
    """The followed git remote (STEWARD_GIT_URL): the last fetch and what it brought (one row)."""

    __tablename__ = "source_status"

    id: Mapped[int] = mapped_column(primary_key=True)
    remote: Mapped[str] = mapped_column(String(500))
    branch: Mapped[str] = mapped_column(String(200))
    commit: Mapped[str | None] = mapped_column(String(64))
    ok: Mapped[bool]
    detail: Mapped[str | None] = mapped_column(Text)
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime)


class EngineStatus(Base):
    """Whether the container engine answered the last time Steward asked (one row)."""

    __tablename__ = "engine_status"

    id: Mapped[int] = mapped_column(primary_key=True)
    reachable: Mapped[bool]
    detail: Mapped[str | None] = mapped_column(Text)
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Delivery(Base):
    """One webhook message and how its delivery went (attempts, outcome, last error)."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    url: Mapped[str] = mapped_column(String(500))
    event: Mapped[str] = mapped_column(String(32))
    service: Mapped[str | None] = mapped_column(String(64))
    payload: Mapped[dict] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16))  # pending, delivered, failed
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Lease(Base):
    """Which Steward replica may act on the engine (one row per lease, `app/leadership/lease.py`).

    `epoch` grows with every change of holder: it is the fencing token a leader's writes
    are checked against, so a leader that lost the lease cannot act on a stale belief.
    """

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    epoch: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    renewed_at: Mapped[datetime] = mapped_column(UTCDateTime)
