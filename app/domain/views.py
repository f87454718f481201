"""The runtime facts the planner reads, as a frozen value (the store's rows stay in the store)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app.desired_state.spec import ServiceSpec


@dataclass(frozen=True)
class RolloutView:
    """The service's latest rollout, as the planner needs it."""

    state: str
    strategy: str
    spec_hash: str
    started_at: datetime
    candidate_id: str | None = None
    old_id: str | None = None
    healthy_since: datetime | None = None
    reason: str | None = None
    #: The registry digest rolled out, when it is an image update of the same spec.
    image_digest: str | None = None

    @property
    def active(self) -> bool:
        """In progress, or paused with its containers left in place."""
        return self.state in ("in_progress", "paused")

    @property
    def failed_hash(self) -> str | None:
        """The spec hash this rollout proved bad: not tried again until asked."""
        superseded = (self.reason or "").startswith("superseded")
        failed = self.state in ("rolled_back", "paused") and not superseded
        return self.spec_hash if failed and self.image_digest is None else None

    @property
    def failed_digest(self) -> str | None:
        """The image digest this rollout proved bad, when it was an image update."""
        superseded = (self.reason or "").startswith("superseded")
        failed = self.state in ("rolled_back", "paused") and not superseded
        return self.image_digest if failed else None


@dataclass(frozen=True)
class RuntimeView:
    enabled: bool = True
    manually_stopped: bool = False
    pending_action: str | None = None
    request_version: int = 0
    failure_count: int = 0
    restart_count: int = 0
    last_restart_at: datetime | None = None
    last_failure_at: datetime | None = None
    error_count: int = 0
    last_error_at: datetime | None = None
    container_state: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    health: str | None = None
    health_failures: int = 0
    health_output: str | None = None
    #: When the health check result flipped between passing and failing, oldest first.
    health_transitions: tuple[datetime, ...] = ()
    flapping_at: datetime | None = None
    paused_until: datetime | None = None
    pause_reason: str | None = None
    rollout: RolloutView | None = None
    #: An operator's rollback: the spec to run instead of the desired one (see the store).
    pinned_spec: ServiceSpec | None = None
    #: A newer digest of the image's tag in its registry (`app/reconcile/image_check.py`).
    available_digest: str | None = None
