"""The pure planner on an engine that gates its own updates (Swarm): tables of
(situation, plan text). Changes become engine-gated UPDATEs, the engine's verdict is
recorded, Swarm restarts tasks while Steward counts failures, and the API's verbs scale."""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from app.desired_state.spec import DesiredState, UpdatePolicy
from app.domain.views import RolloutView, RuntimeView
from tests.helpers import NOW, container, planned, spec

OLD = spec(replicas=2, update=UpdatePolicy(monitor=5, deadline=60))
NEW = replace(OLD, image="img:2")


def service(of, replicas: int = 2, running: int = 2, **changes: object):
    """One Swarm service as the engine observes it (see app/engine/swarm_tasks.py)."""
    return container(of, "running" if running else "exited", service_id="svc1",
                     replicas=replicas, running_replicas=running, **changes)


def updating(spec_hash: str) -> RolloutView:
    return RolloutView(state="in_progress", strategy="start-first", spec_hash=spec_hash,
                       started_at=NOW - timedelta(seconds=5), candidate_id="svc1")


def swarm_plan(desired, observed, view: RuntimeView | None = None) -> str:
    state = DesiredState(services={desired.name: desired})
    runtime = {desired.name: view} if view else {}
    return planned(state, observed, runtime, NOW, engine_updates=True).render()


@pytest.mark.parametrize("desired, observed, view, expected", [
    (OLD, [], None, "create web: no service; 2 replica(s)"),
    (replace(OLD, replicas=None), [], None, "create web: no service; 1 replica(s)"),
    (OLD, [service(OLD)], None, "nothing to do"),
    (NEW, [service(OLD)], None,
     "update web: desired spec changed; the engine rolls it out start-first [drift: image]"),
    (replace(OLD, replicas=3), [service(OLD)], None, "scale web: replicas 2 -> 3"),
    (OLD, [service(OLD, replicas=0, running=0)], None,
     "start web: no replica wanted: scale to 2"),
    (OLD, [service(OLD)], RuntimeView(enabled=False),
     "stop web: service is disabled: scale to 0"),
    (OLD, [service(OLD)], RuntimeView(manually_stopped=True),
     "stop web: stopped by an operator: scale to 0"),
    (OLD, [service(OLD, replicas=0, running=0)], RuntimeView(manually_stopped=True),
     "nothing to do"),
    (OLD, [service(OLD)], RuntimeView(pending_action="restart"),
     "restart web: restart requested: forced update"),
    (OLD, [service(OLD, replicas=0, running=0)], RuntimeView(pending_action="enable"),
     "start web: enable requested: scale to 2"),
])
def test_the_swarm_rules(desired, observed, view, expected) -> None:
    assert swarm_plan(desired, observed, view) == expected


@pytest.mark.parametrize("failures, last_failed, expected", [
    (0, None, "nothing to do"),
    (4, 10, "nothing to do"),  # Swarm restarts the tasks: no heal action of Steward's
    (5, 10, "disable web: failure limit reached: 5 failed tasks, last: task: non-zero exit "
            "(3) (exit code 3); scaled to 0"),
    (4, 60, "reset-failures web: no failed task for 60s since the last one"),
])
def test_failed_tasks_are_counted_up_to_the_limit_and_forgotten_when_stable(
        failures: int, last_failed: float | None, expected: str) -> None:
    """The store counts the failed tasks (since the last update or reset); the planner
    disables at the limit, or resets the count after a stable period without one."""
    observed = service(OLD, running=1, task_failures=failures,
                       last_task_error="task: non-zero exit (3) (exit code 3)")
    view = RuntimeView(failure_count=failures, last_failure_at=None if last_failed is None
                       else NOW - timedelta(seconds=last_failed))
    assert OLD.restart.max_failures == 5
    assert swarm_plan(OLD, [observed], view) == expected


@pytest.mark.parametrize("observed, expected", [
    (service(NEW, update_state="updating"),
     "wait web: the engine is updating the service (updating)"),
    (service(NEW, update_state="completed"), "promote web: the engine completed the update"),
    (service(OLD, update_state="rollback_started",
             update_message="update rolled back due to failure or early termination of task x"),
     "rollback web: the engine rolled the update back: update rolled back due to failure or "
     "early termination of task x"),
    (service(OLD, update_state="completed"),
     "rollback web: the engine rolled the update back: the service runs its previous spec "
     "again"),
    (service(NEW, update_state="paused", update_message="update paused"),
     "pause-rollout web: the engine paused the update: update paused"),
])
def test_the_engines_verdict_on_an_update_is_recorded(observed, expected) -> None:
    view = RuntimeView(rollout=updating(NEW.spec_hash))
    assert swarm_plan(NEW, [observed], view) == expected


def test_a_spec_the_engine_rolled_back_is_not_tried_again() -> None:
    failed = replace(updating(NEW.spec_hash), state="rolled_back",
                     reason="the engine rolled the update back: x")
    assert swarm_plan(NEW, [service(OLD)], RuntimeView(rollout=failed)) == "nothing to do"


def test_the_docker_engine_still_rolls_out_itself() -> None:
    state = DesiredState(services={"web": NEW})
    assert planned(state, [service(OLD)], {}, NOW).actions[0].kind.value == "rollout"


DB = spec("db", category="infrastructure", replicas=1)
APP = replace(OLD, depends_on=("db",))


@pytest.mark.parametrize("db, app, expected", [
    (service(DB, replicas=1, running=0), service(APP),
     "stop web: holding at 0 replicas while dependency db (stopped) is down"),
    (service(DB, replicas=1, running=0), service(APP, replicas=0, running=0),
     "wait web: waiting for dependency db (stopped)"),
    (service(DB, replicas=1, running=1), service(APP, replicas=0, running=0),
     "start web: no replica wanted: scale to 2"),
    (service(DB, replicas=1, running=1, health="starting"), service(APP),
     "nothing to do"),  # a dependency that is only starting holds nothing back
])
def test_a_dependent_is_held_at_zero_while_its_dependency_is_down(db, app, expected) -> None:
    state = DesiredState(services={"db": DB, "web": APP})
    plan_text = planned(state, [db, app], {}, NOW, engine_updates=True).render()
    assert plan_text == expected
