"""Status is derived from stored facts: one row per rule of the contract's status table."""
from __future__ import annotations

import pytest

from app.domain.health import Health, assess
from app.status import derive_status


@pytest.mark.parametrize("facts, expected", [
    (dict(enabled=False, container_state="running", health="healthy"), "disabled"),
    (dict(pending_action="restart", container_state="running", health="healthy"), "starting"),
    (dict(pending_action="start", container_state="exited"), "starting"),
    (dict(container_state=None), "stopped"),
    (dict(container_state="exited"), "stopped"),
    (dict(container_state="running", health="unhealthy"), "unhealthy"),
    (dict(container_state="running", health="starting"), "starting"),
    (dict(container_state="running", health=None, has_healthcheck=True), "starting"),
    (dict(container_state="running", health="healthy", has_healthcheck=True), "running"),
    (dict(container_state="running", health=None), "running"),
    (dict(container_state="exited", waiting_for_dependency=True), "starting"),
    (dict(enabled=False, waiting_for_dependency=True), "disabled"),
])
def test_status_rules(facts: dict, expected: str) -> None:
    arguments = dict(enabled=True, pending_action=None, container_state=None, health=None,
                     has_healthcheck=False)
    assert derive_status(**{**arguments, **facts}) == expected


def test_health_needs_consecutive_failures_outside_the_grace_period() -> None:
    health = Health(None)
    health = assess(health, ok=False, detail="refused", in_grace=True, retries=2)
    assert health == Health("starting", 0, "refused")
    health = assess(health, ok=False, detail="refused", in_grace=False, retries=2)
    assert health.state == "starting" and health.failures == 1
    health = assess(health, ok=False, detail="refused", in_grace=False, retries=2)
    assert health == Health("unhealthy", 2, "refused")
    assert assess(health, ok=True, detail="ok", in_grace=False, retries=2) == Health("healthy")
