"""A Swarm service and its tasks, seen as the one `ObservedContainer` the planner judges.

Pure (no docker SDK), so the mapping from tasks to the contract's status is table-tested:

- all desired replicas running (Swarm reports a task with a check `running` only once
  healthy): state `running`, health `healthy`;
- fewer, with a replica down for less than the grace period: health `starting`;
- some down past the grace period: health `unhealthy`; none running past it: `exited`;
- 0 desired replicas: `exited` (stopped; `disabled` when Steward scaled it to 0).

The id is the oldest running task's container, so `container_id` and the uptime in the
contract are a real container's; with none running it is the service's id.
"""
from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any, Mapping, Sequence

from app.engine.observed import ObservedContainer
from app.engine.options import (
    LABEL_FIELD_HASHES,
    LABEL_SERVICE,
    LABEL_SPEC,
    LABEL_SPEC_HASH,
)

#: Task states after which the task will not run again.
ENDED = frozenset({"complete", "failed", "shutdown", "rejected", "orphaned", "remove"})
#: Ended states that count as a failure of the service.
FAILED = frozenset({"failed", "rejected"})
#: How long a replica may be down (a restart, a reschedule) before it counts as unhealthy.
DEFAULT_GRACE = timedelta(seconds=30)


def observe_service(service: Mapping[str, Any], tasks: Sequence[Mapping[str, Any]],
                    now: datetime, grace: timedelta = DEFAULT_GRACE,
                    node_names: Mapping[str, str] | None = None) -> ObservedContainer:
    """The service as one observation: its replicas, tasks (on nodes named by their
    hostnames where known), failures and last update."""
    names = node_names or {}
    spec = service.get("Spec") or {}
    labels = spec.get("Labels") or {}
    desired = replicas_of(spec)
    current = [t for t in tasks if t.get("DesiredState") == "running"]
    running = sorted((t for t in current if _state(t) == "running"), key=_started)
    updated = _time(service.get("UpdatedAt"))
    state, health = service_state(desired, len(running), _down_since(tasks, updated), now,
                                  grace)
    container_spec = (spec.get("TaskTemplate") or {}).get("ContainerSpec") or {}
    if health == "healthy" and not (container_spec.get("Healthcheck") or {}).get("Test"):
        health = None  # as for a container without a check
    oldest = running[0] if running else None
    update = service.get("UpdateStatus") or {}
    failures = failed_since(tasks, updated)
    return ObservedContainer(
        id=_container_id(oldest) or service["ID"], name=spec.get("Name", ""),
        service=labels.get(LABEL_SERVICE, ""), spec_hash=labels.get(LABEL_SPEC_HASH, ""),
        field_hashes=_json(labels.get(LABEL_FIELD_HASHES)) or {},
        applied=_json(labels.get(LABEL_SPEC)), state=state, health=health,
        image=container_spec.get("Image", ""),
        started_at=_started(oldest) if oldest else None,
        finished_at=None if running else _ended_at(tasks),
        created=str(service.get("CreatedAt", "")),
        service_id=service["ID"], replicas=desired, running_replicas=len(running),
        task_failures=len(failures), last_task_error=_error(failures[-1]) if failures else None,
        task_failure_times=tuple(e for t in failures if (e := _ended(t)) is not None),
        update_state=update.get("State"), update_message=update.get("Message"),
        tasks=tuple((names.get(t.get("NodeID", ""), t.get("NodeID", "")[:12]),
                     t.get("Slot") and str(t["Slot"]) or "", _state(t))
                    for t in sorted(current, key=lambda t: t.get("Slot") or 0)))


def service_state(desired: int, running: int, down_since: datetime | None, now: datetime,
                  grace: timedelta) -> tuple[str, str | None]:
    """(container state, health) for `running` of `desired` replicas (see the module doc)."""
    if desired == 0:
        return "exited", None
    if running >= desired:
        return "running", "healthy"
    late = down_since is not None and now - down_since >= grace
    if not late:
        return "running", "starting"
    return ("running", "unhealthy") if running else ("exited", None)


def replicas_of(spec: Mapping[str, Any]) -> int:
    """Desired replicas of a replicated service (a global one counts as one per node)."""
    mode = spec.get("Mode") or {}
    return int((mode.get("Replicated") or {}).get("Replicas", 1 if "Global" in mode else 0))


def failed_since(tasks: Sequence[Mapping[str, Any]], since: datetime | None
                 ) -> list[Mapping[str, Any]]:
    """Tasks that failed after `since` (the service's last update), oldest first: what the
    failure limit counts, since Swarm restarts them on its own. A task Swarm had already
    replaced is no failure of the service: when a node comes back after its task was
    rescheduled elsewhere, Swarm stops the old task and reports it `failed`."""
    failed = [t for t in tasks if _state(t) in FAILED and not _replaced_before_it_ended(t, tasks)
              and (since is None or (_ended(t) or since) >= since)]
    return sorted(failed, key=lambda t: _ended(t) or datetime.min)


def _replaced_before_it_ended(task: Mapping[str, Any], tasks: Sequence[Mapping[str, Any]]
                              ) -> bool:
    """A newer task of the same slot was created before this one ended: Swarm had given up
    on it (its node was lost) rather than it failing (a crash or a failed health check is
    replaced after it ends)."""
    ended, born = _ended(task), _time(task.get("CreatedAt"))
    return ended is not None and any(
        other is not task and other.get("Slot") == task.get("Slot")
        and (created := _time(other.get("CreatedAt"))) is not None
        and (born is None or born < created) and created < ended for other in tasks)


def _down_since(tasks: Sequence[Mapping[str, Any]], updated: datetime | None
                ) -> datetime | None:
    """Since when a replica has been missing: the newest task end or the service's last
    update (a scale, a restart), whichever came later."""
    moments = [e for t in tasks if (e := _ended(t))] + ([updated] if updated else [])
    return max(moments) if moments else None


def _state(task: Mapping[str, Any]) -> str:
    return str((task.get("Status") or {}).get("State", ""))


def _ended(task: Mapping[str, Any]) -> datetime | None:
    return _time((task.get("Status") or {}).get("Timestamp")) if _state(task) in ENDED else None


def _ended_at(tasks: Sequence[Mapping[str, Any]]) -> datetime | None:
    ended = [e for t in tasks if (e := _ended(t))]
    return max(ended) if ended else None


def _started(task: Mapping[str, Any]) -> datetime:
    status = task.get("Status") or {}
    return _time(status.get("Timestamp")) or _time(task.get("CreatedAt")) or datetime.min


def _container_id(task: Mapping[str, Any] | None) -> str | None:
    if task is None:
        return None
    return ((task.get("Status") or {}).get("ContainerStatus") or {}).get("ContainerID")


def _error(task: Mapping[str, Any]) -> str:
    status = task.get("Status") or {}
    container = status.get("ContainerStatus") or {}
    text = status.get("Err") or status.get("Message") or _state(task)
    code = container.get("ExitCode") if container.get("ContainerID") else None
    return f"{text} (exit code {code})" if code is not None and "exit code" not in text \
        else text


def _json(raw: str | None) -> dict | None:
    try:
        value = json.loads(raw or "")
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _time(value: str | None) -> datetime | None:
    if not value or value.startswith("0001-"):
        return None
    trimmed = re.sub(r"(\.\d{6})\d*", r"\1", value).replace("Z", "+00:00")
    return datetime.fromisoformat(trimmed)
