"""What one pass did to each service, counted like Ansible's PLAY RECAP: ok, changed,
failed, skipped. Pure: built from the pass's plan and the executor's report.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from app.reconcile.actions import DOCKER_WRITES, Kind

if TYPE_CHECKING:
    from app.reconcile.reconciler import PassResult

OUTCOMES = ("ok", "changed", "failed", "skipped")


@dataclass(frozen=True)
class ServiceOutcome:
    service: str
    outcome: str  # one of OUTCOMES
    detail: str = ""


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
    done = {a.service: a for a in result.report.done if a.kind in DOCKER_WRITES | {Kind.DISABLE}}
    skipped = {a.service: a for a in result.report.skipped}
    waits = {a.service: a for a in result.plan.actions if a.kind is Kind.WAIT}
    outcomes = []
    for name in sorted(result.planned):
        if name in failed:
            outcomes.append(ServiceOutcome(name, "failed", failed[name]))
        elif name in done:
            outcomes.append(ServiceOutcome(name, "changed", done[name].render()))
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
