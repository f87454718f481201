"""One service's page, `/services/<name>`, and what keeps it live: `/services/<name>/live`
(state and events as rendered HTML) and `/services/<name>/logs` (the log tail as text).

The page works without JavaScript (the event filter is a GET form, a meta refresh reloads
it); with it, the script asks `live` every few seconds and whenever the fleet stream says
the service changed, and follows the logs until the operator pauses. Log output is bounded
(lines and bytes) and always travels as text, never as markup.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from flask import Response, render_template, request

from app.desired_state import secrets
from app.domain.clock import utcnow
from app.operations.context import current_steward
from app.operations.history import histories
from app.operations.logs import LOG_LINES, log_tail
from app.operations.read_model import get_service
from app.operations.replicas import replicas_detail
from app.store.events import recent_events
from app.store.models import RuntimeState, ServiceRecord
from app.web.blueprint import bp, error_page, feed, row_flashes
from app.web.fleet import read_for
from app.web.format import spec_yaml
from app.web.view import Row, history_state, make_row

EVENTS_SHOWN = 50
#: Event filter choices: which kinds each shows (None: all).
EVENT_KINDS = {"all": "All events", "healing": "Healing and failures",
               "operator": "Operator requests", "errors": "Errors"}
_HEALING = {"create", "recreate", "start", "restart", "stop", "backoff", "disable", "flapping",
            "dependency", "retry", "pause", "wait", "reset-failures", "build"}
_OPERATOR = {"restart-requested", "start-requested", "stop-requested", "enabled", "disabled",
             "paused", "resumed"}
#: `KEY: value` or `KEY=value`, in block or flow style; the value up to a separator.
_ASSIGNMENT = re.compile(r"(?P<head>(?P<key>[A-Za-z_][\w.-]*)['\"]?\s*[:=]\s*)"
                         r"(?P<value>\"[^\"]*\"|'[^']*'|[^\s,}\]#][^,}\]#]*)")


@dataclass(frozen=True)
class EventFilter:
    kinds: str = "all"
    refused: bool = False

    @classmethod
    def from_args(cls, args) -> EventFilter:
        kinds = args.get("kinds", "all")
        return cls(kinds if kinds in EVENT_KINDS else "all", args.get("refused") == "1")

    def shows(self, kind: str) -> bool:
        if kind.endswith("-refused"):
            return self.refused
        return {"all": True, "healing": kind in _HEALING, "operator": kind in _OPERATOR,
                "errors": kind == "error" or kind.endswith("-failed")}[self.kinds]


def _service_view(name: str) -> tuple[Row, list, list[str], dict] | None:
    """The service's row (with 30 days of history), its filtered events, its drift and (on
    Swarm) its replicas and tasks."""
    steward, now = current_steward(), utcnow()
    with steward.store.reader() as session:
        service = get_service(session, name, now)
        if service is None:
            return None
        history = histories(session, now, {name: history_state(service)}, [name], days=30)
        wanted = EventFilter.from_args(request.args)
        events = [e for e in recent_events(session, service=name, limit=500)
                  if wanted.shows(e.kind)][:EVENTS_SHOWN]
        drift = session.get(RuntimeState, name).drift or []
        replicas = replicas_detail(session, name)
    return make_row(service, history.get(name)), events, drift, replicas


@bp.get("/services/<name>")
def service_page(name: str) -> str | tuple[str, int]:
    position = feed().position()
    steward = current_steward()
    view = _service_view(name)
    if view is None:
        return error_page(404, f"Service '{name}' not found")
    row, events, drift, replicas = view
    fleet = read_for(steward, utcnow())
    with steward.store.reader() as session:
        record = session.get(ServiceRecord, name)
        spec_text, written = spec_yaml(record.spec), _as_written(record)
    return render_template("service.html", row=row, fleet=fleet, events=events,
                           spec_text=spec_text, written=written, drift=drift,
                           replicas=replicas,
                           logs=log_tail(steward, name), version=position,
                           event_kinds=EVENT_KINDS, event_filter=EventFilter.from_args(
                               request.args), log_lines=LOG_LINES,
                           row_flashes=row_flashes())


@bp.get("/services/<name>/live")
def service_live(name: str) -> tuple[dict, int] | dict:
    """The state and events parts of the service page, rendered as on first load."""
    view = _service_view(name)
    if view is None:
        return {"detail": f"Service '{name}' not found"}, 404
    row, events, drift, replicas = view
    fleet = read_for(current_steward(), utcnow())
    return {"state": render_template("_service_state.html", row=row, fleet=fleet, drift=drift,
                                     replicas=replicas, csrf=""),
            "events": render_template("_events.html", events=events,
                                      event_filter=EventFilter.from_args(request.args)),
            "status": row.shown, "title": f"{row.shown} · {row.service.display_name} · Steward"}


@bp.get("/services/<name>/logs")
def service_logs(name: str) -> Response:
    """The last lines as plain text (bounded); why there are none, with 404 or 503."""
    with current_steward().store.reader() as session:
        if session.get(ServiceRecord, name) is None:
            return Response(f"Service '{name}' not found", 404, mimetype="text/plain")
    text, why = log_tail(current_steward(), name)
    if text is None:
        return Response(f"No log lines: {why}", 503, mimetype="text/plain")
    return Response(text, mimetype="text/plain", headers={"Cache-Control": "no-store"})


def _as_written(record: ServiceRecord) -> tuple[str, int] | None:
    """The service's block of its YAML file as the author wrote it (comments, units and
    all), secret-looking values masked; None when the file cannot be read."""
    inside = Path(record.source_file).parts[1:]  # the loader names it `<dir>/<file>`
    path = Path(current_steward().reconciler.desired_dir).joinpath(*inside)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    start = record.source_line - 1
    if not 0 <= start < len(lines):
        return None
    indent = len(lines[start]) - len(lines[start].lstrip())
    block = [lines[start]]
    for line in lines[start + 1:]:
        if line.strip() and len(line) - len(line.lstrip()) <= indent:
            break
        block.append(line)
    while block and not block[-1].strip():
        block.pop()
    return _masked("\n".join(block), record.spec), record.source_line


def _masked(text: str, spec: dict) -> str:
    """Secret-looking values masked, as the normalised spec masks them: by the name they
    are assigned to, credentials in URLs, and every value the spec itself holds as secret
    (wherever the author wrote it: block or flow style, an anchor, a multi-line string)."""
    def hide(match: re.Match) -> str:
        secret = secrets.is_secret(match["key"])
        return f"{match['head']}{secrets.MASK}" if secret else match[0]

    text = secrets.without_credentials(_ASSIGNMENT.sub(hide, text))
    for name, value in spec.get("environment") or ():
        if secrets.is_secret(name) and value and len(str(value)) >= 3:
            text = text.replace(str(value), secrets.MASK)
    return text
