"""The status page: a server-rendered dashboard (Jinja2), usable without JavaScript and
live with it (server-sent events from `/api/system/stream`).

May import: operations (the use cases and the read model), auth, store (reads), domain,
desired_state. Never the engine: what Docker says reaches the page through the store or a
use case.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask

if TYPE_CHECKING:
    from app.steward import Steward


def init_app(app: Flask, steward: Steward) -> None:
    """The page's blueprint with every route module joined to it, and its live feed, which
    runs alongside Steward on every replica."""
    from app.domain.clock import utcnow
    from app.web import bulk, routes, service_page, stream  # noqa: F401 - they add routes
    from app.web.blueprint import bp
    from app.web.feed import FleetFeed
    from app.web.fleet import read_for

    app.register_blueprint(bp)
    feed = FleetFeed(app, lambda: read_for(steward, utcnow()),
                     max_streams=app.config["MAX_STREAMS"])
    app.extensions["steward_feed"] = feed
    steward.alongside(feed)
