"""Template filters: human durations and times, and a desired spec fit to show (secrets masked)."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import yaml

from app.desired_state import secrets

_HIDDEN_KEYS = {"name", "source_file", "source_line", "enabled"}


CATEGORY_LABELS = {"infrastructure": "Infrastructure", "ai": "AI", "monitoring": "Monitoring"}


def category(name: str) -> str:
    return CATEGORY_LABELS.get(name, name)


def duration(seconds: float | None) -> str:
    """`3d 4h`, `2h 5m`, `4m 10s`, `12s`: the two largest units, for a glance."""
    if seconds is None:
        return "—"
    seconds = int(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size or (unit == "s" and not parts):
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return " ".join(parts[:2])


def when(moment: datetime | None) -> str:
    """ISO 8601 UTC with a Z, as the API shows times."""
    if moment is None:
        return "—"
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


def iso(moment: datetime | None) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else ""


def spec_yaml(spec: dict[str, Any]) -> str:
    """The stored spec as YAML, without bookkeeping keys, secret-looking values masked."""
    shown = {k: v for k, v in spec.items() if k not in _HIDDEN_KEYS and v not in (None, [], {})}
    if spec.get("environment"):
        shown["environment"] = {key: secrets.shown(key, value)
                                for key, value in spec["environment"]}
    if spec.get("command"):
        shown["command"] = secrets.shown_command(spec["command"])
    check = spec.get("healthcheck") or {}
    if check.get("command"):
        shown["healthcheck"] = {**check, "command": secrets.shown_command(check["command"])}
    return yaml.safe_dump(shown, sort_keys=False, default_flow_style=False, width=100)
