"""The status page's fleet at `/`, signing in and out, and actions as POST forms (with
their "are you sure?" page). The service page, category actions and the live stream have
modules of their own.

Everything is read from the store. Actions go through `app.operations.service_actions.perform`, the same path as the API.
"""
from __future__ import annotations

import re
from urllib.parse import urlsplit

from flask import (
    Response,
    flash,
    redirect,
    render_template,
    request,
)
from markupsafe import Markup, escape

from app.auth import csrf
from app.auth.access import current_actor, origin, sign_in, sign_out, tokens
from app.desired_state.schema import NAME_PATTERN
from app.domain.clock import utcnow
from app.errors import AppError, detail_for, status_for
from app.operations import service_actions
from app.operations.context import current_steward
from app.operations.read_model import get_service
from app.store.models import ServiceRecord
from app.store.pauses import active_pauses
from app.web import format as web_format
from app.web.blueprint import PAUSE_CHOICES, bp, error_page, feed, row_flashes
from app.web.feed import CSRF_SLOT
from app.web.fleet import Fleet, read_for
from app.web.view import FILTERS, SORTS, Filters

#: Actions that stop or interrupt a service ask "are you sure?" first, saying what happens.
CONFIRM = {"restart": ("Restart", "The container stops (up to its stop timeout) and starts "
                                  "again; the failure count starts over."),
           "stop": ("Stop", "The container stops and stays stopped: self-healing leaves it "
                            "until start, restart or enable. The page shows it as off."),
           "disable": ("Disable", "The container stops and self-healing ignores the service "
                                  "until it is enabled again. The page shows it as off.")}
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


@bp.get("/login")
def login_form() -> str:
    return render_template("login.html", next=_safe_next(request.args.get("next")), error=None)


@bp.post("/login")
def login() -> Response | tuple:
    """Trade a token for a signed session cookie (HttpOnly, SameSite=Lax, 8 hours)."""
    if not csrf.is_valid():
        return error_page(400, "This form expired (CSRF check failed). Reload and try again.")
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
        return error_page(400, "This form expired (CSRF check failed). Reload and try again.")
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
        return error_page(404, f"No action '{action}'; one of: "
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
    except AppError as err:
        return _reply(status_for(err), detail_for(err), name)
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
        return error_page(code, message)
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


def _back(name: str) -> str:
    """Where to return after a form: the service page or the fleet, nowhere else."""
    return f"/services/{name}" if name and request.form.get("next") == "service" else "/"


