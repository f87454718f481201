"""The status page: the fleet at `/`, one service at `/services/<name>`, actions as POST
forms, and the live stream at `/api/system/stream`.

Everything is read from the store; only a service page's log tail asks Docker, with a short
timeout. Actions go through `app.operations.service_actions.perform`, the same path as the API.
"""
from __future__ import annotations

import json
import re
from typing import Iterator
from urllib.parse import urlsplit

from werkzeug.routing import Rule

from markupsafe import Markup, escape
from flask import (
    Blueprint, Response, current_app, flash, g, get_flashed_messages, redirect,
    render_template, request,
)

from app.operations import service_actions
from app.auth.access import current_actor, origin, sign_in, sign_out, tokens
from app.desired_state.schema import NAME_PATTERN
from app.extensions import error_payload
from app.steward import current_steward, utcnow
from app.store.models import ServiceRecord
from app.store.pauses import active_pauses
from app.operations.read_model import get_service
from app.auth import csrf
from app.web import format as web_format
from app.web.feed import CSRF_SLOT, FleetFeed
from app.web.fleet import Fleet, read_for
from app.web.view import FILTERS, SORTS, Filters, sparkline

bp = Blueprint("web", __name__, template_folder="templates", static_folder="static",
               static_url_path="/static")

#: Actions that stop or interrupt a service ask "are you sure?" first, saying what happens.
CONFIRM = {"restart": ("Restart", "The container stops (up to its stop timeout) and starts "
                                  "again; the failure count starts over."),
           "stop": ("Stop", "The container stops and stays stopped: self-healing leaves it "
                            "until start, restart or enable. The page shows it as off."),
           "disable": ("Disable", "The container stops and self-healing ignores the service "
                                  "until it is enabled again. The page shows it as off.")}
PAUSE_CHOICES = (("900", "15 minutes"), ("3600", "1 hour"), ("14400", "4 hours"),
                 ("86400", "24 hours"))

for _name in ("ago", "utc", "hour", "percent", "cpu", "favicon", "unique"):
    bp.add_app_template_filter(getattr(web_format, _name), _name)
bp.add_app_template_filter(web_format.size, "bytes")
bp.add_app_template_filter(sparkline, "spark")


def feed() -> FleetFeed:
    return current_app.extensions["steward_feed"]


def refuse_cross_site() -> Response | tuple | None:
    """Before every request: a state change a browser sends from another site is refused."""
    if not csrf.is_cross_site():
        return None
    if request.path.startswith("/api/"):
        return error_payload(403, csrf.REFUSED), 403
    return _error_page(403, csrf.REFUSED)


@bp.app_context_processor
def page_globals() -> dict:
    identity = getattr(g, "identity", None) if request else None
    return {"csrf": csrf.token() if request else "", "identity": identity,
            "auth_enabled": tokens().enabled}


@bp.get("/")
def index() -> str:
    """The fleet; search, status filter and sort come from the URL, so they work (and can
    be bookmarked) without JavaScript."""
    position = feed().position()  # before the read: a change in between is sent again
    steward = current_steward()
    now = utcnow()
    fleet = read_for(steward, now)
    filters = Filters.from_args(request.args, {n: s[-1] for n, s in fleet.stats.items()})
    categories = [(c, filters.ordered([r for r in fleet.rows if r.service.category == c]))
                  for c, _ in fleet.by_category()]
    with steward.store.reader() as session:
        pauses = {p.target: p.until for p in active_pauses(session, now)
                  if p.scope == "category"}
    page = render_template("index.html", fleet=fleet, version=position, filters=filters,
                           categories=categories, filter_choices=FILTERS, sort_choices=SORTS,
                           pauses=pauses, pause_choices=PAUSE_CHOICES,
                           rows=_rows_for_page(fleet, filters),
                           shown_count=sum(1 for r in fleet.rows if filters.matches(r)))
    return web_format.fresh_times(page, now)


def _rows_for_page(fleet: Fleet, filters: Filters) -> dict[str, Markup]:
    """Each row as the live feed last drew it (only changed rows are drawn again), with
    this session's form token, hidden when the filter says so, and a flashed outcome in
    the row it is about."""
    token, flashed = csrf.token(), row_flashes()
    rows = {}
    for row, html in zip(fleet.rows, map(feed().rows_html(fleet).get, (r.name for r in
                                                                        fleet.rows))):
        html = html.replace(CSRF_SLOT, token)
        if not filters.matches(row):
            html = html.replace("<tr ", "<tr hidden ", 1)
        if row.name in flashed:
            kind, message = flashed[row.name]
            html = html.replace(
                f'<p class="feedback" id="feedback-{row.name}" hidden></p>',
                f'<p class="feedback feedback--{kind}" id="feedback-{row.name}">'
                f'{escape(message)}</p>')
        rows[row.name] = Markup(html)
    return rows


