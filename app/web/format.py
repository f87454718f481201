"""Template filters: human durations and times, and a desired spec fit to show (secrets masked)."""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any, Iterable

import yaml

from app.desired_state import secrets
from app.domain import clock

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
    return clock.iso(moment) if moment else ""


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


def ago(moment: datetime | None, now: datetime | None = None) -> str:
    """`12s ago` or `in 4m`: relative, the exact UTC time goes in a title beside it."""
    if moment is None:
        return "—"
    seconds = ((now or datetime.now(timezone.utc)) - moment).total_seconds()
    text = duration(abs(seconds)).split(" ")[0]
    return f"{text} ago" if seconds >= 0 else f"in {text}"


def utc(moment: datetime) -> str:
    """The exact time for a hover: `2026-11-30 12:00:05 UTC`."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def hour(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%H:00 UTC")


def percent(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.0f} %" if value in (0, 100) else f"{value:.2f} %" if value > 99 \
        else f"{value:.1f} %"


def cpu(value: float | None) -> str:
    return "CPU —" if value is None else f"{value:.1f} % CPU"


def size(value: int | None) -> str:
    """Bytes in binary units, as `docker stats` shows memory."""
    if value is None:
        return "—"
    amount = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if amount < 1024 or unit == "GiB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{amount:.1f} TiB"


FAVICON_COLOURS = {"ok": "#1a7f37", "wait": "#bf8700", "bad": "#cf222e"}


def favicon(level: str) -> str:
    """A coloured dot as an SVG data URL (the page's policy allows `data:` images)."""
    colour = FAVICON_COLOURS.get(level, FAVICON_COLOURS["ok"]).replace("#", "%23")
    return ("data:image/svg+xml,<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'>"
            f"<circle cx='8' cy='8' r='7' fill='{colour}'/></svg>")


def unique(lines: Iterable[str]) -> list[str]:
    """Each line once, in order: one Docker error is not shown twice."""
    return list(dict.fromkeys(lines))


_AGO = re.compile(r'(<time datetime="([^"]+)" title="[^"]*" data-ago>)[^<]*(</time>)')
_UPTIME = re.compile(r'(<span data-uptime=")\d+(" data-since="([^"]+)">)[^<]*(</span>)')


def fresh_times(html: str, now: datetime) -> str:
    """Relative times and uptimes in rows rendered earlier, brought up to `now`: a cached
    row says "2m ago" when it is read, not what was true when it was drawn."""
    html = _AGO.sub(lambda m: f"{m[1]}{ago(clock.parse_iso(m[2]), now)}{m[3]}", html)

    def uptime(match: re.Match) -> str:
        seconds = max(0, int((now - clock.parse_iso(match[3])).total_seconds()))
        return f"{match[1]}{seconds}{match[2]}{duration(seconds)}{match[4]}"
    return _UPTIME.sub(uptime, html)
