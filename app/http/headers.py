"""Security headers on every response: no framing, no type sniffing, no referrer to other
sites, and a Content-Security-Policy that lets a page run only Steward's own files.

The status page loads one script and one stylesheet from /static and talks only to its own
origin (forms, fetch, EventSource), so its policy allows `'self'` alone. The API docs are
flask-smorest's Swagger UI page, which starts Swagger with one inline script and styles
elements inline: its policy allows that script by its hash (computed from the page as
served, so it follows flask-smorest's template) and inline styles, and nothing else.
"""
from __future__ import annotations

import base64
import hashlib
import re

from flask import Response, request

DOCS_PAGE = "/api/docs"
_FRAMES = "frame-ancestors 'none'"
_COMMON = "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; " \
          f"form-action 'self'; {_FRAMES}"
PAGE_POLICY = f"{_COMMON}; script-src 'self'; style-src 'self'"
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)
HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def add_security_headers(response: Response) -> Response:
    """After every request (errors included)."""
    response.headers.update(HEADERS)
    response.headers["Content-Security-Policy"] = docs_policy(response) \
        if request.path.rstrip("/") == DOCS_PAGE else PAGE_POLICY
    return response


def docs_policy(response: Response) -> str:
    """The Swagger UI page's policy: its own inline scripts by hash, inline styles."""
    hashes = " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(script).digest()).decode()}'"
                      for script in _INLINE_SCRIPT.findall(response.get_data()))
    return f"{_COMMON}; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'"


def waitress_headers() -> list[tuple[str, str]]:
    """The same headers for the answers waitress writes itself (`app/http/serving.py`)."""
    return [*HEADERS.items(), ("Content-Security-Policy", PAGE_POLICY)]
