"""Turn probe results into a health state: grace period first, then a failure threshold.

Pure: the caller passes the previous state, the probe result and whether the container is
still inside its start period, so a single failed probe never flips a service to unhealthy.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Health:
    state: str | None
    failures: int = 0
    output: str | None = None


def assess(previous: Health, *, ok: bool, detail: str, in_grace: bool, retries: int) -> Health:
    """The next health after one probe; `retries` failures in a row make it unhealthy."""
    if ok:
        return Health("healthy", 0, None)
    if in_grace:
        return Health("starting", 0, detail)
    failures = previous.failures + 1
    if failures >= retries:
        return Health("unhealthy", failures, detail)
    return Health(previous.state or "starting", failures, detail)
