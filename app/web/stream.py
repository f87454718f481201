"""`/api/system/stream`: the fleet's changes as server-sent events, for the status page
(documented in the API's OpenAPI document, though it is the page's)."""
from __future__ import annotations

import json
from typing import Iterator

from flask import Response, current_app, request
from werkzeug.routing import Rule

from app.domain.clock import utcnow
from app.errors import error_body
from app.web.blueprint import bp, feed
from app.web.feed import FleetFeed

#: `/api/system/stream` in the OpenAPI document (it is the page's, not a smorest resource).
STREAM_DOC = {"get": {
    "tags": ["stream"], "summary": "Follow the fleet live (server-sent events)",
    "description": (
        "A `text/event-stream` the status page listens to. It opens with `retry: 1000`, "
        "then sends `fleet` events, each one JSON object with what changed since the "
        "position the client has: `position` (`epoch:version`; send it back as `since` or "
        "`Last-Event-ID` to resume), `rows` (service name to its re-rendered table row, "
        "HTML), `removed` (names), `stats` (name to its CPU/memory cell), and `summary`, "
        "`headline`, `banners` (HTML, or null when unchanged), `title` and `level` "
        "(ok, wait or bad) for the tab title and favicon. While idle it sends a "
        "`: heartbeat` comment every `STEWARD_STREAM_HEARTBEAT` seconds, and it ends after "
        "`STEWARD_STREAM_SECONDS` (the browser reconnects on its own). At most "
        "`STEWARD_MAX_STREAMS` streams run at once; another gets 503."),
    "parameters": [{"in": "query", "name": "since", "required": False,
                    "schema": {"type": "string"},
                    "description": "The `position` the client has seen (`epoch:version`)"}],
    "responses": {
        "200": {"description": "The event stream", "content": {"text/event-stream": {
            "schema": {"type": "string"},
            "example": "retry: 1000\n\nevent: fleet\nid: 3f9a1c2e:42\ndata: {\"position\": "
                       "\"3f9a1c2e:42\", \"rows\": {\"rtdetr\": \"<tr id=\\\"service-rtdetr\\\" "
                       "...</tr>\"}, \"removed\": [], \"summary\": null, \"banners\": null, "
                       "\"headline\": null, \"title\": null, \"level\": null, \"stats\": "
                       "{}}\n\n: heartbeat\n\n"}}},
        "503": {"description": "Too many live pages, or the feed is not running here",
                "content": {"application/json": {"example": {
                    "code": 503, "status": "Service Unavailable",
                    "message": "Too many live pages; this one refreshes instead",
                    "detail": "Too many live pages; this one refreshes instead"}}}}}}}


@bp.record_once
def _document_stream(state) -> None:
    """Add the stream to the API's OpenAPI document, once the API is set up."""
    apis = state.app.extensions.get("flask-smorest", {}).get("blp_name_to_api", {})
    for api in {id(a): a for a in apis.values()}.values():
        api.spec.path(rule=Rule("/api/system/stream"), operations=STREAM_DOC)


@bp.get("/api/system/stream")
def stream() -> Response:
    """Server-sent events: `fleet` messages with re-rendered parts of the page."""
    live = feed()
    if not live.running:
        return _unavailable("Live updates are not running here; the page refreshes instead")
    if not live.open_stream():
        return _unavailable("Too many live pages; this one refreshes instead")
    seen = live.seen_version(request.headers.get("Last-Event-ID")
                             or request.args.get("since") or "")
    lifetime, heartbeat = current_app.config["STREAM_SECONDS"], \
        current_app.config["STREAM_HEARTBEAT"]
    return Response(_events(live, seen, lifetime, heartbeat), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _unavailable(detail: str) -> Response:
    return Response(json.dumps(error_body(503, detail)), 503, mimetype="application/json")


def _events(live: FleetFeed, seen: int, lifetime: float, heartbeat: float) -> Iterator[str]:
    """Changes as they come, a heartbeat while idle; ends after `lifetime` (the browser
    reconnects on its own) or at shutdown, and always gives its slot back."""
    try:
        yield "retry: 1000\n\n"
        deadline = utcnow().timestamp() + lifetime
        while not live.stopped and utcnow().timestamp() < deadline:
            if live.version != seen:
                changes = live.changes_since(seen)
                seen = changes.version
                yield (f"event: fleet\nid: {live.epoch}:{seen}\n"
                       f"data: {json.dumps(changes.as_dict())}\n\n")
                continue
            if live.wait(seen, heartbeat) == seen and not live.stopped:
                yield ": heartbeat\n\n"
    finally:
        live.close_stream()


