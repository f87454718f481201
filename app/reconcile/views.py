"""The runtime facts the planner reads, as a frozen value (the store's rows stay in the store)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


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
