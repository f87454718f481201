"""What a Swarm observation leaves in the store (app/store/runtime.py): the replicas and
tasks every replica's API shows, and the failed tasks counted toward the limit, afresh
after a stable period's reset."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from app.domain.actions import Action, Kind
from app.engine.observed import ObservedContainer
from app.operations.replicas import replicas_detail
from app.steward import Steward
from app.store.events import recent_events
from app.store.runtime import record_action, record_observations, runtime_rows
from tests.helpers import sleeper, write_state

NOW = datetime(2026, 12, 1, 3, 0, tzinfo=timezone.utc)


def swarm_service(*failed_ago: float) -> ObservedContainer:
    return ObservedContainer(
        id="c" * 64, name="t_web", service="web", spec_hash="h", field_hashes={},
        state="running", image="img:1", service_id="svc1", replicas=2, running_replicas=2,
        task_failures=len(failed_ago), last_task_error="task: non-zero exit (3)",
        task_failure_times=tuple(NOW - timedelta(seconds=s) for s in failed_ago),
        tasks=(("edge-a", "1", "running"), ("edge-b", "2", "running")))


def observe(steward: Steward, seen: ObservedContainer, now: datetime = NOW) -> None:
    with steward.store.session() as session:
        record_observations(session, runtime_rows(session), {"web": seen}, {"web"}, {}, now)


def failure_count(steward: Steward) -> int:
    with steward.store.reader() as session:
        return runtime_rows(session)["web"].failure_count


def test_replicas_tasks_and_failures_are_stored(steward: Steward, desired_dir: Path) -> None:
    write_state(desired_dir, "services:\n" + sleeper("img:1", "web"))
    assert steward.reconciler.load_desired() is None
    observe(steward, swarm_service(30, 20))
    with steward.store.reader() as session:
        assert replicas_detail(session, "web") == {
            "replicas": "2/2", "tasks": [{"node": "edge-a", "slot": "1", "state": "running"},
                                         {"node": "edge-b", "slot": "2", "state": "running"}]}
        kinds = [e.kind for e in recent_events(session, service="web")]
    assert failure_count(steward) == 2 and "task-failed" in kinds


def test_a_reset_counts_only_failures_after_it(steward: Steward, desired_dir: Path) -> None:
    write_state(desired_dir, "services:\n" + sleeper("img:1", "web"))
    assert steward.reconciler.load_desired() is None
    observe(steward, swarm_service(300, 200))
    with steward.store.session() as session:
        record_action(session, Action(Kind.RESET_FAILURES, "web", "stable"), NOW - timedelta(
            seconds=100))
    observe(steward, swarm_service(300, 200))
    assert failure_count(steward) == 0  # Swarm still lists them; they were forgiven
    observe(steward, swarm_service(300, 200, 10))
    assert failure_count(steward) == 1
