"""Replicas and tasks of a Swarm service, as the detail endpoint and the service page show
them ("2/3" and each task's node, slot and state).

Read from the store, where every observation writes them, so a follower replica shows
what the leader saw; None and [] on the docker engine, whose services are one container.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from app.store.models import RuntimeState


def replicas_detail(session: Session, service: str) -> dict[str, Any]:
    """`replicas` ("running/desired") and `tasks` (node, slot, state) of `service`."""
    row = session.get(RuntimeState, service)
    if row is None or row.replicas is None:
        return {"replicas": None, "tasks": []}
    return {"replicas": row.replicas, "tasks": list(row.tasks or [])}
