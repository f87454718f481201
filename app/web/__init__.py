"""The status page: a server-rendered dashboard (Jinja2), usable without JavaScript and
live with it (server-sent events from `/api/system/stream`).

May import: operations (the use cases and the read model), auth, store (reads), domain,
desired_state. Never the engine: what Docker says reaches the page through the store or a
use case.
"""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the page's blueprint with every route module joined to it."""
    from app.web import bulk, routes, service_page, stream  # noqa: F401 - they add routes
    from app.web.blueprint import bp

    app.register_blueprint(bp)
