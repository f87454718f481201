"""A plan told for people and for machines: what a pass would do to each service, and why,
with the field-by-field diff of every recreate (check mode and diff, as Ansible and
Terraform show them). Pure: built from the plan, the desired state and the observation.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Mapping

from app.desired_state.spec import DesiredState
from app.domain.actions import Action, Kind, Plan, Waiting
from app.domain.clock import iso
from app.engine.observed import ObservedContainer
from app.reconcile.diff import Change, spec_changes
from app.reconcile.fleet import Observation

#: What each kind of step looks like in the text, and which group it counts in.
_SYMBOLS = {Kind.CREATE: "+", Kind.RECREATE: "~", Kind.START: ">", Kind.RESTART: ">",
            Kind.STOP: "|", Kind.REMOVE_DUPLICATE: "-", Kind.REMOVE_ORPHAN: "-",
            Kind.DISABLE: "!", Kind.FLAPPING: "!", Kind.RESET_FAILURES: " ",
            Kind.REPORT_ORPHAN: "?", Kind.WAIT: " ", Kind.CREATE_NETWORK: "+",
            Kind.REMOVE_NETWORK: "-", Kind.ROLLOUT: "~", Kind.PROMOTE: "~",
            Kind.ROLLBACK: "<", Kind.PAUSE_ROLLOUT: "!", Kind.UPDATE: "~", Kind.SCALE: "~"}
_GROUPS = {Kind.CREATE: "create", Kind.RECREATE: "recreate", Kind.START: "start",
           Kind.RESTART: "restart", Kind.STOP: "stop", Kind.REMOVE_DUPLICATE: "remove",
           Kind.REMOVE_ORPHAN: "remove", Kind.DISABLE: "disable",
           Kind.CREATE_NETWORK: "create", Kind.REMOVE_NETWORK: "remove",
           Kind.ROLLOUT: "roll out", Kind.UPDATE: "roll out", Kind.ROLLBACK: "roll back"}


@dataclass(frozen=True)
class Step:
    service: str
    action: str
    reason: str
    symbol: str
    changes: tuple[Change, ...] = ()
    until: datetime | None = None
    container_id: str | None = None

    @property
    def changes_something(self) -> bool:
        return self.action in _GROUPS.values()

    def render(self) -> str:
        head = f"{self.symbol} {self.action} {self.service}: {self.reason}"
        if self.until:
            head += f" (until {iso(self.until)})"
        return "\n".join([head, *(f"    {c.render()}" for c in self.changes)])


@dataclass(frozen=True)
class PlanReport:
    steps: tuple[Step, ...]
    unchanged: tuple[str, ...] = field(default_factory=tuple)
    #: service -> a newer digest of its image that is only shown (no auto_update).
    updates: tuple[tuple[str, str], ...] = ()

    @property
    def changes(self) -> bool:
        return any(s.changes_something for s in self.steps)

    def counts(self) -> dict[str, int]:
        counts = {group: 0 for group in dict.fromkeys(_GROUPS.values())}
        for step in self.steps:
            if step.action in counts:
                counts[step.action] += 1
        return {**counts, "unchanged": len(self.unchanged)}

    def render(self) -> str:
        lines = [s.render() for s in self.steps]
        counts = self.counts()
        summary = ", ".join(f"{n} to {group}" for group, n in counts.items()
                            if n and group != "unchanged")
        lines += [f"  update available {name}: {digest} (auto_update: true, or `steward "
                  f"update {name}`, rolls it out)" for name, digest in self.updates]
        lines.append(f"Plan: {summary or 'no changes'}; {counts['unchanged']} unchanged.")
        return "\n".join(lines)

    def as_dict(self) -> dict:
        return {"changes": self.changes, "counts": self.counts(),
                "steps": [{**asdict(s), "changes": [asdict(c) for c in s.changes]}
                          for s in self.steps],
                "unchanged": list(self.unchanged),
                "updates_available": dict(self.updates)}


def report(the_plan: Plan, desired: DesiredState, seen: Observation) -> PlanReport:
    """`the_plan` told for people, with each change's old and new value from the
    observation the plan was made from."""
    steps = tuple(_step(a, desired, seen.primaries) for a in the_plan.actions)
    planned = {a.service for a in the_plan.actions}
    updates = tuple((name, view.available_digest) for name, view in sorted(seen.views.items())
                    if view.available_digest and name in desired.services
                    and name not in planned)
    return PlanReport(steps, tuple(sorted(set(desired.services) - planned)), updates)


def _step(action: Action, desired: DesiredState,
          primaries: Mapping[str, ObservedContainer | None]) -> Step:
    container = primaries.get(action.service)
    if action.kind is Kind.WAIT and action.waiting_for is Waiting.DEPENDENCY \
            and container is None:
        waits_for = action.cause.removeprefix("waiting for dependency ")
        return Step(action.service, "create", f"no container; waits for {waits_for}", "+")
    changes: tuple[Change, ...] = ()
    if action.kind in (Kind.RECREATE, Kind.ROLLOUT, Kind.UPDATE) and action.drift \
            and container is not None:
        spec = desired.services[action.service]
        changes = tuple(spec_changes(container.applied, spec.label_fields(), action.drift))
    elif action.kind is Kind.CREATE:
        changes = tuple(spec_changes({}, desired.services[action.service].label_fields(),
                                     ("build", "gpus")))
    subject = action.subject if action.service else f"network {action.subject}"
    return Step(subject, _GROUPS.get(action.kind, action.kind.value),
                action.describe() if action.kind is not Kind.WAIT else action.cause,
                _SYMBOLS[action.kind], changes, action.until, action.container_id)
