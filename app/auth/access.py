"""Before every request: who is asking (a token, the page's signed session, or nobody when
no tokens are configured), and whether their role allows it. Answers 401 or 403 with a
JSON `detail` for the API, and sends the page to its login form.

A page session is a signed cookie naming the token it was signed in with. It ends 8 hours
after sign-in however busy it is, and when anyone signs out with that token name: signing
out records a `signed-out` event, and a session is honoured only while the newest such
event is the one it saw when it signed in (a generation kept in the store, so it holds
across restarts and replicas). A state change through the API with a session cookie needs
the page's CSRF token in `X-CSRF-Token`; a bearer token needs nothing more.
"""
from __future__ import annotations

import hmac
import time

from flask import current_app, g, redirect, request, session
from werkzeug.wrappers import Response

from app.auth import csrf
from app.auth.tokens import Identity, Tokens, required_role
from app.domain.clock import utcnow
from app.errors import error_body
from app.operations.context import current_steward
from app.store.events import SIGNED_OUT, record_event, sign_out_generation

SESSION_KEY = "identity"
CSRF_HEADER = "X-CSRF-Token"
#: Routes that authenticate the request themselves, by a signature over its body (the git
#: host's push webhook, `app/api/git/`): no token is asked for.
SIGNED_PATHS = frozenset({"/api/system/git/webhook"})


def tokens() -> Tokens:
    return current_app.extensions["steward_tokens"]


def check_access() -> Response | tuple | None:
    identity, by_session = _identify()
    g.identity = identity
    needed = required_role(request.method, request.path, tokens())
    if needed is None or request.path in SIGNED_PATHS:
        return None
    if identity is None:
        if _wants_page():
            return redirect(f"/login?next={request.full_path.rstrip('?')}", code=303)
        return error_body(401, "A token is needed: send Authorization: Bearer <token>"), \
            401, {"WWW-Authenticate": 'Bearer realm="steward"'}
    if not identity.may(needed):
        return error_body(403, f"Token '{identity.name}' has the role {identity.role}; "
                                  f"this needs {needed}"), 403
    if by_session and request.method not in csrf.SAFE_METHODS \
            and request.path.startswith("/api/") and not _csrf_header_valid():
        return error_body(403, f"A page session acts through the API only with its CSRF "
                                  f"token in {CSRF_HEADER}; scripts send Authorization: "
                                  f"Bearer <token> instead"), 403
    return None


def sign_in(identity: Identity) -> None:
    """Start a page session: a fresh cookie, a fresh CSRF token, the current generation."""
    with current_steward().store.reader() as reading:
        generation = sign_out_generation(reading, identity.name)
    session.clear()
    session.permanent = True
    session[SESSION_KEY] = {"name": identity.name, "role": identity.role,
                            "proof": tokens().seal(identity, current_app.secret_key.encode()),
                            "signed_in": int(time.time()), "generation": generation}
    session[csrf.FIELD] = csrf.new_token()


def sign_out() -> None:
    """End this session and every other of the same token name, here and on replicas."""
    identity, by_session = _identify()
    if identity is not None and by_session:
        with current_steward().store.session() as writing:
            record_event(writing, service=None, kind=SIGNED_OUT, at=utcnow(),
                         actor=identity.name, origin=origin(),
                         message="signed out; every page session of this token ended")
    session.clear()


def current_actor(default: str) -> str:
    """The token name for the event log, or `default` (api, page) when no tokens are set."""
    identity = getattr(g, "identity", None)
    return identity.name if identity else default


def origin() -> str:
    """Where a request came from, for the event log."""
    return request.remote_addr or "unknown"


def _identify() -> tuple[Identity | None, bool]:
    """The identity asking, and whether it came from the page's session cookie."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return tokens().identify(header.removeprefix("Bearer ").strip()), False
    stored = session.get(SESSION_KEY)
    if not isinstance(stored, dict):
        return None, False
    identity = tokens().unseal(str(stored.get("name")), str(stored.get("role")),
                               str(stored.get("proof")), current_app.secret_key.encode())
    return (identity, True) if identity and _session_current(identity, stored) else (None, False)


def _session_current(identity: Identity, stored: dict) -> bool:
    """Within 8 hours of sign-in (not of the last request), and not signed out since."""
    signed_in = stored.get("signed_in")
    lifetime = current_app.permanent_session_lifetime.total_seconds()
    if not isinstance(signed_in, int) or not 0 <= time.time() - signed_in < lifetime:
        return False
    with current_steward().store.reader() as reading:
        return stored.get("generation") == sign_out_generation(reading, identity.name)


def _csrf_header_valid() -> bool:
    sent, expected = request.headers.get(CSRF_HEADER, ""), session.get(csrf.FIELD, "")
    return bool(sent and expected) and hmac.compare_digest(sent, expected)


def _wants_page() -> bool:
    return request.method == "GET" and not request.path.startswith("/api/") \
        and request.path != "/metrics"
