"""Schemas of the maintenance pause API."""
from __future__ import annotations

from typing import Any

import marshmallow as ma

from app.desired_state.schema import Duration
from app.extensions import Schema, UTCQueryTime, UTCTimestamp

#: The longest pause one request may set; a forgotten pause must not last for ever.
MAX_PAUSE_SECONDS = 7 * 24 * 3600


class PauseRequestSchema(Schema):
    until = UTCQueryTime(metadata={
        "description": "Pause until this time (ISO 8601 with a time zone)"})
    duration = Duration(metadata={"description": "Or pause for this long, e.g. 30m, 2h"})
    reason = ma.fields.String(validate=ma.validate.Length(1, 500), metadata={
        "description": "Why, shown beside the service (e.g. 'db upgrade, ticket 123')"})

    @ma.validates_schema
    def one_end(self, data: dict, **kwargs: Any) -> None:
        if ("until" in data) == ("duration" in data):
            raise ma.ValidationError("give either until (a time) or duration (e.g. 30m)",
                                     "_schema")
        if data.get("duration") is not None and not \
                0 < data["duration"] <= MAX_PAUSE_SECONDS:
            raise ma.ValidationError("must be more than 0s and at most 7 days", "duration")


class PauseSchema(Schema):
    scope = ma.fields.String(required=True, metadata={"description": "service or category"})
    target = ma.fields.String(required=True, metadata={"description": "Its name"})
    until = UTCTimestamp(required=True)
    reason = ma.fields.String(allow_none=True)
    actor = ma.fields.String(required=True)
    created_at = UTCTimestamp(required=True)


class PauseResultSchema(Schema):
    success = ma.fields.Boolean(required=True)
    message = ma.fields.String(required=True)
    pause = ma.fields.Nested(PauseSchema, allow_none=True)


class PauseListSchema(Schema):
    pauses = ma.fields.List(ma.fields.Nested(PauseSchema), required=True)
