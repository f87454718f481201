"""The REST API: flask-smorest blueprints under /api, OpenAPI at /api/openapi.json."""
from app.api.services.routes import blp as services_blp
from app.api.system.routes import blp as system_blp

BLUEPRINTS = (services_blp, system_blp)
