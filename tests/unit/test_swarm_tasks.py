"""Swarm tasks -> the contract's status, table-driven: a service and its tasks become one
observation (app/engine/swarm_tasks.py), whose state and health `derive_status` reads."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from app.engine.swarm_tasks import observe_service, service_state
from app.status import derive_status

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
GRACE = timedelta(seconds=30)


def at(seconds_ago: float) -> str:
    return (NOW - timedelta(seconds=seconds_ago)).isoformat().replace("+00:00", "Z")


def task(state: str, slot: int, seconds_ago: float, container: str = "", desired: str =
         "running", err: str = "", code: int | None = None,
         created_ago: float | None = None) -> dict:
    """A task whose state changed `seconds_ago` (created then too, unless `created_ago`)."""
    return {"Slot": slot, "NodeID": "node1", "DesiredState": desired,
            "CreatedAt": at(seconds_ago if created_ago is None else created_ago), "Status": {
                "State": state, "Timestamp": at(seconds_ago), "Err": err,
                "ContainerStatus": {"ContainerID": container, "ExitCode": code}}}


def swarm_service(replicas: int, updated_ago: float = 600, check: bool = False) -> dict:
    spec = {"Name": "t_web", "Mode": {"Replicated": {"Replicas": replicas}},
            "Labels": {"io.steward.service": "web", "io.steward.spec-hash": "h1"},
            "TaskTemplate": {"ContainerSpec": {"Image": "img:1", **(
                {"Healthcheck": {"Test": ["CMD", "true"]}} if check else {})}}}
    return {"ID": "svc1", "Spec": spec, "UpdatedAt": at(updated_ago), "CreatedAt": at(900)}


def status(observed, enabled: bool = True) -> str:
    return derive_status(enabled=enabled, pending_action=None,
                         container_state=observed.state, health=observed.health,
                         has_healthcheck=False)


@pytest.mark.parametrize("desired, running, down_ago, expected", [
    (2, 2, None, ("running", "healthy")),
    (2, 1, 5, ("running", "starting")),     # a replica is being replaced
    (2, 1, 31, ("running", "unhealthy")),   # down past the grace period
    (2, 0, 5, ("running", "starting")),     # converging
    (2, 0, 31, ("exited", None)),           # 0 of N: stopped
    (0, 0, None, ("exited", None)),         # scaled to 0
])
def test_service_state(desired, running, down_ago, expected) -> None:
    down = NOW - timedelta(seconds=down_ago) if down_ago is not None else None
    assert service_state(desired, running, down, NOW, GRACE) == expected


@pytest.mark.parametrize("service, tasks, expected", [
    (swarm_service(2), [task("running", 1, 100, "c" * 64), task("running", 2, 50, "d" * 64)],
     "running"),
    (swarm_service(2), [task("running", 1, 100, "c" * 64), task("failed", 2, 3, "e" * 64,
                                                                 desired="shutdown", code=3),
                        task("preparing", 2, 2)], "starting"),
    (swarm_service(2), [task("running", 1, 100, "c" * 64), task("failed", 2, 60, "e" * 64,
                                                                 desired="shutdown", code=3),
                        task("pending", 2, 60)], "unhealthy"),
    (swarm_service(2, updated_ago=100), [task("rejected", 1, 90, desired="shutdown",
                                              err="No such image: img:1"),
                                         task("pending", 1, 80)], "stopped"),
    (swarm_service(0), [task("shutdown", 1, 100, "c" * 64, desired="shutdown")], "stopped"),
])
def test_tasks_to_status(service, tasks, expected) -> None:
    assert status(observe_service(service, tasks, NOW, GRACE)) == expected


def test_the_observation_names_a_running_container_and_counts_failures() -> None:
    tasks = [task("running", 1, 100, "c" * 64), task("running", 2, 20, "d" * 64),
             task("failed", 2, 25, "e" * 64, desired="shutdown", err="task: non-zero exit (3)",
                  code=3),
             task("failed", 2, 700, "f" * 64, desired="shutdown", code=3)]  # before the update
    observed = observe_service(swarm_service(2), tasks, NOW, GRACE)
    assert observed.id == "c" * 64  # the oldest running task's container
    assert observed.started_at == NOW - timedelta(seconds=100)
    assert (observed.replicas, observed.running_replicas) == (2, 2)
    assert observed.task_failures == 1
    assert observed.last_task_error == "task: non-zero exit (3) (exit code 3)"
    assert observed.health is None  # no check: like a container without one
    assert observed.service_id == "svc1"
    assert observed.tasks == (("node1", "1", "running"), ("node1", "2", "running"))
    named = observe_service(swarm_service(2), tasks, NOW, GRACE, node_names={"node1": "edge-a"})
    assert [t[0] for t in named.tasks] == ["edge-a", "edge-a"]  # the node's hostname


def test_a_service_with_a_check_is_healthy_when_all_replicas_run() -> None:
    observed = observe_service(swarm_service(1, check=True), [task("running", 1, 9, "c" * 64)],
                               NOW, GRACE)
    assert observed.health == "healthy"


def test_a_task_swarm_had_replaced_is_no_failure_but_a_failed_check_is() -> None:
    """A node comes back after its task was rescheduled: Swarm stops the old task (exit
    143) and reports it failed, though its replacement was made long before. A task killed
    for failing its health check also ends on 143, but is replaced only after it ended."""
    lost_node = [task("running", 1, 60, "c" * 64),  # the replacement, made 60 s ago
                 task("failed", 1, 5, "d" * 64, desired="shutdown", code=143,
                      err="task: non-zero exit (143)", created_ago=300)]
    unhealthy = [task("running", 1, 49, "c" * 64),  # made after the old one ended
                 task("failed", 1, 50, "d" * 64, desired="shutdown", code=143,
                      err="task: non-zero exit (143): dockerexec: unhealthy container",
                      created_ago=100)]
    assert observe_service(swarm_service(1), lost_node, NOW, GRACE).task_failures == 0
    counted = observe_service(swarm_service(1), unhealthy, NOW, GRACE)
    assert counted.task_failures == 1 and "unhealthy container" in counted.last_task_error
