"""Steward's own health and metrics: `/healthz` (alive), `/readyz` (able to serve and
reconcile), `/metrics` (Prometheus)."""
from __future__ import annotations

import marshmallow as ma
from flask import Response, current_app
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app.domain.clock import utcnow
from app.extensions import Blueprint, Schema, UTCTimestamp
from app.leadership.lease import leader
from app.operations.context import current_steward
from app.status import STATUSES
from app.store.db import STORE_FAILURES
from app.store.runtime import engine_status

blp = Blueprint("ops", __name__, url_prefix="",
                description="Steward itself: liveness, readiness and Prometheus metrics.")


class AliveSchema(Schema):
    status = ma.fields.String(required=True, metadata={"example": "alive"})


class DockerSchema(Schema):
    reachable = ma.fields.Boolean(allow_none=True, metadata={
        "description": "null until Steward first asked"})
    detail = ma.fields.String(allow_none=True)
    checked_at = UTCTimestamp(allow_none=True)


class ReadySchema(Schema):
    ready = ma.fields.Boolean(required=True)
    database = ma.fields.String(required=True, metadata={
        "description": "ok, or what is wrong: read-only, full, unreachable or error, then "
                       "the database's own words"})
    scheduler = ma.fields.String(required=True, metadata={"description": "running or stopped"})
    docker = ma.fields.Nested(DockerSchema, required=True, metadata={
        "description": "Reported, not required: a Docker outage is not Steward's"})
    role = ma.fields.String(required=True, metadata={
        "description": "leader: this replica holds the lease and acts on the engine; "
                       "follower: it serves from the store and the leader acts",
        "example": "leader"})
    replica = ma.fields.String(required=True, metadata={
        "description": "This replica's name in the lease (host name or "
                       "STEWARD_REPLICA_NAME, then the pid)"})
    leader = ma.fields.String(required=True, allow_none=True, metadata={
        "description": "The replica whose lease is in force; null while none is"})


#: `/readyz` on a leader, and on one whose database refused a write (a disk gone read-only).
READY_EXAMPLE = {"ready": True, "database": "ok", "scheduler": "running",
                 "docker": {"reachable": True, "detail": None,
                            "checked_at": "2026-11-30T12:00:00Z"},
                 "role": "leader", "replica": "steward-a:4242", "leader": "steward-a:4242"}
NOT_READY_EXAMPLE = {**READY_EXAMPLE, "ready": False,
                     "database": "read-only: attempt to write a readonly database"}

#: The fleet's part of a scrape of `/metrics` (prometheus_client's text format 0.0.4), one
#: running service; the process, pass and stats metrics come before and after it.
_STATUS = 'steward_service_status{category="ai",service="rtdetr",status="%s"} %s\n'
METRICS_EXAMPLE = (
    "# HELP steward_service_status 1 for the service's current status, 0 for the others\n"
    "# TYPE steward_service_status gauge\n"
    + "".join(_STATUS % (status, "1.0" if status == "running" else "0.0")
              for status in STATUSES)
    + "# HELP steward_service_restarts_total Restarts of the service\n"
    "# TYPE steward_service_restarts_total counter\n"
    'steward_service_restarts_total{category="ai",service="rtdetr"} 2.0\n'
    "# HELP steward_service_failure_count Consecutive failures counted toward the failure "
    "limit\n"
    "# TYPE steward_service_failure_count gauge\n"
    'steward_service_failure_count{category="ai",service="rtdetr"} 0.0\n'
    "# HELP steward_desired_state_info The desired state in force\n"
    "# TYPE steward_desired_state_info gauge\n"
    'steward_desired_state_info{digest="862dc133e2c81cfe8b7307b08b8960c9658dbfd4b47e9db141c9823'
    '3f6bd4f6c",dirty="false",revision="9f8e7d6c5b4a39281706f5e4d3c2b1a098765432"} 1.0\n')


@blp.route("/healthz")
@blp.doc(security=[])
@blp.response(200, AliveSchema, example={"status": "alive"})
def healthz() -> dict:
    """Liveness: the process answers"""
    return {"status": "alive"}


@blp.route("/readyz")
@blp.doc(security=[])
@blp.response(200, ReadySchema, example=READY_EXAMPLE)
@blp.alt_response(503, schema=ReadySchema, description="Not ready: database or scheduler",
                  example=NOT_READY_EXAMPLE)
def readyz() -> tuple[dict, int]:
    """Readiness: the database takes writes and, on the leader, the reconcile job runs"""
    steward = current_steward()
    docker = {"reachable": None, "detail": None, "checked_at": None}
    holder = None
    try:
        with steward.store.reader() as session:
            lease = leader(session, utcnow())
            holder = lease.holder if lease else None
            status = engine_status(session)
            if status is not None:
                docker = {"reachable": status.reachable, "detail": status.detail,
                          "checked_at": status.checked_at}
        problem = steward.store.check_writable()
    except STORE_FAILURES:
        problem = steward.store.problem
    database = str(problem) if problem else "ok"
    scheduler = "running" if steward.scheduler.running else "stopped"
    leadership = steward.leadership
    following = leadership.contending and leadership.role == "follower"  # the leader reconciles
    ready = database == "ok" and (scheduler == "running" or following)
    return {"ready": ready, "database": database, "scheduler": scheduler, "docker": docker,
            "role": leadership.role, "replica": leadership.holder,
            "leader": holder}, 200 if ready else 503


@blp.route("/metrics")
@blp.doc(responses={"200": {"description": "Prometheus text format",
                            "content": {"text/plain": {"schema": {"type": "string"},
                                                       "example": METRICS_EXAMPLE}}}})
def prometheus_metrics() -> Response:
    """Prometheus metrics: per-service status, restarts, failures, passes, probes, errors"""
    registry = current_app.extensions["steward_metrics"]
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
