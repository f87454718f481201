"""Derive a service's contract status from stored facts; status is never stored by hand.

`running` means up and healthy (or without a health check); `starting` covers a requested
start or restart not yet carried out, a service waiting for a dependency to run, and a
health check still inside its grace period.
"""
from __future__ import annotations

from typing import Literal

Status = Literal["running", "stopped", "starting", "unhealthy", "disabled"]
STATUSES: tuple[Status, ...] = ("running", "stopped", "starting", "unhealthy", "disabled")


def derive_status(*, enabled: bool, pending_action: str | None, container_state: str | None,
                  health: str | None, has_healthcheck: bool,
                  waiting_for_dependency: bool = False) -> Status:
    """The first rule that matches wins; the order is the contract's precedence."""
    if not enabled:
        return "disabled"
    if pending_action in ("start", "restart") or waiting_for_dependency:
        return "starting"
    if container_state != "running":
        return "stopped"
    if health == "unhealthy":
        return "unhealthy"
    if health == "starting" or (has_healthcheck and health is None):
        return "starting"
    return "running"
