"""The status page's blueprint and what its pages share: template filters, the live feed,
the error page, flashed outcomes per service, the page's globals, and the cross-site check
that runs before every request.
"""
from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    current_app,
    g,
    get_flashed_messages,
    render_template,
    request,
)

from app.auth import csrf
from app.auth.access import tokens
from app.errors import error_body
from app.web import format as web_format
from app.web.feed import FleetFeed
from app.web.view import sparkline

bp = Blueprint("web", __name__, template_folder="templates", static_folder="static",
               static_url_path="/static")

PAUSE_CHOICES = (("900", "15 minutes"), ("3600", "1 hour"), ("14400", "4 hours"),
                 ("86400", "24 hours"))

for _name in ("ago", "utc", "hour", "percent", "cpu", "favicon", "unique", "duration", "when",
              "iso", "category"):
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
        return error_body(403, csrf.REFUSED), 403
    return error_page(403, csrf.REFUSED)


@bp.app_context_processor
def page_globals() -> dict:
    identity = getattr(g, "identity", None) if request else None
    return {"csrf": csrf.token() if request else "", "identity": identity,
            "auth_enabled": tokens().enabled}


def row_flashes() -> dict[str, tuple[str, str]]:
    """Flashed outcomes by service, to show in that service's row as well as on top."""
    found = {}
    for category, message in get_flashed_messages(with_categories=True):
        kind, _, name = category.partition("|")
        if name:
            found[name] = (kind, message)
    return found


def error_page(code: int, message: str) -> tuple[str, int]:
    return render_template("error.html", code=code, message=message), code


