"""The event log: what happened to which service, when, why and by whom; newest first."""
from __future__ import annotations

from flask.views import MethodView

from app.api.events.schemas import EVENT_EXAMPLES, EventListSchema, EventQueryArgsSchema
from app.errors import error_body
from app.extensions import Blueprint, ErrorSchema
from app.operations.context import current_steward
from app.store.events import recent_events

blp = Blueprint("events", __name__, url_prefix="/api/system/events",
                description="The event log: failures, restarts, waits, operator actions.")

_RANGE = "Must be greater than or equal to 1 and less than or equal to 1000."
_BAD_LIMIT = {**error_body(422, f"Invalid query parameter 'limit': {_RANGE}"),
              "errors": {"query": {"limit": [_RANGE]}}}


@blp.route("")
class Events(MethodView):
    @blp.arguments(EventQueryArgsSchema, location="query")
    @blp.response(200, EventListSchema, example={"events": EVENT_EXAMPLES})
    @blp.alt_response(422, schema=ErrorSchema, example=_BAD_LIMIT,
                      description="A filter is out of range or not a time with a zone")
    def get(self, args: dict) -> dict:
        """List events, newest first"""
        with current_steward().store.reader() as session:
            return {"events": recent_events(session, **args)}
