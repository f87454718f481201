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
    health: str | None = None
    health_output: str | None = None
