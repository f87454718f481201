"""Operating many at once: restart every service of a category, or pause and resume its
self-healing for a while. Each asks first, naming the services and what will happen, and
goes through the same paths as one service's action and the pauses API.
"""
from __future__ import annotations

from datetime import timedelta

from flask import Response, flash, redirect, render_template, request

from app.auth import csrf
from app.auth.access import current_actor, origin
from app.desired_state.spec import CATEGORIES
from app.domain.clock import utcnow
from app.errors import AppError, detail_for
from app.operations import service_actions
from app.operations.context import current_steward
from app.operations.read_model import list_services
from app.store import pauses
from app.web.blueprint import PAUSE_CHOICES, bp, error_page
from app.web.format import category as category_label

BULK = ("restart", "pause", "resume")




@bp.post("/categories/<category>/<action>")
def act_on_category(category: str, action: str) -> Response | str | tuple:
    if category not in CATEGORIES or action not in BULK:
        return error_page(404, f"No category action '{category}/{action}'; categories: "
                                f"{', '.join(CATEGORIES)}; actions: {', '.join(BULK)}")
    if not csrf.is_valid():
        return error_page(400, "This form expired or did not come from this page (CSRF "
                                "check failed). Reload the page and try again.")
    seconds = request.form.get("duration", "")
    if action == "pause" and seconds not in dict(PAUSE_CHOICES):
        return error_page(400, f"Pause for how long? One of: "
                                f"{', '.join(label for _, label in PAUSE_CHOICES)}")
    if request.form.get("confirm") != "yes":
        return _confirm(category, action, seconds)
    message, ok = _carry_out(category, action, seconds)
    flash(message, "success" if ok else "error")
    return redirect(f"/#category-{category}", code=303)


def _confirm(category: str, action: str, seconds: str) -> str:
    """Name the services and what happens to each, before anything does."""
    label = category_label(category)
    with current_steward().store.reader() as session:
        services = list_services(session, utcnow(), category)
    enabled = [s for s in services if s.enabled]
    names = ", ".join(s.display_name for s in enabled) or "none"
    if action == "restart":
        question = f"Restart all {len(enabled)} enabled {label} services?"
        facts = [f"These restart: {names}.",
                 "Each container stops (up to its stop timeout) and starts again; failure "
                 "counts start over. Disabled services stay as they are."]
    elif action == "pause":
        question = f"Pause self-healing of {label} for {dict(PAUSE_CHOICES)[seconds]}?"
        facts = [f"Steward will not restart, recreate or disable these on its own until "
                 f"then: {', '.join(s.display_name for s in services) or 'none'}.",
                 "Your own restarts, starts and stops still work; the pause ends by itself."]
    else:
        question = f"Resume self-healing of {label} now?"
        facts = ["Steward heals these services again at its next pass."]
    return render_template("confirm.html", question=question, facts=facts, action=action,
                           target=f"/categories/{category}/{action}", back="/",
                           answer=f"Yes, {action} {label}", carry={"duration": seconds}
                           if action == "pause" else {})


def _carry_out(category: str, action: str, seconds: str) -> tuple[str, bool]:
    steward, now = current_steward(), utcnow()
    label = category_label(category)
    if action in ("pause", "resume"):
        with steward.store.session() as session:
            if action == "pause":
                pauses.pause(session, "category", category,
                             until=now + timedelta(seconds=int(seconds)),
                             reason="paused from the status page",
                             actor=current_actor("page"), now=now, origin=origin())
            else:
                pauses.resume(session, "category", category, actor=current_actor("page"),
                              now=now, origin=origin())
        steward.trigger()
        return (f"Self-healing of {label} paused for {dict(PAUSE_CHOICES)[seconds]}"
                if action == "pause" else f"Self-healing of {label} resumed"), True
    with steward.store.reader() as session:
        names = [s.name for s in list_services(session, now, category) if s.enabled]
    refused = []
    for name in names:
        try:
            service_actions.perform(steward.store, "restart", name, now,
                                    actor=current_actor("page"), origin=origin())
        except AppError as err:
            refused.append(detail_for(err))
    steward.trigger(names)
    done = len(names) - len(refused)
    message = f"Restart of {done} {label} service(s) initiated"
    return (message + (f"; refused: {'; '.join(refused)}" if refused else ""), not refused)
