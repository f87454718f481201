"""What one pass did to each service, counted like Ansible's PLAY RECAP: ok, changed,
failed, skipped. Pure: built from the pass's plan and the executor's report, and, for an
apply someone asked for, from what Steward's own passes (the file watcher's, the git
follower's) already changed for the same desired state (`Recap.with_earlier`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Sequence

from app.domain.actions import DOCKER_WRITES, Kind
from app.domain.clock import iso

if TYPE_CHECKING:
    from app.reconcile.reconciler import PassResult

OUTCOMES = ("ok", "changed", "failed", "skipped")
#: What a service's outcome counts as `changed` for: a Docker write, or a disable.
CHANGED_KINDS = DOCKER_WRITES | {Kind.DISABLE}
#: What makes it `failed`: a rollout rolled back or paused; the change did not go in.
UNDONE_KINDS = frozenset({Kind.ROLLBACK, Kind.PAUSE_ROLLOUT})


@dataclass(frozen=True)
class ServiceOutcome:
    service: str
    outcome: str  # one of OUTCOMES
    detail: str = ""


@dataclass(frozen=True)
class EarlierChange:
    """A change an earlier pass made to a service, as the event log holds it."""
    service: str
    kind: str  # an action's kind: recreate, rollout, rollback, ...
    message: str  # e.g. "desired spec changed [drift: environment]"
    at: datetime

    @property
    def outcome(self) -> str:
        return "failed" if self.kind in {k.value for k in UNDONE_KINDS} else "changed"


@dataclass(frozen=True)
class Recap:
    services: tuple[ServiceOutcome, ...] = ()
    errors: tuple[str, ...] = field(default_factory=tuple)  # load or engine errors

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(OUTCOMES, 0)
        for item in self.services:
            counts[item.outcome] += 1
        return counts

    @property
    def result(self) -> str:
        """failed if anything failed (or the pass could not run), else changed, else ok."""
        counts = self.counts()
        if counts["failed"] or self.errors:
            return "failed"
        return "changed" if counts["changed"] else "ok"

    def with_earlier(self, changes: Sequence[EarlierChange], *, every_service: bool) -> Recap:
        """This recap, with what earlier passes changed for the same desired state counted
        as changed (or failed, when their rollout was rolled back): an apply right after the
        file watcher acted says what the edit changed, not changed=0. A service this pass
        acted on keeps its own outcome; services outside the recap (removed ones) are added
        only when the apply covered every service."""
        earlier: dict[str, list[EarlierChange]] = {}
        for change in changes:
            earlier.setdefault(change.service, []).append(change)
        merged = [_before(earlier[s.service]) if s.outcome == "ok" and s.service in earlier
                  else s for s in self.services]
        if every_service:
            known = {s.service for s in self.services}
            merged += [_before(found) for name, found in sorted(earlier.items())
                       if name not in known]
        return Recap(tuple(merged), self.errors)

    def render(self) -> str:
        width = max((len(s.service) for s in self.services), default=0)
        lines = [f"{s.service.ljust(width)} : {s.outcome}" + (f"  ({s.detail})" if s.detail
                                                              else "")
                 for s in self.services]
        lines += [f"ERROR: {e}" for e in self.errors]
        counts = self.counts()
        lines.append("RECAP: " + " ".join(f"{k}={v}" for k, v in counts.items())
                     + f" -> {self.result}")
        return "\n".join(lines)


def summarize(result: PassResult) -> Recap:
    errors = tuple(e for e in (result.load_error and f"desired state rejected, last good "
                                                     f"state applied:\n{result.load_error}",
                               result.engine_error) if e)
    if result.plan is None or result.report is None:
        return Recap((), errors)
    failed = {a.service: error for a, error in result.report.failed}
    done = {a.service: a for a in result.report.done if a.kind in CHANGED_KINDS | UNDONE_KINDS}
    skipped = {a.service: a for a in result.report.skipped}
    waits = {a.service: a for a in result.plan.actions if a.kind is Kind.WAIT}
    outcomes = []
    for name in sorted(result.planned):
        if name in failed:
            outcomes.append(ServiceOutcome(name, "failed", failed[name]))
        elif name in done:
            outcome = "failed" if done[name].kind in UNDONE_KINDS else "changed"
            outcomes.append(ServiceOutcome(name, outcome, done[name].render()))
        elif name in skipped:
            outcomes.append(ServiceOutcome(name, "skipped", "an operator acted meanwhile"))
        elif name in waits:
            outcomes.append(ServiceOutcome(name, "skipped", waits[name].describe()))
        else:
            outcomes.append(ServiceOutcome(name, "ok"))
    orphans = [a for a in result.report.done if a.kind is Kind.REMOVE_ORPHAN]
    outcomes += [ServiceOutcome(a.service, "changed", a.render()) for a in orphans]
    outcomes += [ServiceOutcome(a.service, "failed", error) for a, error in result.report.failed
                 if a.service not in result.planned]
    return Recap(tuple(outcomes), errors)


def _before(changes: Sequence[EarlierChange]) -> ServiceOutcome:
    """The service's outcome is its last change's; the detail says when it began,
    `applied before this apply, at <time>: <first>; <last>`: why it began (the drift) and
    how it ended (a rollout's promotion or rollback); the steps between are events."""
    first, last = changes[0], changes[-1]
    steps = dict.fromkeys(f"{c.kind}: {c.message}" for c in (first, last))
    detail = f"applied before this apply, at {iso(first.at)}: " + "; ".join(steps)
    return ServiceOutcome(first.service, last.outcome, detail)
