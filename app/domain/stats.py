"""One resource reading of a service's container: what the stats collector takes, the
detail endpoint, `/metrics` and the page show."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Sample:
    """One reading; `cpu_percent` is None for a container's first (no earlier reading)."""

    sampled_at: datetime
    cpu_percent: float | None
    memory_bytes: int | None
    memory_limit_bytes: int | None

    def as_dict(self) -> dict[str, Any]:
        return {"cpu_percent": self.cpu_percent, "memory_bytes": self.memory_bytes,
                "memory_limit_bytes": self.memory_limit_bytes, "sampled_at": self.sampled_at}
