"""Maintenance pauses: hold self-healing for a service or a category until a given time.

While paused, Steward neither restarts, recreates nor disables the service on its own;
operator actions (restart, start, stop) still work. A pause ends by itself at its time.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from flask.views import MethodView
from flask_smorest import abort

from app.api.pauses.schemas import (
    MAX_PAUSE_SECONDS,
    PauseListSchema,
    PauseRequestSchema,
    PauseResultSchema,
)
from app.auth.access import current_actor, origin
from app.desired_state.spec import CATEGORIES
from app.domain.clock import iso, utcnow
from app.errors import ServiceNotFound, error_body
from app.extensions import Blueprint, ErrorSchema
from app.operations.context import current_steward
from app.store import pauses
from app.store.models import ServiceRecord

blp = Blueprint("pauses", __name__, url_prefix="/api/system",
                description="Maintenance: pause self-healing of a service or a category.")

_PAUSE = {"scope": "service", "target": "rtdetr", "until": "2026-11-30T14:00:00Z",
          "reason": "db upgrade, ticket 123", "actor": "alice",
          "created_at": "2026-11-30T12:00:00Z"}
_CATEGORY_PAUSE = {**_PAUSE, "scope": "category", "target": "ai"}
_REQUEST = {"duration": "2h", "reason": "db upgrade, ticket 123"}


_NO_SERVICE = error_body(404, "Service 'nope' not found")
_NO_CATEGORY = error_body(404, "Category 'gpu' not found; one of: infrastructure, ai, monitoring")
_BAD_END = {**error_body(422, "Invalid json parameter '_schema': give either until (a time) or "
                         "duration (e.g. 30m)"),
            "errors": {"json": {"_schema": ["give either until (a time) or duration "
                                            "(e.g. 30m)"]}}}
_TOO_LONG = error_body(400, "until must be in the future")


def _end_of(args: dict, now: datetime) -> datetime:
    until = args.get("until") or now + timedelta(seconds=args["duration"])
    if until <= now:
        abort(400, message="until must be in the future")
    if until > now + timedelta(seconds=MAX_PAUSE_SECONDS):
        abort(400, message="a pause may last at most 7 days; pause again to extend it")
    return until


def _check_target(scope: pauses.Scope, target: str) -> None:
    if scope == "category" and target not in CATEGORIES:
        abort(404, message=f"Category '{target}' not found; one of: {', '.join(CATEGORIES)}")
    if scope == "service":
        with current_steward().store.reader() as session:
            if session.get(ServiceRecord, target) is None:
                raise ServiceNotFound(target)


def _pause(scope: pauses.Scope, target: str, args: dict) -> dict:
    _check_target(scope, target)
    now = utcnow()
    until = _end_of(args, now)
    steward = current_steward()
    with steward.store.session() as session:
        row = pauses.pause(session, scope, target, until=until, reason=args.get("reason"),
                           actor=current_actor("api"), now=now, origin=origin())
    steward.trigger([target] if scope == "service" else None)
    return {"success": True, "pause": row,
            "message": f"Self-healing of {scope} '{target}' paused until {iso(until)}"}


def _resume(scope: pauses.Scope, target: str) -> dict:
    _check_target(scope, target)
    steward = current_steward()
    with steward.store.session() as session:
        ended = pauses.resume(session, scope, target, actor=current_actor("api"),
                              now=utcnow(), origin=origin())
    steward.trigger([target] if scope == "service" else None)
    state = "resumed" if ended else "was not paused"
    return {"success": True, "pause": None,
            "message": f"Self-healing of {scope} '{target}' {state}"}


@blp.route("/pauses")
class Pauses(MethodView):
    @blp.response(200, PauseListSchema, example={"pauses": [_PAUSE, _CATEGORY_PAUSE]})
    def get(self) -> dict:
        """List the pauses in force"""
        with current_steward().store.reader() as session:
            return {"pauses": pauses.active_pauses(session, utcnow())}


@blp.route("/services/<string:name>/pause", methods=["POST"])
@blp.arguments(PauseRequestSchema, example=_REQUEST)
@blp.response(200, PauseResultSchema, example={
    "success": True, "pause": _PAUSE,
    "message": "Self-healing of service 'rtdetr' paused until 2026-11-30T14:00:00Z"})
@blp.alt_response(404, schema=ErrorSchema, description="Service not found", example=_NO_SERVICE)
@blp.alt_response(400, schema=ErrorSchema, example=_TOO_LONG,
                  description="The pause would end in the past, or after 7 days")
@blp.alt_response(422, schema=ErrorSchema, description="Neither or both of until and duration",
                  example=_BAD_END)
def pause_service(args: dict, name: str) -> dict:
    """Pause self-healing of one service until a time"""
    return _pause("service", name, args)


@blp.route("/services/<string:name>/resume", methods=["POST"])
@blp.response(200, PauseResultSchema, example={
    "success": True, "pause": None, "message": "Self-healing of service 'rtdetr' resumed"})
@blp.alt_response(404, schema=ErrorSchema, description="Service not found", example=_NO_SERVICE)
def resume_service(name: str) -> dict:
    """End a service's pause now"""
    return _resume("service", name)


@blp.route("/categories/<string:category>/pause", methods=["POST"])
@blp.arguments(PauseRequestSchema, example={"until": "2026-11-30T14:00:00Z",
                                             "reason": "GPU driver update"})
@blp.response(200, PauseResultSchema, example={
    "success": True, "pause": {**_CATEGORY_PAUSE, "reason": "GPU driver update"},
    "message": "Self-healing of category 'ai' paused until 2026-11-30T14:00:00Z"})
@blp.alt_response(404, schema=ErrorSchema, description="Category not found", example=_NO_CATEGORY)
@blp.alt_response(400, schema=ErrorSchema, example=_TOO_LONG,
                  description="The pause would end in the past, or after 7 days")
@blp.alt_response(422, schema=ErrorSchema, description="Neither or both of until and duration",
                  example=_BAD_END)
def pause_category(args: dict, category: str) -> dict:
    """Pause self-healing of every service of a category until a time"""
    return _pause("category", category, args)


@blp.route("/categories/<string:category>/resume", methods=["POST"])
@blp.response(200, PauseResultSchema, example={
    "success": True, "pause": None, "message": "Self-healing of category 'ai' was not paused"})
@blp.alt_response(404, schema=ErrorSchema, description="Category not found", example=_NO_CATEGORY)
def resume_category(category: str) -> dict:
    """End a category's pause now"""
    return _resume("category", category)
