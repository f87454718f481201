"""Before every request: who is asking (a token, the page's signed session, or nobody when
no tokens are configured), and whether their role allows it. Answers 401 or 403 with a
JSON `detail` for the API, and sends the page to its login form."""
from __future__ import annotations

from flask import current_app, g, redirect, request, session
from werkzeug.wrappers import Response

from app.auth import Identity, Tokens, required_role

SESSION_KEY = "identity"


def tokens() -> Tokens:
    return current_app.extensions["steward_tokens"]


def check_access() -> Response | tuple | None:
    g.identity = _identify()
    needed = required_role(request.method, request.path, tokens())
    if needed is None:
        return None
    if g.identity is None:
        if _wants_page():
            return redirect(f"/login?next={request.full_path.rstrip('?')}", code=303)
        return _refuse(401, "A token is needed: send Authorization: Bearer <token>",
                       {"WWW-Authenticate": 'Bearer realm="steward"'})
    if not g.identity.may(needed):
        return _refuse(403, f"Token '{g.identity.name}' has the role {g.identity.role}; "
                            f"this needs {needed}")
    return None


def current_actor(default: str) -> str:
    """The token name for the event log, or `default` (api, page) when no tokens are set."""
    identity = getattr(g, "identity", None)
    return identity.name if identity else default


def origin() -> str:
    """Where a request came from, for the event log."""
    return request.remote_addr or "unknown"


def _identify() -> Identity | None:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return tokens().identify(header.removeprefix("Bearer ").strip())
    stored = session.get(SESSION_KEY)
    if isinstance(stored, dict):
        return tokens().unseal(str(stored.get("name")), str(stored.get("role")),
                               str(stored.get("proof")), current_app.secret_key.encode())
    return None


def _wants_page() -> bool:
    return request.method == "GET" and not request.path.startswith("/api/") \
        and request.path != "/metrics"


def _refuse(code: int, detail: str, headers: dict | None = None) -> tuple:
    status = {401: "Unauthorized", 403: "Forbidden"}[code]
    return {"code": code, "status": status, "message": detail, "detail": detail}, code, \
        headers or {}


def refuse_large_bodies() -> tuple | None:
    """No request body Steward accepts is anywhere near the cap; refuse before reading."""
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if request.content_length is not None and request.content_length > limit:
        detail = f"Request body too large: at most {limit} bytes"
        return {"code": 413, "status": "Payload Too Large", "message": detail,
                "detail": detail}, 413
    return None
