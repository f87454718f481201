"""Services API: list services, one service, and the restart/start/stop/enable/disable actions.

Answers come from the store; actions record the request and wake the reconciler, so no
request waits on Docker.
"""
from __future__ import annotations

from dataclasses import asdict
from typing import Callable

from flask import Response, current_app, jsonify
from flask.views import MethodView

from app.api.services.schemas import (
    DETAIL_EXAMPLE,
    SERVICE_EXAMPLE,
    ServiceActionSchema,
    ServiceDetailSchema,
    ServiceListSchema,
    ServiceQueryArgsSchema,
)
from app.auth.access import current_actor, origin
from app.domain.clock import iso, utcnow
from app.errors import UNAVAILABLE, EngineUnavailable, ServiceNotFound, error_body
from app.extensions import Blueprint, ErrorSchema
from app.operations import service_actions
from app.operations.context import current_steward
from app.operations.read_model import get_service
from app.operations.replicas import replicas_detail
from app.store.events import recent_events

blp = Blueprint("services", __name__, url_prefix="/api/system/services",
                description="Status of the managed services, and manual actions on them.")

_ERRORS = {
    400: "Bad request - the action does not fit the service's state",
    404: "Service not found",
    409: "The same action is already in progress",
    503: UNAVAILABLE,
    500: "Internal server error",
}


#: What Steward really answers for each error, as the examples show it.
_ERROR_DETAILS = {
    400: "Service 'rtdetr' is already running",
    404: "Service 'nope' not found",
    409: "A restart of 'rtdetr' is already in progress",
    503: f"{UNAVAILABLE}: Docker engine unreachable: Error while fetching server API "
         "version: ('Connection aborted.', FileNotFoundError(2, 'No such file or "
         "directory')); Steward retries on its own",
    500: "Internal server error; see Steward's log for details",
}
_BAD_CATEGORY = {
    **error_body(422, "Invalid query parameter 'category': must be one of: "
                         "infrastructure, ai, monitoring"),
    "errors": {"query": {"category": ["must be one of: infrastructure, ai, monitoring"]}}}
def _documents(*codes: int, **details: str) -> Callable:
    """Error responses with real examples; `details` overrides one, e.g. `e400="..."`."""
    def decorate(view: Callable) -> Callable:
        for code in codes:
            detail = details.get(f"e{code}", _ERROR_DETAILS[code])
            view = blp.alt_response(code, schema=ErrorSchema, description=_ERRORS[code],
                                    example=error_body(code, detail))(view)
        return view
    return decorate


@blp.route("")
class Services(MethodView):
    @blp.arguments(ServiceQueryArgsSchema, location="query")
    @blp.response(200, ServiceListSchema, example={
        "services": [SERVICE_EXAMPLE],
        "by_category": {"infrastructure": {"total": 3, "healthy": 3, "unhealthy": 0},
                        "ai": {"total": 5, "healthy": 4, "unhealthy": 1},
                        "monitoring": {"total": 2, "healthy": 2, "unhealthy": 0}},
        "timestamp": "2025-12-23T12:00:00Z"})
    @blp.alt_response(422, schema=ErrorSchema, description="Unknown category",
                      example=_BAD_CATEGORY)
    @_documents(503, 500)
    def get(self, args: dict) -> Response:
        """List managed services, optionally of one category"""
        now = utcnow()
        listed = current_app.extensions["steward_service_list"].get(now)
        if listed["unavailable"]:
            raise EngineUnavailable(f"{listed['unavailable']}; Steward retries on its own")
        category = args.get("category")
        shown = [s for s in listed["services"] if category is None or s["category"] == category]
        return jsonify({"services": shown, "by_category": listed["by_category"],
                        "timestamp": iso(now)})


