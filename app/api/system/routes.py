"""System endpoints beyond the contract: the desired state in force and its last load error."""
from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView

from app.extensions import Blueprint, Schema, UTCTimestamp
from app.steward import current_steward
from app.store.sync import last_load

blp = Blueprint("system", __name__, url_prefix="/api/system",
                description="Steward itself: the desired state it enforces.")


class DesiredStateSchema(Schema):
    digest = ma.fields.String(allow_none=True,
                              metadata={"description": "Hash of the files in force"})
    loaded_at = UTCTimestamp(allow_none=True, metadata={"description": "When they were loaded"})
    services = ma.fields.Integer(required=True, metadata={"description": "Services in force"})
    prune = ma.fields.Boolean(required=True)
    last_error = ma.fields.String(allow_none=True, metadata={
        "description": "Why the newest edit was rejected (file:line: field: message), if it was"})
    last_error_at = UTCTimestamp(allow_none=True)


@blp.route("/desired-state")
class DesiredStateView(MethodView):
    @blp.response(200, DesiredStateSchema)
    def get(self) -> dict:
        """Show the desired state in force and the last load error"""
        with current_steward().store.reader() as session:
            good, newest = last_load(session, ok=True), last_load(session)
        failed = newest if newest is not None and not newest.ok else None
        return {
            "digest": good.digest if good else None,
            "loaded_at": good.at if good else None,
            "services": good.services if good else 0,
            "prune": bool(good and good.prune),
            "last_error": failed.error if failed else None,
            "last_error_at": failed.at if failed else None,
        }
