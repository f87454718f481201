"""Cross-site request forgery protection for the page's forms: a per-session token.

The token lives in Flask's signed session cookie (HttpOnly, SameSite=Lax) and must come back
in every form post as `csrf_token`; another site can make a browser post a form, but cannot
read the token to put in it.
"""
from __future__ import annotations

import hmac
import secrets

from flask import request, session

FIELD = "csrf_token"


def token() -> str:
    if FIELD not in session:
        session[FIELD] = secrets.token_urlsafe(32)
    return session[FIELD]


def is_valid() -> bool:
    sent = request.form.get(FIELD, "")
    expected = session.get(FIELD, "")
    return bool(sent and expected) and hmac.compare_digest(sent, expected)
