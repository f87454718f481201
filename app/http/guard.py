"""Checks that run before any route, page included: the `Host` header, then the body.

The Host check stops DNS rebinding: a web page an operator visits can point its own name
at 127.0.0.1, and the browser then treats Steward as that site. Such a request still
names the attacker's host in `Host`, so only names Steward is known by are answered:
without tokens the loopback names, with tokens also the bind address and
`STEWARD_ALLOWED_HOSTS`. The body checks answer what no route should see: a body over the
cap (413), a body that is not JSON on the API (415), and JSON Python cannot hold safely
(an integer over 4,300 digits, nesting past the recursion limit: 400, never 500).
"""
from __future__ import annotations

import json
from typing import Any, Mapping

from flask import current_app, request

from app.auth.csrf import SAFE_METHODS
from app.errors import error_body

LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "[::1]"})


def host_name(host: str) -> str:
    """`Host` without its port, lower-case: `[::1]:8000` -> `[::1]`, `Localhost` -> `localhost`."""
    host = host.strip().lower()
    if host.startswith("["):
        return host.partition("]")[0] + "]"
    return host.partition(":")[0]


def allowed_hosts(config: Mapping[str, Any], tokens_enabled: bool) -> frozenset[str]:
    """The names Steward answers to. Without tokens anyone who reaches it may act, so only
    loopback names; with tokens also the bind address and `STEWARD_ALLOWED_HOSTS`."""
    if not tokens_enabled:
        return LOOPBACK_NAMES
    bind = config["HOST"]
    bind = f"[{bind}]" if ":" in bind and not bind.startswith("[") else bind
    extra = (host_name(h) for h in config["ALLOWED_HOSTS"].split(",") if h.strip())
    return LOOPBACK_NAMES | {bind.lower(), *extra}


def check_host() -> tuple[dict, int] | None:
    """Before every request: refuse a `Host` Steward is not known by (DNS rebinding)."""
    tokens_enabled = current_app.extensions["steward_tokens"].enabled
    if host_name(request.host) in allowed_hosts(current_app.config, tokens_enabled):
        return None
    hint = ("add it to STEWARD_ALLOWED_HOSTS" if tokens_enabled else
            "without API tokens Steward answers only to 127.0.0.1, localhost and [::1]")
    return error_body(400, f"Host {request.host[:100]!r} is not one Steward answers to; "
                              f"{hint}"), 400


def check_body() -> tuple[dict, int] | None:
    """Before every request: the body is small enough, and on the API it is JSON Python can
    hold; checked once here, so no route meets a body it would fail on."""
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if request.content_length is not None and request.content_length > limit:
        return error_body(413, f"Request body too large: at most {limit} bytes"), 413
    if request.method in SAFE_METHODS or not request.path.startswith("/api/") \
            or not _has_body():
        return None
    if not request.is_json:
        return error_body(415, f"Send the body as application/json, not "
                                  f"{request.mimetype or 'without a Content-Type'}"), 415
    try:
        json.loads(request.get_data(cache=True))
    except RecursionError:
        return error_body(400, "Invalid JSON body: nested too deeply"), 400
    except ValueError as err:  # JSONDecodeError, UnicodeDecodeError, the digit limit
        return error_body(400, f"Invalid JSON body: {str(err).split(';')[0][:200]}"), 400
    return None


def _has_body() -> bool:
    return bool(request.content_length) or "chunked" in \
        request.headers.get("Transfer-Encoding", "").lower()
