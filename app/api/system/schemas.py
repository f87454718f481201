"""Schemas of the system endpoints: desired state and revisions, plan, apply."""
from __future__ import annotations

import marshmallow as ma

from app.extensions import Schema, UTCTimestamp


class ApplyRecordSchema(Schema):
    id = ma.fields.Integer(required=True)
    started_at = UTCTimestamp(required=True)
    finished_at = UTCTimestamp(required=True)
    actor = ma.fields.String(required=True, metadata={
        "description": "cli, api, or reconciler (a scheduled pass that changed containers)"})
    scope = ma.fields.String(allow_none=True, metadata={"description": "Service, if limited"})
    revision = ma.fields.String(allow_none=True, metadata={"description": "Git commit applied"})
    dirty = ma.fields.Boolean(allow_none=True)
    result = ma.fields.String(required=True, metadata={"description": "ok, changed or failed"})
    ok = ma.fields.Integer(required=True)
    changed = ma.fields.Integer(required=True)
    failed = ma.fields.Integer(required=True)
    skipped = ma.fields.Integer(required=True)
    detail = ma.fields.String(required=True, metadata={"description": "The recap as text"})


class SourceSchema(Schema):
    remote = ma.fields.String(required=True)
    branch = ma.fields.String(required=True)
    commit = ma.fields.String(allow_none=True)
    ok = ma.fields.Boolean(required=True)
    detail = ma.fields.String(allow_none=True)
    checked_at = UTCTimestamp(required=True)


class DesiredStateSchema(Schema):
    digest = ma.fields.String(allow_none=True,
                              metadata={"description": "Hash of the files in force"})
    loaded_at = UTCTimestamp(allow_none=True, metadata={"description": "When they were loaded"})
    revision = ma.fields.String(allow_none=True, metadata={
        "description": "Git commit of the state in force (null outside git)"})
    dirty = ma.fields.Boolean(allow_none=True, metadata={
        "description": "The files in force differed from that commit"})
    services = ma.fields.Integer(required=True, metadata={"description": "Services in force"})
    prune = ma.fields.Boolean(required=True)
    last_error = ma.fields.String(allow_none=True, metadata={
        "description": "Why the newest edit was rejected (file:line: field: message), if it was"})
    last_error_at = UTCTimestamp(allow_none=True)
    last_error_revision = ma.fields.String(allow_none=True)
    source = ma.fields.Nested(SourceSchema, allow_none=True, metadata={
        "description": "The followed git remote (STEWARD_GIT_URL), if any"})
    applies = ma.fields.List(ma.fields.Nested(ApplyRecordSchema), required=True,
                             metadata={"description": "Recent applies, newest first"})


class ChangeSchema(Schema):
    field = ma.fields.String(required=True, metadata={"description": "e.g. environment.MODE"})
    old = ma.fields.String(allow_none=True)
    new = ma.fields.String(allow_none=True)


class StepSchema(Schema):
    service = ma.fields.String(required=True)
    action = ma.fields.String(required=True, metadata={
        "description": "create, recreate, start, restart, stop, remove, disable, wait, ..."})
    reason = ma.fields.String(required=True)
    symbol = ma.fields.String(required=True)
    changes = ma.fields.List(ma.fields.Nested(ChangeSchema), required=True)
    until = UTCTimestamp(allow_none=True)
    container_id = ma.fields.String(allow_none=True)


class PlanSchema(Schema):
    changes = ma.fields.Boolean(required=True, metadata={
        "description": "Whether a pass would change anything"})
    counts = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer(), required=True)
    steps = ma.fields.List(ma.fields.Nested(StepSchema), required=True)
    unchanged = ma.fields.List(ma.fields.String(), required=True)
    updates_available = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String(),
                                       required=True, metadata={
        "description": "Newer image digests found for services without auto_update"})


class ApplyRequestSchema(Schema):
    service = ma.fields.String(validate=ma.validate.Length(1, 64), metadata={
        "description": "Only this service (and what depends on it)"})
    wait = ma.fields.Boolean(load_default=False, metadata={
        "description": "Wait until what changed is healthy"})
    timeout = ma.fields.Float(load_default=120.0, validate=ma.validate.Range(1, 600), metadata={
        "description": "Seconds to wait for a running pass, and then for health"})


class OutcomeSchema(Schema):
    service = ma.fields.String(required=True)
    outcome = ma.fields.String(required=True, metadata={
        "description": "ok, changed, failed or skipped; changed also when Steward's own pass "
                       "(file watcher, git follower) applied this state before: the detail "
                       "then starts `applied before this apply, at <time>`"})
    detail = ma.fields.String(required=True)


class ApplyResultSchema(Schema):
    result = ma.fields.String(required=True, metadata={"description": "ok, changed or failed"})
    counts = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer(), required=True)
    services = ma.fields.List(ma.fields.Nested(OutcomeSchema), required=True)
    errors = ma.fields.List(ma.fields.String(), required=True)
    waited = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String(), required=True)
    not_healthy = ma.fields.List(ma.fields.String(), required=True)
    recap = ma.fields.String(required=True, metadata={"description": "The recap as text"})
    revision = ma.fields.String(allow_none=True, metadata={
        "description": "Git commit of the desired state in force (null outside git)"})
    rollouts = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String(),
                              required=True, metadata={
        "description": "How each rollout the apply started ended (succeeded, or rolled_back "
                       "with the reason)"})


class DeliverySchema(Schema):
    id = ma.fields.Integer(required=True)
    created_at = UTCTimestamp(required=True)
    url = ma.fields.String(required=True, metadata={"description": "Credentials left out"})
    event = ma.fields.String(required=True, metadata={
        "description": "unhealthy, recovered or disabled"})
    service = ma.fields.String(allow_none=True)
    state = ma.fields.String(required=True, metadata={
        "description": "pending, delivered or failed (every attempt failed)"})
    attempts = ma.fields.Integer(required=True)
    last_error = ma.fields.String(allow_none=True)
    delivered_at = UTCTimestamp(allow_none=True)
    payload = ma.fields.Dict(required=True)


class DeliveryListSchema(Schema):
    deliveries = ma.fields.List(ma.fields.Nested(DeliverySchema), required=True)


class ImageCheckSchema(Schema):
    service = ma.fields.String(required=True)
    image = ma.fields.String(required=True)
    running_digest = ma.fields.String(allow_none=True, metadata={
        "description": "The registry digest the running container's image was pulled as"})
    update_available = ma.fields.String(allow_none=True, metadata={
        "description": "A newer digest the registry has for the same tag, or null"})
    error = ma.fields.String(allow_none=True, metadata={
        "description": "Why the registry could not be asked (e.g. a locally built image)"})


class ImageCheckListSchema(Schema):
    images = ma.fields.List(ma.fields.Nested(ImageCheckSchema), required=True)