def row_flashes() -> dict[str, tuple[str, str]]:
    """Flashed outcomes by service, to show in that service's row as well as on top."""
    found = {}
    for category, message in get_flashed_messages(with_categories=True):
        kind, _, name = category.partition("|")
        if name:
            found[name] = (kind, message)
    return found


@bp.get("/login")
def login_form() -> str:
    return render_template("login.html", next=_safe_next(request.args.get("next")), error=None)


@bp.post("/login")
def login() -> Response | tuple:
    """Trade a token for a signed session cookie (HttpOnly, SameSite=Lax, 8 hours)."""
    if not csrf.is_valid():
        return _error_page(400, "This form expired (CSRF check failed). Reload and try again.")
    identity = tokens().identify(request.form.get("token", ""))
    target = _safe_next(request.form.get("next"))
    if identity is None:
        return render_template("login.html", next=target,
                               error="That token is not valid."), 401
    sign_in(identity)
    return redirect(target, code=303)


@bp.post("/logout")
def logout() -> Response | tuple:
    """End the session server-side: the cookie, if kept, no longer signs anyone in."""
    if not csrf.is_valid():
        return _error_page(400, "This form expired (CSRF check failed). Reload and try again.")
    sign_out()
    return redirect("/login" if tokens().enabled else "/", code=303)


def _safe_next(target: str | None) -> str:
    """Only a path on this server: never another site after signing in."""
    if not target or not target.startswith("/") or any(c in target for c in "\\\t\r\n") \
            or any(ord(c) < 32 for c in target):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or target.startswith("//"):
        return "/"
    return target


@bp.post("/services/<name>/<action>")
def act(name: str, action: str) -> Response | str | tuple:
    if not re.fullmatch(NAME_PATTERN, name):  # never put it in a redirect or a header
        return _reply(404, f"Service {name!r} not found", "")
    if action not in service_actions.ACTIONS:
        return _error_page(404, f"No action '{action}'; one of: "
                                f"{', '.join(service_actions.ACTIONS)}")
    if not csrf.is_valid():
        return _reply(400, "This form expired or did not come from this page (CSRF check "
                           "failed). Reload the page and try again.", name, fatal=True)
    if action in CONFIRM and request.form.get("confirm") != "yes":
        with current_steward().store.reader() as session:
            if get_service(session, name, utcnow()) is None:
                return _reply(404, f"Service '{name}' not found", name)
        return confirm_page(name, action)
    steward = current_steward()
    try:
        message = service_actions.perform(steward.store, action, name, utcnow(),
                                     actor=current_actor("page"), origin=origin())
    except service_actions.ServiceNotFound as err:
        return _reply(404, str(err), name)
    except service_actions.ActionRejected as err:
        return _reply(400, str(err), name)
    except service_actions.ActionInProgress as err:
        return _reply(409, str(err), name)
    except service_actions.EngineDown as err:
        return _reply(503, str(err), name)
    steward.trigger([name])
    return _reply(200, message, name)


def confirm_page(name: str, action: str) -> str:
    """Are you sure? The question names the service, what it is doing now and what the
    action will do to it."""
    verb, consequence = CONFIRM[action]
    with current_steward().store.reader() as session:
        service = get_service(session, name, utcnow())
    facts = [f"{service.display_name} ({name}) is {service.status} now"
             + (f", up for {web_format.duration(service.uptime_seconds)}."
                if service.uptime_seconds is not None else "."), consequence]
    return render_template("confirm.html", question=f"{verb} {service.display_name}?",
                           facts=facts, target=f"/services/{name}/{action}", action=action,
                           answer=f"Yes, {verb.lower()} {service.display_name}",
                           back=_back(name),
                           carry={"next": "service" if _back(name) != "/" else "fleet"})


def _reply(code: int, message: str, name: str, fatal: bool = False) -> Response | tuple:
    """JSON for the page's script; otherwise flash and go back (post/redirect/get). The
    flash names the service, so the page shows it in that service's row too."""
    message = _displayed(message, name)
    if request.accept_mimetypes.best == "application/json":
        return {"ok": code == 200, "message": message}, code
    if fatal:
        return _error_page(code, message)
    flash(message, f"{'success' if code == 200 else 'error'}|{name}")
    return redirect(_back(name), code=303)


def _displayed(message: str, name: str) -> str:
    """Operators know services by their display names: use it where the message has the
    slug (the API keeps the slug, as the contract says)."""
    if not name:
        return message
    with current_steward().store.reader() as session:
        record = session.get(ServiceRecord, name)
    if record is None or record.display_name == name:
        return message
    return message.replace(f"'{name}'", f"{record.display_name} ({name})")


def _error_page(code: int, message: str) -> tuple[str, int]:
    return render_template("error.html", code=code, message=message), code


def _back(name: str) -> str:
    """Where to return after a form: the service page or the fleet, nowhere else."""
    return f"/services/{name}" if name and request.form.get("next") == "service" else "/"


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
    return Response(json.dumps(error_payload(503, detail)), 503, mimetype="application/json")


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


from app.web import bulk, service_page  # noqa: E402,F401 - their routes join this blueprint
