"""Schemas of the Services API, field for field as the contract lists them
(`tests/contract/services-api.md`)."""
from __future__ import annotations

import marshmallow as ma

from app.api.events.schemas import EventSchema
from app.desired_state.spec import CATEGORIES
from app.extensions import Schema, UTCTimestamp
from app.status import STATUSES

SERVICE_EXAMPLE = {
    "name": "rtdetr", "display_name": "RT-DETR Object Detection", "category": "ai",
    "status": "running", "enabled": True, "container_id": "a1b2c3d4e5f6",
    "image": "ghcr.io/org/rtdetr:latest", "port": 8001, "failure_count": 0,
    "restart_count": 2, "last_restart_at": "2025-12-23T10:30:00Z", "uptime_seconds": 86400,
}


#: One service as `GET /api/system/services/{name}` shows it.
DETAIL_EXAMPLE = {
    **SERVICE_EXAMPLE, "last_failure": "exit code 137 (OOM killed)",
    "last_failure_at": "2025-12-23T10:29:58Z", "disabled_reason": None, "last_error": None,
    "manually_stopped": False, "health": "healthy", "health_output": None,
    "next_restart_at": None, "waiting_for": None, "wait_reason": None, "wait_until": None,
    "flapping": False, "paused_until": None, "pause_reason": None,
    "observed_at": "2025-12-24T10:30:00Z", "source_file": "desired_state/ai.yaml",
    "gpus": ["nvidia gpu: all"], "networks": ["steward"], "rollout": None, "replicas": None,
    "image_digest": "sha256:4f1c9e0d8a7b", "update_available": None,
    "image_checked_at": "2025-12-24T10:00:00Z",
    "stats": {"cpu_percent": 87.5, "memory_bytes": 3221225472,
              "memory_limit_bytes": 8589934592, "sampled_at": "2025-12-24T10:29:55Z"},
    "events": [{"id": 812, "at": "2025-12-23T10:30:00Z", "service": "rtdetr",
                "kind": "start", "message": "exit code 137 (OOM killed)",
                "actor": "reconciler", "origin": None}],
}


class ServiceQueryArgsSchema(Schema):
    category = ma.fields.String(
        validate=ma.validate.OneOf(CATEGORIES, error="must be one of: " + ", ".join(CATEGORIES)),
        metadata={"description": "Filter by category (`infrastructure`, `ai`, `monitoring`)"})


class ServiceSchema(Schema):
    name = ma.fields.String(required=True, metadata={"description": "Service identifier"})
    display_name = ma.fields.String(required=True,
                                    metadata={"description": "Human-readable service name"})
    category = ma.fields.String(required=True, validate=ma.validate.OneOf(CATEGORIES),
                                metadata={"description": "Service category"})
    status = ma.fields.String(required=True, validate=ma.validate.OneOf(STATUSES),
                              metadata={"description": "Current service status"})
    enabled = ma.fields.Boolean(required=True,
                                metadata={"description": "Whether service is enabled"})
    container_id = ma.fields.String(allow_none=True,
                                    metadata={"description": "First 12 chars of container ID"})
    image = ma.fields.String(required=True, metadata={"description": "Container image name"})
    port = ma.fields.Integer(allow_none=True, metadata={"description": "Service port"})
    failure_count = ma.fields.Integer(
        required=True, metadata={"description": "Number of failures since last reset"})
    restart_count = ma.fields.Integer(required=True,
                                      metadata={"description": "Total restart count"})
    last_restart_at = UTCTimestamp(
        allow_none=True, metadata={"description": "Timestamp of last restart (null if never)"})
    uptime_seconds = ma.fields.Integer(
        allow_none=True, metadata={"description": "Uptime in seconds (null if not running)"})


class CategorySummarySchema(Schema):
    total = ma.fields.Integer(required=True, metadata={"description": "Total services"})
    healthy = ma.fields.Integer(required=True,
                                metadata={"description": "Services with status running"})
    unhealthy = ma.fields.Integer(required=True,
                                  metadata={"description": "Services in any other status"})


class ByCategorySchema(Schema):
    infrastructure = ma.fields.Nested(CategorySummarySchema, required=True)
    ai = ma.fields.Nested(CategorySummarySchema, required=True)
    monitoring = ma.fields.Nested(CategorySummarySchema, required=True)


class ServiceListSchema(Schema):
    services = ma.fields.List(ma.fields.Nested(ServiceSchema), required=True,
                              metadata={"description": "List of service information"})
    by_category = ma.fields.Nested(ByCategorySchema, required=True,
                                   metadata={"description": "Category summaries (whole fleet)"})
    timestamp = UTCTimestamp(required=True, metadata={"description": "Response timestamp"})


