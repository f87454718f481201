"""Replicas and tasks of a Swarm service, as the detail endpoint shows them ("2/3").

Read from the reconciler's latest observation (the store keeps one row per service, not
per task); None on the docker engine, whose services are one container each.
"""
from __future__ import annotations

from typing import Any, Iterable

from app.engine.observed import ObservedContainer


def replicas_detail(observed: Iterable[ObservedContainer] | None, service: str
                    ) -> dict[str, Any]:
    """`replicas` ("running/desired") and `tasks` (node, slot, state) of `service`."""
    found = next((o for o in observed or () if o.service == service
                  and o.service_id is not None), None)
    if found is None:
        return {"replicas": None, "tasks": []}
    return {"replicas": f"{found.running_replicas}/{found.replicas}",
            "tasks": [{"node": node, "slot": slot, "state": state}
                      for node, slot, state in found.tasks]}
