"""How the page presents a service: its shown status, its reasons, its recent failure, the
fleet's headline, and the search, filter and sort an operator asked for in the URL.

The contract's statuses and `by_category` counts stay as they are; the page alone tells
planned downtime ("off": disabled or stopped by an operator) apart from failures, so
maintenance never turns the page red. Pure functions of the read model and the clock.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Mapping, Sequence
from urllib.parse import urlencode

from app.domain.stats import Sample
from app.operations.history import History, State
from app.operations.read_model import ServiceOverview

#: Page statuses, in the order "status" sorts them (worst first).
SHOWN = ("unhealthy", "stopped", "failed", "starting", "running", "off")
ATTENTION = frozenset({"unhealthy", "stopped", "failed"})
FILTERS = {"": "All", "attention": "Needs attention", "running": "Running",
           "starting": "Starting", "off": "Off"}
SORTS = {"name": "Name", "status": "Status (worst first)", "uptime": "Uptime",
         "failures": "Failures", "restarts": "Restarts", "cpu": "CPU", "memory": "Memory"}
SPARK_POINTS, SPARK_HEIGHT = 30, 16


def failure_limited(service: ServiceOverview) -> bool:
    return not service.enabled and (service.disabled_reason or "").startswith("failure limit")


def shown_status(service: ServiceOverview) -> str:
    """The status the page shows. An enable in progress shows as starting (not a flicker
    through stopped); planned downtime is off; the failure limit is failed."""
    if failure_limited(service):
        return "failed"
    if not service.enabled or (service.manually_stopped and service.status == "stopped"):
        return "off"
    if service.status == "stopped" and (service.pending_action == "enable" or (
            service.container_id and service.container_state is None)):
        return "starting"  # enabled, or (re)started and not yet looked at again
    return service.status


def history_state(service: ServiceOverview) -> State:
    """What the service's state counts as for uptime, now."""
    shown = shown_status(service)
    return "up" if shown in ("running", "starting") else "off" if shown == "off" else "down"


def reasons(service: ServiceOverview) -> tuple[str, ...]:
    """Why the service is not simply running, each reason once. While a restart or start
    is under way the previous run's failure is history, not the reason."""
    shown = shown_status(service)
    found: list[str] = []
    if shown in ("off", "failed"):
        found.append(service.disabled_reason or "Disabled" if not service.enabled else
                     "Stopped by an operator; left stopped until start, restart or enable.")
    if shown == "starting":
        if service.pending_action:
            found.append(f"{service.pending_action.capitalize()} requested; under way.")
        elif service.wait_reason:
            found.append(service.wait_reason)
        elif service.container_state is None:
            found.append("Started; Steward looks at the new container next.")
    elif shown not in ("running", "off", "failed"):
        if service.wait_reason:
            found.append(service.wait_reason)
        if shown == "stopped" and service.exit_code is not None and not any(
                f"exit code {service.exit_code}" in line for line in found):
            found.append(f"Exited with code {service.exit_code}"
                         + (" (OOM killed)" if service.oom_killed else "") + ".")
        elif service.last_failure:
            found.append(f"Last failure: {service.last_failure}")
        if service.last_error:
            found.append(f"Docker error: {service.last_error}")
    unique: list[str] = []
    for line in found:
        if not any(line in other or other in line for other in unique):
            unique.append(line)
    return tuple(unique)


def recovered(service: ServiceOverview) -> tuple[datetime, str] | None:
    """(when it came back, what failed) for a running service that failed before."""
    if service.status != "running" or service.last_failure_at is None \
            or service.started_at is None or service.started_at < service.last_failure_at:
        return None
    return service.started_at, service.last_failure or "failure"


@dataclass(frozen=True)
class Row:
    service: ServiceOverview
    shown: str
    reasons: tuple[str, ...]
    recovered: tuple[datetime, str] | None
    history: History | None

    @property
    def name(self) -> str:
        return self.service.name


def make_row(service: ServiceOverview, history: History | None) -> Row:
    return Row(service, shown_status(service), reasons(service), recovered(service), history)


