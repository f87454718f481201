"""`steward apply` tells the truth (issue 12, item 5): when Steward's own pass (the file
watcher's, the git follower's) already carried an edit out, an apply's recap counts what
that pass changed for the desired state in force, taken from the event log."""
from __future__ import annotations

from datetime import timedelta

from app.desired_state.spec import DesiredState
from app.domain.actions import Action, Kind, Plan
from app.domain.recap import EarlierChange, Recap, ServiceOutcome, summarize
from app.reconcile.executor import ExecutionReport
from app.reconcile.reconciler import PassResult
from app.steward import Steward
from app.store.applies import changes_before
from app.store.events import record_event
from app.store.models import Apply
from app.store.sync import sync_desired_state
from tests.helpers import NOW

LOADED = NOW
RECREATED = EarlierChange("b", "recreate", "desired spec changed [drift: environment]",
                          NOW + timedelta(seconds=2))


def recap(*outcomes: tuple[str, str]) -> Recap:
    return Recap(tuple(ServiceOutcome(name, outcome) for name, outcome in outcomes))


def test_a_service_changed_before_counts_as_changed_with_when_and_what() -> None:
    merged = recap(("a", "ok"), ("b", "ok")).with_earlier([RECREATED], every_service=True)
    assert merged.counts() == {"ok": 1, "changed": 1, "failed": 0, "skipped": 0}
    assert merged.result == "changed"
    assert merged.render().splitlines() == [
        "a : ok",
        "b : changed  (applied before this apply, at 2026-01-01T12:00:02Z: recreate: desired "
        "spec changed [drift: environment])",
        "RECAP: ok=1 changed=1 failed=0 skipped=0 -> changed"]


def test_this_passs_own_outcome_wins_and_a_service_says_how_it_began_and_ended() -> None:
    again = EarlierChange("b", "recreate", RECREATED.message, NOW + timedelta(seconds=9))
    started = EarlierChange("a", "start", "container exited", NOW + timedelta(seconds=3))
    merged = recap(("a", "failed"), ("b", "ok")).with_earlier([RECREATED, started, again],
                                                             every_service=True)
    assert [(s.service, s.outcome) for s in merged.services] == [("a", "failed"),
                                                                 ("b", "changed")]
    assert merged.services[1].detail.count("recreate") == 1
    assert "12:00:02Z" in merged.services[1].detail
    rollout = [EarlierChange("b", "rollout", step, NOW + timedelta(seconds=n))
               for n, step in enumerate(["started: drift", "must run 1s", "succeeded"])]
    assert recap(("b", "ok")).with_earlier(rollout, every_service=True).services[0] == \
        ServiceOutcome("b", "changed", "applied before this apply, at 2026-01-01T12:00:00Z: "
                                       "rollout: started: drift; rollout: succeeded")


def test_a_rolled_back_rollout_is_a_failed_change_not_a_change() -> None:
    rolled_back = [EarlierChange("b", "rollout", "started: drift", NOW),
                   EarlierChange("b", "rollback", "rolled back: exited", NOW)]
    merged = recap(("b", "ok")).with_earlier(rolled_back, every_service=True)
    assert (merged.services[0].outcome, merged.result) == ("failed", "failed")
    assert merged.services[0].detail.endswith("rollback: rolled back: exited")


def test_a_removed_service_is_added_only_when_every_service_was_applied() -> None:
    removed = EarlierChange("old", "remove-orphan", "not in the desired state", NOW)
    assert [s.service for s in recap(("a", "ok")).with_earlier(
        [removed], every_service=True).services] == ["a", "old"]
    assert recap(("a", "ok")).with_earlier([removed], every_service=False).counts()[
        "changed"] == 0


def test_nothing_before_leaves_the_recap_as_it_was() -> None:
    assert recap(("a", "ok")).with_earlier([], every_service=True) == recap(("a", "ok"))


def event(steward: Steward, seconds: int, kind: str, service: str | None = "b",
          actor: str = "reconciler") -> None:
    with steward.store.session() as session:
        record_event(session, service=service, kind=kind, at=NOW + timedelta(seconds=seconds),
                     actor=actor, message=f"{kind} at {seconds}")


def asked_apply(steward: Steward, start: int, end: int, scope: str | None = None) -> None:
    with steward.store.session() as session:
        session.add(Apply(started_at=NOW + timedelta(seconds=start), actor="cli", scope=scope,
                          finished_at=NOW + timedelta(seconds=end), result="ok"))


def found(steward: Steward, before: int) -> list[str]:
    with steward.store.reader() as session:
        return [f"{c.kind}: {c.message}"
                for c in changes_before(session, NOW + timedelta(seconds=before))]


def test_the_event_log_gives_changes_since_the_load_and_the_last_asked_apply(
        steward: Steward) -> None:
    event(steward, -5, "recreate")  # before the state in force was loaded
    with steward.store.session() as session:
        sync_desired_state(session, DesiredState(services={}, digest="d1"), LOADED)
    event(steward, 1, "recreate")
    event(steward, 2, "restart", actor="ops")  # an operator's request, not a pass
    event(steward, 3, "unhealthy")  # not a change
    event(steward, 4, "create-network", service=None)
    event(steward, 5, "disable", service="c")
    assert found(steward, before=100) == ["recreate: recreate at 1", "disable: disable at 5"]
    assert found(steward, before=5) == ["recreate: recreate at 1"]

    asked_apply(steward, 10, 12, scope="b")  # a --service apply's own changes were its own
    event(steward, 11, "recreate")
    assert found(steward, before=100) == ["recreate: recreate at 1", "disable: disable at 5"]
    asked_apply(steward, 20, 22)  # an apply of everything reported what came before it
    event(steward, 30, "start")
    assert found(steward, before=100) == ["start: start at 30"]


def test_a_rollback_in_the_pass_itself_is_failed_too() -> None:
    rollback = Action(Kind.ROLLBACK, "b", "the new container exited (code 3)")
    promote = Action(Kind.PROMOTE, "a", "healthy for 1s")
    result = PassResult(plan=Plan((rollback, promote)),
                        report=ExecutionReport(done=[rollback, promote]),
                        planned=frozenset("ab"))
    assert summarize(result).render().splitlines() == [
        "a : changed  (promote a: healthy for 1s)",
        "b : failed  (rollback b: the new container exited (code 3))",
        "RECAP: ok=0 changed=1 failed=1 skipped=0 -> failed"]