@blp.route("/<string:name>")
class ServiceByName(MethodView):
    @blp.response(200, ServiceDetailSchema, example=DETAIL_EXAMPLE)
    @_documents(404, 500)
    def get(self, name: str) -> dict:
        """Show one service with its last failure and recent events"""
        stats = current_steward().stats
        sample = stats.latest(name) if stats is not None else None
        with current_steward().store.reader() as session:
            service = get_service(session, name, utcnow())
            if service is None:
                raise ServiceNotFound(name)
            events = recent_events(session, service=name, limit=20)
            return {**asdict(service), "stats": sample.as_dict() if sample else None,
                    "events": events,  # one service: no cache needed
                    **replicas_detail(session, name)}


def _act(name: str, action: str) -> dict:
    """Check and record one operator action, wake the reconciler, answer with the service."""
    steward = current_steward()
    now = utcnow()
    message = service_actions.perform(steward.store, action, name, now,
                                      actor=current_actor("api"), origin=origin())
    steward.trigger([name])
    with steward.store.reader() as session:
        service = get_service(session, name, now)
    if service is None:  # its file was edited away meanwhile
        raise ServiceNotFound(name)
    return {"success": True, "message": message, "service": service}


def _action_example(verb: str, status: str) -> dict:
    return {"success": True, "message": f"Service 'rtdetr' {verb}",
            "service": {**SERVICE_EXAMPLE, "status": status}}


@blp.route("/<string:name>/restart", methods=["POST"])
@blp.response(200, ServiceActionSchema, example=_action_example("restart initiated", "starting"))
@_documents(400, 404, 409, 503, 500,
            e400="Service 'rtdetr' is disabled; enable it before restarting")
def restart_service(name: str) -> dict:
    """Restart a service (resets its failure count)"""
    return _act(name, "restart")


@blp.route("/<string:name>/start", methods=["POST"])
@blp.response(200, ServiceActionSchema, example=_action_example("start initiated", "starting"))
@_documents(400, 404, 409, 503, 500)
def start_service(name: str) -> dict:
    """Start a stopped service"""
    return _act(name, "start")


@blp.route("/<string:name>/stop", methods=["POST"])
@blp.response(200, ServiceActionSchema, example=_action_example("stop initiated", "running"))
@_documents(404, 503, 500)
def stop_service(name: str) -> dict:
    """Stop a service; self-healing leaves it stopped until start, restart or enable"""
    return _act(name, "stop")


@blp.route("/<string:name>/enable", methods=["POST"])
@blp.response(200, ServiceActionSchema, example=_action_example("enabled", "stopped"))
@_documents(404, 503, 500)
def enable_service(name: str) -> dict:
    """Re-enable a service (resets its failure count and resumes self-healing)"""
    return _act(name, "enable")


@blp.route("/<string:name>/disable", methods=["POST"])
@blp.response(200, ServiceActionSchema, example=_action_example("disabled", "disabled"))
@_documents(404, 503, 500)
def disable_service(name: str) -> dict:
    """Disable a service (stops it and prevents self-healing restarts)"""
    return _act(name, "disable")


@blp.route("/<string:name>/rollout/retry", methods=["POST"])
@blp.response(200, ServiceActionSchema,
              example=_action_example("rollout retry initiated", "running"))
@_documents(400, 404, 503, 500)
def retry_rollout(name: str) -> dict:
    """Retry the failed rollout of a service's desired spec (never retried on its own)"""
    return _act(name, "rollout-retry")


@blp.route("/<string:name>/rollback", methods=["POST"])
@blp.response(200, ServiceActionSchema, example=_action_example("rollback initiated", "running"))
@_documents(400, 404, 503, 500)
def rollback_service(name: str) -> dict:
    """Roll back to the spec before the last successful rollout, until the desired state changes"""
    return _act(name, "rollback")


@blp.route("/<string:name>/update", methods=["POST"])
@blp.response(200, ServiceActionSchema, example=_action_example("image update initiated",
                                                                "running"))
@_documents(400, 404, 503, 500)
def update_service(name: str) -> dict:
    """Roll out the newer image digest the last check found for a service"""
    return _act(name, "update")
