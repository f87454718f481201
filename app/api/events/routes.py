"""The event log: what happened to which service, when, why and by whom; newest first."""
from __future__ import annotations

from flask.views import MethodView

from app.api.events.schemas import EVENT_EXAMPLES, EventListSchema, EventQueryArgsSchema
from app.extensions import Blueprint
from app.steward import current_steward
from app.store.events import recent_events

blp = Blueprint("events", __name__, url_prefix="/api/system/events",
                description="The event log: failures, restarts, waits, operator actions.")


@blp.route("")
class Events(MethodView):
    @blp.arguments(EventQueryArgsSchema, location="query")
    @blp.response(200, EventListSchema, example={"events": EVENT_EXAMPLES})
    def get(self, args: dict) -> dict:
        """List events, newest first"""
        with current_steward().store.reader() as session:
            return {"events": recent_events(session, **args)}
