"""Push webhooks from the git host: a signed delivery makes Steward fetch the followed
branch now, instead of at the next poll (`STEWARD_GIT_POLL`).

The route takes no API token: the signature over the body (`signatures.py`) authenticates
the git host, and `app/auth/access.py` lets the route through for that reason. Every refused
delivery is an event (`webhook-refused`, with the address it came from), and so is every
accepted push; a signed delivery about anything else is answered and ignored.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING

from flask import current_app, request
from flask.views import MethodView
from flask_smorest import abort

from app.api.git.schemas import FETCHING_EXAMPLE, IGNORED_EXAMPLE, WebhookResultSchema
from app.api.git.signatures import verify
from app.auth.access import origin
from app.desired_state.follow import GitFollower
from app.domain.clock import utcnow
from app.errors import error_body
from app.extensions import Blueprint, ErrorSchema
from app.operations.context import current_steward
from app.store.events import record_event

if TYPE_CHECKING:
    from app.steward import Steward

blp = Blueprint("git", __name__, url_prefix="/api/system/git",
                description="Push webhooks from GitHub, GitLab, Gitea or Forgejo.")

#: Who the event log names for a delivery: the git host has no token name.
ACTOR = "git-webhook"

_REFUSED = error_body(401, "Webhook refused: X-Hub-Signature-256 does not match "
                              "STEWARD_GIT_WEBHOOK_SECRET")
_OFF = error_body(404, "Git webhooks are off: set STEWARD_GIT_WEBHOOK_SECRET (and "
                          "STEWARD_GIT_URL) to have pushes fetched at once")


@blp.route("/webhook")
class WebhookView(MethodView):
    @blp.doc(security=[])
    @blp.response(202, WebhookResultSchema, example=FETCHING_EXAMPLE)
    @blp.alt_response(200, schema=WebhookResultSchema, example=IGNORED_EXAMPLE,
                      description="Signed, but not a push to the followed branch: ignored")
    @blp.alt_response(401, schema=ErrorSchema, example=_REFUSED,
                      description="No signature, or a wrong one; the attempt is an event")
    @blp.alt_response(404, schema=ErrorSchema, example=_OFF,
                      description="Webhooks are off: no STEWARD_GIT_WEBHOOK_SECRET, "
                                  "or no STEWARD_GIT_URL to fetch")
    def post(self) -> tuple[dict, int]:
        """Fetch the followed branch now, on a signed push from the git host"""
        steward = current_steward()
        follower = _follower(steward)
        verdict = verify(request.headers, request.get_data(cache=True),
                         current_app.config["GIT_WEBHOOK_SECRET"])
        if not verdict.ok:
            _audit(steward, "webhook-refused", f"git webhook refused: {verdict.reason}")
            abort(401, message=f"Webhook refused: {verdict.reason}")
        payload = _payload()
        ref, wanted = payload.get("ref"), f"refs/heads/{follower.branch}"
        if ref != wanted:
            what = f"a push to {str(ref)[:200]}" if isinstance(ref, str) else \
                "not a push (no ref, e.g. a ping)"
            return {"result": "ignored", "host": verdict.host,
                    "detail": f"{what}; Steward follows {wanted}: nothing to fetch"}, 200
        follower.wake()
        after = payload.get("after")
        commit = f" ({after[:12]})" if isinstance(after, str) else ""
        detail = f"push to {follower.branch}{commit} from {verdict.host}; fetching " \
                 f"{follower.shown_url} now"
        _audit(steward, "webhook", detail)
        return {"result": "fetching", "host": verdict.host, "detail": detail}, 202


def _follower(steward: Steward) -> GitFollower:
    """The follower to wake; 404 when webhooks are not set up (a missing secret first)."""
    if not current_app.config["GIT_WEBHOOK_SECRET"]:
        abort(404, message="Git webhooks are off: set STEWARD_GIT_WEBHOOK_SECRET (and "
                           "STEWARD_GIT_URL) to have pushes fetched at once")
    if steward.follower is None:
        abort(404, message="Steward follows no git remote: set STEWARD_GIT_URL for pushes "
                           "to it to be fetched")
    return steward.follower


def _payload() -> dict:
    """The delivery's JSON object (`app/http/guard.py` lets only JSON through)."""
    try:
        payload = json.loads(request.get_data(cache=True) or b"{}")
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}


def _audit(steward: Steward, kind: str, message: str) -> None:
    with steward.store.session() as session:
        record_event(session, service=None, kind=kind, at=utcnow(), actor=ACTOR,
                     origin=origin(), message=message[:1000])
