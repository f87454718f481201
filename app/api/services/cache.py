"""The service list, serialised once per second and per change of the store.

`GET /api/system/services` is what dashboards and scripts poll. Its answer only changes
when something writes to the store (which moves `Store.generation`) or when a second
passes (uptimes); in between, every caller gets the same serialised list, so the busiest
endpoint costs a dictionary lookup instead of a query and 200 serialisations.
"""
from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

from app.api.services.schemas import ServiceSchema
from app.operations.read_model import by_category, list_services
from app.store.db import Store
from app.store.runtime import engine_status

_SERVICES = ServiceSchema(many=True)


class ServiceListCache:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._key: tuple | None = None
        self._value: dict[str, Any] | None = None

    def get(self, now: datetime) -> dict[str, Any]:
        """{"unavailable": detail or None, "services": [...], "by_category": {...}}, with
        services already serialised; `now` only matters to the second."""
        key = (self.store.generation, int(now.timestamp()))
        with self._lock:
            if key == self._key and self._value is not None:
                return self._value
        value = self._read(now)
        with self._lock:
            self._key, self._value = key, value
        return value

    def _read(self, now: datetime) -> dict[str, Any]:
        with self.store.reader() as session:
            status = engine_status(session)
            fleet = list_services(session, now)
        unavailable = status.detail if status is not None and not status.reachable else None
        return {"unavailable": unavailable, "services": _SERVICES.dump(fleet),
                "by_category": by_category(fleet)}
