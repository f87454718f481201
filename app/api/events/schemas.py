"""Schemas of the event log API."""
from __future__ import annotations

import marshmallow as ma

from app.extensions import Schema, UTCQueryTime, UTCTimestamp


class EventQueryArgsSchema(Schema):
    service = ma.fields.String(validate=ma.validate.Length(1, 64),
                               metadata={"description": "Only events of this service"})
    since = UTCQueryTime(metadata={"description": "Only events at or after this time "
                                                 "(ISO 8601 with a time zone)"})
    kind = ma.fields.String(validate=ma.validate.Length(1, 32),
                            metadata={"description": "Only events of this kind (e.g. restart)"})
    actor = ma.fields.String(validate=ma.validate.Length(1, 64), metadata={
        "description": "Only events by this actor (a token name, api, page, cli, reconciler)"})
    limit = ma.fields.Integer(load_default=100, validate=ma.validate.Range(1, 1000),
                              metadata={"description": "At most this many (1-1000)"})


class EventSchema(Schema):
    id = ma.fields.Integer(required=True)
    at = UTCTimestamp(required=True)
    service = ma.fields.String(allow_none=True,
                               metadata={"description": "null for Steward-wide events"})
    kind = ma.fields.String(required=True, metadata={
        "description": "e.g. start, restart, backoff, dependency, disable, flapping, error"})
    message = ma.fields.String(required=True)
    actor = ma.fields.String(required=True, metadata={
        "description": "Who acted: the token's name, or api, page, cli, reconciler"})
    origin = ma.fields.String(allow_none=True, metadata={
        "description": "Where from: the client's address, or local"})


class EventListSchema(Schema):
    events = ma.fields.List(ma.fields.Nested(EventSchema), required=True)


EVENT_EXAMPLES = [
    {"id": 812, "at": "2026-11-30T12:00:41Z", "service": "rtdetr", "kind": "start",
     "message": "exit code 137 (OOM killed)", "actor": "reconciler", "origin": None},
    {"id": 811, "at": "2026-11-30T12:00:38Z", "service": "rtdetr", "kind": "backoff",
     "message": "backoff after 2 failure(s); last: exit code 137 (OOM killed) "
                "(until 2026-11-30T12:00:41+00:00)", "actor": "reconciler", "origin": None},
    {"id": 790, "at": "2026-11-30T11:58:02Z", "service": "rtdetr", "kind": "restart-requested",
     "message": "manual restart; failure count reset", "actor": "alice",
     "origin": "10.0.0.7"},
]
