"""A service's log tail, for the service page: the one read that asks the engine while a
request waits, so it is bounded in lines and bytes and fails into a reason, never an
error page."""
from __future__ import annotations

from typing import TYPE_CHECKING

from app.errors import ActionFailed, EngineUnavailable
from app.store.models import RuntimeState

if TYPE_CHECKING:
    from app.steward import Steward

#: Lines asked of the engine, and bytes kept of them (the end).
LOG_LINES = 100
LOG_BYTES = 64 * 1024


def log_tail(steward: Steward, service: str) -> tuple[str | None, str | None]:
    """(lines, why not): the last lines of the service's container, or why there are none."""
    with steward.store.reader() as session:
        runtime = session.get(RuntimeState, service)
        container_id = runtime.container_id if runtime else None
    if container_id is None:
        return None, "no container"
    try:
        text = steward.reconciler.engine.logs(container_id, LOG_LINES)
    except (EngineUnavailable, ActionFailed) as err:
        return None, str(err)
    if len(text) > LOG_BYTES:
        text = "[… earlier output cut …]\n" + text[-LOG_BYTES:]
    return text, None
