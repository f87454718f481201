"""The REST API: flask-smorest blueprints under /api, OpenAPI at /api/openapi.json."""
from app.api.events.routes import blp as events_blp
from app.api.git.routes import blp as git_blp
from app.api.ops.routes import blp as ops_blp
from app.api.pauses.routes import blp as pauses_blp
from app.api.services.routes import blp as services_blp
from app.api.system.routes import blp as system_blp

BLUEPRINTS = (services_blp, pauses_blp, events_blp, system_blp, git_blp, ops_blp)
