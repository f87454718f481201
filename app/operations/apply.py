"""Apply: one pass now, its recap, and optionally a wait until what changed is healthy.

`steward apply` (in-process when no server runs) and `POST /api/system/apply` both come here;
the pass itself is the reconciler's, the same planner and executor as every scheduled pass.
When the file watcher or the git follower already carried the edit out, the pass finds
nothing to do; the recap then says what those passes changed for the desired state in
force, from the event log, rather than changed=0.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING

from app.domain.actions import Kind
from app.domain.clock import utcnow
from app.domain.recap import Recap, ServiceOutcome, summarize
from app.errors import Busy, ServiceNotFound
from app.operations.read_model import get_service
from app.reconcile.reconciler import PassResult
from app.store.applies import changes_before
from app.store.events import record_event
from app.store.models import ServiceRecord
from app.store.rollouts import latest_rollout
from app.store.sync import last_load

if TYPE_CHECKING:
    from app.steward import Steward


@dataclass(frozen=True)
class ApplyOutcome:
    recap: Recap
    waited: dict[str, str] = field(default_factory=dict)  # service -> status when done
    wait_seconds: float | None = None
    revision: str | None = None  # the git commit in force, outside git None
    #: service -> how each rollout the apply started ended (succeeded, rolled_back, ...).
    rollouts: dict[str, str] = field(default_factory=dict)

    @property
    def not_healthy(self) -> list[str]:
        return sorted(name for name, status in self.waited.items() if status != "running")

    @property
    def result(self) -> str:
        failed = any(not state.startswith("succeeded") for state in self.rollouts.values())
        return "failed" if self.not_healthy or failed else self.recap.result

    def render(self) -> str:
        lines = [self.recap.render()]
        lines += [f"ROLLOUT {name}: {state}" for name, state in sorted(self.rollouts.items())]
        if self.wait_seconds is not None:
            if self.not_healthy:
                lines.append(f"WAIT: not healthy after {self.wait_seconds:g}s: " + ", ".join(
                    f"{n} ({self.waited[n]})" for n in self.not_healthy))
            else:
                lines.append(f"WAIT: {len(self.waited)} service(s) healthy")
        return "\n".join(lines)

    def as_dict(self) -> dict:
        return {"result": self.result, "counts": self.recap.counts(),
                "services": [vars(s) for s in self.recap.services],
                "errors": list(self.recap.errors), "waited": self.waited,
                "not_healthy": self.not_healthy, "revision": self.revision,
                "rollouts": self.rollouts}


def run_apply(steward: Steward, *, service: str | None = None, timeout: float = 120.0,
              actor: str, origin: str = "local") -> ApplyOutcome:
    """One pass (of `service` and its dependents, or everything), waiting up to `timeout`
    seconds for a running pass to end first. Asked-for and refused applies are events."""
    what = f"apply of {service}" if service else "apply"
    asked_at = utcnow()
    try:
        if service is not None:
            steward.reconciler.load_desired()  # a service just added to the files counts
            with steward.store.reader() as session:
                if session.get(ServiceRecord, service) is None:
                    raise ServiceNotFound(service)
        result = steward.reconciler.apply(None if service is None else [service],
                                          actor=actor, timeout=timeout)
        if result is None:
            raise Busy(f"a pass is still running after {timeout:g}s; try again")
    except (ServiceNotFound, Busy) as err:
        _audit(steward, "apply-refused", f"{what}: {err}", actor, origin)
        raise
    outcome = replace(_outcome(steward, result, asked_at, every_service=service is None),
                      rollouts=_finish_rollouts(steward, result, timeout))
    counts = " ".join(f"{k}={v}" for k, v in outcome.recap.counts().items())
    _audit(steward, "apply", f"{what}: {outcome.recap.result} ({counts})", actor, origin)
    return outcome


def _outcome(steward: Steward, result: PassResult, asked_at: datetime, *,
             every_service: bool) -> ApplyOutcome:
    """The pass's recap, plus what passes nobody asked for changed for the same state."""
    with steward.store.reader() as session:
        earlier = changes_before(session, result.started_at or asked_at)
        good = last_load(session, ok=True)
    return ApplyOutcome(summarize(result).with_earlier(earlier, every_service=every_service),
                        revision=good.revision if good else None)


def _finish_rollouts(steward: Steward, result: PassResult, timeout: float) -> dict[str, str]:
    """Carry the rollouts this apply started to their end (promoted or rolled back), so an
    apply means the change is in force or says why not; passes run here when no scheduler
    does (the CLI without a server), and merge with the scheduler's when one does."""
    started = sorted({a.service for a in result.report.done if a.kind is Kind.ROLLOUT}) \
        if result.report else []
    deadline = time.monotonic() + timeout
    while started:
        with steward.store.reader() as session:
            rollouts = {n: latest_rollout(session, n) for n in started}
        if all(r is None or r.state != "in_progress" for r in rollouts.values()) or \
                time.monotonic() >= deadline:
            return {n: (f"{r.state}: {r.reason}" if r.reason else r.state) if r else "gone"
                    for n, r in rollouts.items()}
        time.sleep(0.2)
        steward.reconciler.run_pass(started)
    return {}


def _audit(steward: Steward, kind: str, message: str, actor: str, origin: str) -> None:
    with steward.store.session() as session:
        record_event(session, service=None, kind=kind, at=utcnow(), actor=actor,
                     origin=origin, message=message[:1000])


def await_health(steward: Steward, outcome: ApplyOutcome, timeout: float) -> ApplyOutcome:
    """Wait up to `timeout` seconds until every service the apply changed, or left waiting
    for a dependency, is running (health checks and passes must be running meanwhile)."""
    names = [s.service for s in outcome.recap.services if _awaited(s)]
    return replace(outcome, waited=_wait_running(steward, names, timeout), wait_seconds=timeout)


def _awaited(outcome: ServiceOutcome) -> bool:
    return outcome.outcome == "changed" or (outcome.outcome == "skipped"
                                            and outcome.detail.startswith("waiting for"))


def _wait_running(steward: Steward, names: list[str], timeout: float) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    while True:
        with steward.store.reader() as session:
            statuses = {n: (s.status if (s := get_service(session, n, utcnow())) else "gone")
                        for n in names}
        done = all(status in ("running", "disabled", "gone") for status in statuses.values())
        if done or time.monotonic() >= deadline:
            return statuses
        time.sleep(0.1)
