"""Cross-site request forgery protection.

Two layers. Every state-changing request (page forms and the API) that a browser marks as
coming from another site (`Sec-Fetch-Site: cross-site`, or an `Origin` that is not this
server) is refused, so no web page an operator visits can make their browser stop the
fleet; curl, scripts and the contract's clients send neither header and are unaffected.
On top, the page's forms carry a per-session token kept in Flask's signed session cookie
(HttpOnly, SameSite=Lax): another site can make a browser post a form, but cannot read the
token to put in it.
"""
from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from flask import request, session

FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
REFUSED = "Cross-site request refused: actions must come from Steward's own page or a client"


def is_cross_site() -> bool:
    """Whether the browser says this state-changing request comes from another site."""
    if request.method in SAFE_METHODS:
        return False
    if request.headers.get("Sec-Fetch-Site") == "cross-site":
        return True
    origin = request.headers.get("Origin")
    if origin is None:
        return False
    return origin == "null" or urlsplit(origin).netloc != request.host


def token() -> str:
    if FIELD not in session:
        session[FIELD] = new_token()
    return session[FIELD]


def new_token() -> str:
    """A fresh token (also after signing in, so a token planted before it is worthless)."""
    return secrets.token_urlsafe(32)


def is_valid() -> bool:
    sent = request.form.get(FIELD, "")
    expected = session.get(FIELD, "")
    return bool(sent and expected) and hmac.compare_digest(sent, expected)
