"""Schemas of the system endpoints: desired state and revisions, plan, apply."""
from __future__ import annotations

import marshmallow as ma

from app.extensions import Schema, UTCTimestamp

#: One story told by every example below, so they agree with each other: rtdetr's image and
#: MODE changed in git, nemotron is in a restart backoff, grafana's tag moved on.
REVISION = "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432"
GRAFANA_RUNNING = "sha256:220361f36cb26cc5fd961eb6a893998c6c9165b90a895379b20c0c3799d55afa"
GRAFANA_NEWER = "sha256:3f83d20bb8230d04b45c30f5a60e9f00a60df6fdaa07c1c782f53f7ba5009896"
_RECREATE = "recreate rtdetr: desired spec changed [drift: environment, image]"
_RTDETR_CONTAINER = "a1b2c3d4e5f6723531809b87371589b7e519c04cc77c4a485e06f032c6d75c27"
_HOOK = "https://alerts.example.com/…#14d64846"  # as `notify.shown_url` stores it
_BACKOFF = "backoff after 2 failure(s); last: exit code 137 (OOM killed)"
#: The recap as `Recap.render()` writes it (the apply's own text adds the WAIT line).
_RECAP = ("grafana  : ok\nnemotron : skipped  (" + _BACKOFF + ")\npostgres : ok\n"
          "rtdetr   : changed  (" + _RECREATE + ")\n"
          "RECAP: ok=2 changed=1 failed=0 skipped=1 -> changed")

#: `GET /api/system/plan` before that apply.
PLAN_EXAMPLE = {
    "changes": True,
    "counts": {"create": 0, "recreate": 1, "start": 0, "restart": 0, "stop": 0, "remove": 0,
               "disable": 0, "roll out": 0, "roll back": 0, "unchanged": 2},
    "steps": [
        {"service": "rtdetr", "action": "recreate",
         "reason": "desired spec changed [drift: environment, image]", "symbol": "~",
         "changes": [{"field": "environment.MODE", "old": "fast", "new": "accurate"},
                     {"field": "image", "old": "ghcr.io/org/rtdetr:1.4",
                      "new": "ghcr.io/org/rtdetr:1.5"}],
         "until": None, "container_id": _RTDETR_CONTAINER},
        {"service": "nemotron", "action": "wait", "reason": _BACKOFF, "symbol": " ",
         "changes": [], "until": "2026-11-30T12:00:41Z", "container_id": None},
    ],
    "unchanged": ["grafana", "postgres"],
    "updates_available": {"grafana": GRAFANA_NEWER},
}

#: `POST /api/system/apply` with APPLY_REQUEST_EXAMPLE, carrying out that plan.
APPLY_REQUEST_EXAMPLE = {"wait": True, "timeout": 120}
APPLY_EXAMPLE = {
    "result": "changed", "counts": {"ok": 2, "changed": 1, "failed": 0, "skipped": 1},
    "services": [{"service": "grafana", "outcome": "ok", "detail": ""},
                 {"service": "nemotron", "outcome": "skipped", "detail": _BACKOFF},
                 {"service": "postgres", "outcome": "ok", "detail": ""},
                 {"service": "rtdetr", "outcome": "changed", "detail": _RECREATE}],
    "errors": [], "waited": {"rtdetr": "running"}, "not_healthy": [],
    "recap": _RECAP + "\nWAIT: 1 service(s) healthy", "revision": REVISION, "rollouts": {},
}

#: `GET /api/system/desired-state` after it, with the next commit refused.
DESIRED_STATE_EXAMPLE = {
    "digest": "862dc133e2c81cfe8b7307b08b8960c9658dbfd4b47e9db141c98233f6bd4f6c",
    "loaded_at": "2026-11-30T11:59:58Z", "revision": REVISION, "dirty": False,
    "services": 4, "prune": False,
    "last_error": "desired_state/ai.yaml:3: services.rtdetr.category: must be one of: "
                  "infrastructure, ai, monitoring",
    "last_error_at": "2026-11-30T12:20:05Z",
    "last_error_revision": "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567",
    "source": {"remote": "https://git.example.com/ops/fleet.git", "branch": "main",
               "commit": "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567", "ok": True,
               "detail": "fast-forwarded 9f8e7d6c5b4a -> 0a1b2c3d4e5f",
               "checked_at": "2026-11-30T12:20:04Z"},
    "applies": [{"id": 57, "started_at": "2026-11-30T12:00:02Z",
                 "finished_at": "2026-11-30T12:00:09Z", "actor": "api", "scope": None,
                 "revision": REVISION, "dirty": False, "result": "changed", "ok": 2,
                 "changed": 1, "failed": 0, "skipped": 1, "detail": _RECAP}],
}

#: `GET /api/system/webhooks/deliveries`: one message that got through, one still retried.
DELIVERIES_EXAMPLE = {"deliveries": [
    {"id": 31, "created_at": "2026-11-30T12:09:12Z", "url": _HOOK,
     "event": "disabled", "service": "nemotron", "state": "pending", "attempts": 2,
     "last_error": "HTTP 502", "delivered_at": None,
     "payload": {"event": "disabled", "service": "nemotron", "display_name": "Nemotron LLM",
                 "category": "ai", "status": "disabled",
                 "reason": "failure limit reached: 5 consecutive failures, last: exit code "
                           "137 (OOM killed)",
                 "failure_count": 5, "restart_count": 9, "at": "2026-11-30T12:09:12Z",
                 "steward": "steward"}},
    {"id": 30, "created_at": "2026-11-30T11:52:10Z", "url": _HOOK,
     "event": "recovered", "service": "rtdetr", "state": "delivered", "attempts": 1,
     "last_error": None, "delivered_at": "2026-11-30T11:52:10Z",
     "payload": {"event": "recovered", "service": "rtdetr",
                 "display_name": "RT-DETR Object Detection", "category": "ai",
                 "status": "running", "reason": None, "failure_count": 0, "restart_count": 2,
                 "at": "2026-11-30T11:52:10Z", "steward": "steward"}},
]}

#: `POST /api/system/images/check`: a tag that moved, one that did not, one never pulled.
IMAGE_CHECK_EXAMPLE = {"images": [
    {"service": "grafana", "image": "grafana/grafana:latest", "running_digest": GRAFANA_RUNNING,
     "update_available": GRAFANA_NEWER, "error": None},
    {"service": "postgres", "image": "postgres:16", "running_digest":
        "sha256:615cd5f767e23550b30159d491139ae5206ad9336703c3a729bc8f00eecf5413",
     "update_available": None, "error": None},
    {"service": "rtdetr", "image": "ghcr.io/org/rtdetr:1.5", "running_digest": None,
     "update_available": None,
     "error": "the image was not pulled from a registry; nothing to compare"},
]}


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