@dataclass(frozen=True)
class Headline:
    healthy: int
    counted: int
    off: int
    starting: int
    attention: tuple[str, ...]

    @property
    def title(self) -> str:
        """The browser tab: "(1) 2/3 healthy · Steward"."""
        flag = f"({len(self.attention)}) " if self.attention else ""
        return f"{flag}{self.healthy}/{self.counted} healthy · Steward"

    @property
    def level(self) -> str:
        return "bad" if self.attention else "wait" if self.starting else "ok"


def headline(rows: Sequence[Row]) -> Headline:
    """Healthy out of the services that should run; off ones are counted apart."""
    shown = [r.shown for r in rows]
    return Headline(healthy=shown.count("running"),
                    counted=len(shown) - shown.count("off"), off=shown.count("off"),
                    starting=shown.count("starting"),
                    attention=tuple(r.service.display_name for r in rows
                                    if r.shown in ATTENTION))


@dataclass(frozen=True)
class Filters:
    query: str = ""
    status: str = ""
    sort: str = "name"
    descending: bool = False
    stats: Mapping[str, Sample] = field(default_factory=dict, compare=False)

    @classmethod
    def from_args(cls, args: Mapping[str, str], stats: Mapping[str, Sample]) -> Filters:
        """Unknown values fall back to the defaults: a hand-edited URL never errors."""
        status = args.get("status", "")
        sort = args.get("sort", "name")
        return cls(query=args.get("q", "").strip()[:100],
                   status=status if status in FILTERS else "",
                   sort=sort if sort in SORTS else "name",
                   descending=args.get("dir") == "desc", stats=stats)

    @property
    def active(self) -> bool:
        return bool(self.query or self.status)

    def matches(self, row: Row) -> bool:
        wanted = self.query.lower()
        if wanted and wanted not in row.name.lower() \
                and wanted not in row.service.display_name.lower():
            return False
        if self.status == "attention":
            return row.shown in ATTENTION
        return not self.status or row.shown == self.status

    def ordered(self, rows: Sequence[Row]) -> list[Row]:
        return sorted(rows, key=self._key, reverse=self.descending)

    def _key(self, row: Row) -> tuple:
        service, sample = row.service, self.stats.get(row.name)
        value = {"name": 0, "status": SHOWN.index(row.shown),
                 "uptime": service.uptime_seconds or 0, "failures": service.failure_count,
                 "restarts": service.restart_count,
                 "cpu": sample.cpu_percent or 0 if sample else -1,
                 "memory": sample.memory_bytes or 0 if sample else -1}[self.sort]
        return value, row.name

    def link(self, **changes: str) -> str:
        """This page's URL with some parameters changed; defaults are left out."""
        params = {"q": self.query, "status": self.status, "sort": self.sort,
                  "dir": "desc" if self.descending else "", **changes}
        if params["sort"] == "name" and params["dir"] == "":
            params.pop("sort")
        query = urlencode({k: v for k, v in params.items() if v})
        return f"/?{query}" if query else "/"

    def sort_link(self, column: str) -> str:
        flip = column == self.sort and not self.descending
        return self.link(sort=column, dir="desc" if flip else "")


def sparkline(values: Sequence[float | None], top: float | None = None) -> str:
    """SVG polyline points for the last `SPARK_POINTS` values (None skipped), in a box of
    `SPARK_POINTS - 1` by `SPARK_HEIGHT` units, whole numbers: small enough to send for
    every service, and drawn without a script."""
    values = list(values)[-SPARK_POINTS:]
    known = [(i, v) for i, v in enumerate(values) if v is not None]
    if len(known) < 2:
        return ""
    top = max(top or 0, max(v for _, v in known)) or 1
    step = (SPARK_POINTS - 1) / (len(values) - 1)  # a short series still spans the box
    return " ".join(f"{i * step:g},{round(SPARK_HEIGHT - 1 - v / top * (SPARK_HEIGHT - 2))}"
                    for i, v in known)
