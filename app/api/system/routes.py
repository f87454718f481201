"""System endpoints beyond the contract: the desired state in force with its revision and
the history of applies, the pending plan, and apply."""
from __future__ import annotations

from typing import TYPE_CHECKING

from flask.views import MethodView

from app.api.system.schemas import (
    APPLY_EXAMPLE,
    APPLY_REQUEST_EXAMPLE,
    DELIVERIES_EXAMPLE,
    DESIRED_STATE_EXAMPLE,
    IMAGE_CHECK_EXAMPLE,
    PLAN_EXAMPLE,
    ApplyRequestSchema,
    ApplyResultSchema,
    DeliveryListSchema,
    DesiredStateSchema,
    ImageCheckListSchema,
    PlanSchema,
)
from app.auth.access import current_actor, origin
from app.domain.clock import utcnow
from app.errors import EngineUnavailable, NotLeader, error_body
from app.extensions import Blueprint, ErrorSchema
from app.leadership.lease import leader
from app.operations.apply import await_health, run_apply
from app.operations.context import current_steward
from app.operations.plan_preview import pending_plan
from app.store.applies import recent_applies
from app.store.deliveries import recent_deliveries
from app.store.models import SourceStatus
from app.store.runtime import engine_status
from app.store.sync import last_load

if TYPE_CHECKING:
    from app.steward import Steward

blp = Blueprint("system", __name__, url_prefix="/api/system",
                description="Steward itself: the desired state it enforces, plan and apply.")

#: The bodies these routes really answer with (`error_body` is the shape of every error).
_UNREACHABLE = ("Container orchestrator not available: Docker engine unreachable: Error "
                "while fetching server API version: ('Connection aborted.', "
                "FileNotFoundError(2, 'No such file or directory'))")
_NOT_OBSERVED = error_body(503, "Steward has not been able to look at Docker yet "
                                   "(starting, or the engine is unreachable); try again shortly")
_NO_SERVICE = error_body(404, "Service 'nope' not found")
_FOLLOWER = error_body(409, "this replica is a follower; the leader is steward-b:4242: "
                               "send the request there")
_BAD_TIMEOUT = {**error_body(422, "Invalid json parameter 'timeout': Must be greater than "
                                     "or equal to 1 and less than or equal to 600."),
                "errors": {"json": {"timeout": ["Must be greater than or equal to 1 and less "
                                                "than or equal to 600."]}}}


@blp.route("/desired-state")
class DesiredStateView(MethodView):
    @blp.response(200, DesiredStateSchema, example=DESIRED_STATE_EXAMPLE)
    def get(self) -> dict:
        """Show the desired state in force, its revision, the last load error and applies"""
        with current_steward().store.reader() as session:
            good, newest = last_load(session, ok=True), last_load(session)
            failed = newest if newest is not None and not newest.ok else None
            return {
                "digest": good.digest if good else None,
                "loaded_at": good.at if good else None,
                "revision": good.revision if good else None,
                "dirty": good.dirty if good else None,
                "services": good.services if good else 0,
                "prune": bool(good and good.prune),
                "last_error": failed.error if failed else None,
                "last_error_at": failed.at if failed else None,
                "last_error_revision": failed.revision if failed else None,
                "source": session.get(SourceStatus, 1),
                "applies": recent_applies(session, limit=20),
            }


@blp.route("/plan")
class PlanView(MethodView):
    @blp.response(200, PlanSchema, example=PLAN_EXAMPLE)
    @blp.alt_response(503, schema=ErrorSchema, description="Steward has not seen Docker yet",
                      example=_NOT_OBSERVED)
    def get(self) -> dict:
        """What a pass would change now, and why, with field-by-field diffs"""
        return pending_plan(current_steward()).as_dict()


@blp.route("/apply", methods=["POST"])
@blp.arguments(ApplyRequestSchema, example=APPLY_REQUEST_EXAMPLE)
@blp.response(200, ApplyResultSchema, example=APPLY_EXAMPLE)
@blp.alt_response(404, schema=ErrorSchema, description="Service not found", example=_NO_SERVICE)
@blp.alt_response(409, schema=ErrorSchema, example=_FOLLOWER,
                  description="This replica is not the leader; apply on the leader")
@blp.alt_response(422, schema=ErrorSchema, description="A body field is wrong or unknown",
                  example=_BAD_TIMEOUT)
@blp.alt_response(503, schema=ErrorSchema, example=error_body(503, _UNREACHABLE),
                  description="Docker unreachable, or a pass still running")
def apply(args: dict) -> dict:
    """Run one pass now and answer with its recap (optionally after waiting for health)"""
    steward = current_steward()
    _leader_only(steward)
    with steward.store.reader() as session:
        status = engine_status(session)
        if status is not None and not status.reachable:
            raise EngineUnavailable(status.detail)
    outcome = run_apply(steward, service=args.get("service"), timeout=args["timeout"],
                        actor=current_actor("api"), origin=origin())
    if args["wait"]:
        outcome = await_health(steward, outcome, args["timeout"])
    return {**outcome.as_dict(), "recap": outcome.render()}


def _leader_only(steward: Steward) -> None:
    """Passes and registry checks run on the leader alone (the others are fenced out of the
    engine); a follower says where to go instead of doing half of it."""
    ship = steward.leadership
    if ship.contending and ship.held is None:
        with steward.store.reader() as session:
            held = leader(session, utcnow())
        where = f"the leader is {held.holder}" if held else "no leader is elected right now"
        raise NotLeader(f"this replica is a follower; {where}: send the request there")


@blp.route("/webhooks/deliveries")
class Deliveries(MethodView):
    @blp.response(200, DeliveryListSchema, example=DELIVERIES_EXAMPLE)
    def get(self) -> dict:
        """The last 50 webhook messages and how their delivery went, newest first"""
        with current_steward().store.reader() as session:
            return {"deliveries": recent_deliveries(session)}


@blp.route("/images/check", methods=["POST"])
@blp.response(200, ImageCheckListSchema, example=IMAGE_CHECK_EXAMPLE)
@blp.alt_response(409, schema=ErrorSchema, example=_FOLLOWER,
                  description="This replica is not the leader; ask the leader")
@blp.alt_response(503, schema=ErrorSchema, example=error_body(503, _UNREACHABLE),
                  description="Docker unreachable")
def check_images() -> dict:
    """Ask each running service's registry whether its image tag moved on (no pull)"""
    _leader_only(current_steward())
    checks = current_steward().check_images()
    return {"images": [c.as_dict() for c in checks]}
