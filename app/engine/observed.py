"""What Steward saw of one of its containers: a frozen snapshot, free of the docker SDK.

The planner takes these as input, so this module must not import docker.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping


@dataclass(frozen=True)
class ObservedContainer:
    id: str
    name: str
    service: str
    spec_hash: str
    state: str
    image: str
    health: str | None = None
    field_hashes: Mapping[str, str] = field(default_factory=dict)
    #: The container fields it was created from (its label), for old -> new diffs.
    applied: Mapping[str, Any] | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    health_output: str | None = None
    exit_code: int | None = None
    oom_killed: bool = False
    created: str = ""
    #: Its IP address on Steward's network, where Steward's own health probes reach it.
    address: str | None = None
    #: The local id of the image it runs (`sha256:...`).
    image_id: str = ""
    #: On a Swarm engine one observation stands for a whole service (see `swarm_tasks`):
    #: its id, desired and running replicas, task failures since its last update, the
    #: state of its last update (Swarm's UpdateStatus) and its tasks (node, slot, state).
    service_id: str | None = None
    replicas: int | None = None
    running_replicas: int = 0
    task_failures: int = 0
    #: When each of those failed tasks ended, oldest first.
    task_failure_times: tuple[datetime, ...] = ()
    last_task_error: str | None = None
    update_state: str | None = None
    update_message: str | None = None
    tasks: tuple[tuple[str, str, str], ...] = ()

    @property
    def running(self) -> bool:
        return self.state == "running"

    @property
    def signature(self) -> str:
        """What a list call shows of the container; when it changes, inspect it again."""
        return f"{self.state}/{self.health}"

    def exit_reason(self) -> str:
        if self.oom_killed:
            return f"exit code {self.exit_code} (OOM killed)"
        if self.exit_code is not None:
            return f"exit code {self.exit_code}"
        return f"container {self.state}"


@dataclass(frozen=True)
class ObservedNetwork:
    """One of Steward's networks: `network` is its name in the desired-state files."""

    id: str
    name: str
    network: str
    containers: int = 0
