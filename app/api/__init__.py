"""The REST API: flask-smorest blueprints under /api, OpenAPI at /api/openapi.json.

May import: operations, auth, store (reads), domain, desired_state. Never the engine.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask

from app.api.events.routes import blp as events_blp
from app.api.git.routes import blp as git_blp
from app.api.ops.collectors import registry_for
from app.api.ops.routes import blp as ops_blp
from app.api.pauses.routes import blp as pauses_blp
from app.api.services.cache import ServiceListCache
from app.api.services.routes import blp as services_blp
from app.api.system.routes import blp as system_blp
from app.extensions import Api

if TYPE_CHECKING:
    from app.steward import Steward

BLUEPRINTS = (services_blp, pauses_blp, events_blp, system_blp, git_blp, ops_blp)


def init_app(app: Flask, steward: Steward) -> Api:
    """The API on `app`, with what it keeps of its own: the serialised service list and the
    registry `/metrics` serves."""
    app.extensions["steward_service_list"] = ServiceListCache(steward.store)
    app.extensions["steward_metrics"] = registry_for(steward)
    api = Api(app)
    for blueprint in BLUEPRINTS:
        api.register_blueprint(blueprint)
    return api