class ServiceActionSchema(Schema):
    success = ma.fields.Boolean(required=True)
    message = ma.fields.String(required=True)
    service = ma.fields.Nested(ServiceSchema, required=True)


class RolloutSchema(Schema):
    state = ma.fields.String(required=True, validate=ma.validate.OneOf(
        ("in_progress", "succeeded", "rolled_back", "paused")))
    strategy = ma.fields.String(required=True, metadata={
        "description": "start-first or stop-first"})
    revision = ma.fields.String(allow_none=True, metadata={
        "description": "Git revision of the desired state that was rolled out"})
    spec_hash = ma.fields.String(required=True)
    started_at = UTCTimestamp(required=True)
    finished_at = UTCTimestamp(allow_none=True)
    reason = ma.fields.String(allow_none=True, metadata={
        "description": "Why it was rolled back or paused"})


class StatsSchema(Schema):
    cpu_percent = ma.fields.Float(allow_none=True, metadata={
        "description": "CPU use between the last two samples, in % of one core (200 = two "
                       "busy cores); null for the first sample of a container"})
    memory_bytes = ma.fields.Integer(allow_none=True, metadata={
        "description": "Memory in use, without the page cache (as `docker stats` shows it)"})
    memory_limit_bytes = ma.fields.Integer(allow_none=True, metadata={
        "description": "The container's memory limit (the host's memory without one)"})
    sampled_at = UTCTimestamp(required=True, metadata={"description": "When it was sampled"})


class TaskSchema(Schema):
    node = ma.fields.String(required=True)
    slot = ma.fields.String(required=True)
    state = ma.fields.String(required=True)


class ServiceDetailSchema(ServiceSchema):
    replicas = ma.fields.String(allow_none=True, metadata={
        "description": "Swarm: running/desired replicas, e.g. `2/3`; null on the docker engine"})
    tasks = ma.fields.List(ma.fields.Nested(TaskSchema), metadata={
        "description": "Swarm: each current task's node, slot and state"})
    last_failure = ma.fields.String(allow_none=True,
                                    metadata={"description": "Why the service last failed"})
    last_failure_at = UTCTimestamp(allow_none=True)
    disabled_reason = ma.fields.String(allow_none=True)
    last_error = ma.fields.String(allow_none=True, metadata={
        "description": "Last engine error for this service (e.g. an image pull that failed)"})
    manually_stopped = ma.fields.Boolean(required=True, metadata={
        "description": "Stopped by an operator; self-healing leaves it until start, restart "
                       "or enable"})
    health = ma.fields.String(allow_none=True, metadata={
        "description": "healthy, unhealthy, starting, or null without a check result"})
    health_output = ma.fields.String(allow_none=True,
                                     metadata={"description": "Output of the last failed check"})
    next_restart_at = UTCTimestamp(allow_none=True, metadata={
        "description": "When the next healing restart is planned (during a backoff)"})
    waiting_for = ma.fields.String(allow_none=True, metadata={
        "description": "What the service waits for: backoff, dependency, pause or retry"})
    wait_reason = ma.fields.String(allow_none=True)
    wait_until = UTCTimestamp(allow_none=True)
    flapping = ma.fields.Boolean(required=True, metadata={
        "description": "Flapping was detected within the service's flapping window"})
    paused_until = UTCTimestamp(allow_none=True, metadata={
        "description": "Self-healing is paused (maintenance) until then"})
    pause_reason = ma.fields.String(allow_none=True)
    observed_at = UTCTimestamp(allow_none=True, metadata={
        "description": "When the reconciler last looked at the container"})
    source_file = ma.fields.String(required=True,
                                   metadata={"description": "Desired-state file of the service"})
    gpus = ma.fields.List(ma.fields.String(), required=True, metadata={
        "description": "GPU requests, e.g. `nvidia gpu: all` (empty without GPUs)"})
    networks = ma.fields.List(ma.fields.String(), required=True, metadata={
        "description": "Networks the service joins; it answers to its name on each"})
    rollout = ma.fields.Nested(RolloutSchema, allow_none=True, metadata={
        "description": "The newest health-gated rollout of a change, or null"})
    image_digest = ma.fields.String(allow_none=True, metadata={
        "description": "The registry digest the running image was pulled as"})
    update_available = ma.fields.String(allow_none=True, metadata={
        "description": "A newer digest of the image's tag in its registry, or null"})
    image_checked_at = UTCTimestamp(allow_none=True, metadata={
        "description": "When the registry was last asked"})
    stats = ma.fields.Nested(StatsSchema, allow_none=True, metadata={
        "description": "The latest CPU and memory sample; null while the service is not "
                       "running or before Steward's first sample (every 10 s)"})
    events = ma.fields.List(ma.fields.Nested(EventSchema), required=True,
                            metadata={"description": "Recent events, newest first"})
