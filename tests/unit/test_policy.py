"""The restart policy on a fake clock: backoff sequence per category, limit, reset."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from app.desired_state.spec import CATEGORY_RESTART_DEFAULTS, DesiredState, ServiceSpec
from app.domain.actions import Kind
from app.domain.views import RuntimeView
from app.engine.observed import ObservedContainer
from app.reconcile import policy
from tests.helpers import planned

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


@pytest.mark.parametrize("category, delays", [
    ("infrastructure", [0, 2, 4, 8, 16, 32, 60, 60, 60, 60]),
    ("ai", [0, 5, 10, 20, 40]),
    ("monitoring", [0, 10, 20]),
])
def test_backoff_sequence_per_category(category: str, delays: list[float]) -> None:
    rules = CATEGORY_RESTART_DEFAULTS[category]
    assert [policy.restart_delay(rules, n) for n in range(1, rules.max_failures + 1)] == delays


def test_next_restart_is_counted_from_the_previous_one() -> None:
    rules = CATEGORY_RESTART_DEFAULTS["ai"]
    runtime = RuntimeView(failure_count=2, last_restart_at=T0)
    assert policy.next_restart_at(rules, runtime) == T0 + timedelta(seconds=10)
    assert policy.next_restart_at(rules, RuntimeView()) is None


def test_limit_is_reached_after_max_failures_restarts() -> None:
    rules = CATEGORY_RESTART_DEFAULTS["monitoring"]
    assert not policy.limit_reached(rules, RuntimeView(failure_count=2))
    assert policy.limit_reached(rules, RuntimeView(failure_count=3))


def test_engine_errors_back_off_exponentially_up_to_the_max() -> None:
    rules = CATEGORY_RESTART_DEFAULTS["infrastructure"]
    at = [policy.error_retry_at(rules, RuntimeView(error_count=n, last_error_at=T0))
          for n in (1, 2, 3, 10)]
    assert [(t - T0).total_seconds() for t in at] == [2, 4, 8, 60]


def test_stable_after_the_stable_period() -> None:
    runtime = RuntimeView(failure_count=1, last_restart_at=T0)
    assert not policy.is_stable(runtime, T0 + timedelta(seconds=59), 60)
    assert policy.is_stable(runtime, T0 + timedelta(seconds=60), 60)


@pytest.mark.parametrize("category, offsets", [
    ("infrastructure", [0, 2, 6, 14, 30, 62, 122, 182, 242, 302]),
    ("ai", [0, 5, 15, 35, 75]),
    ("monitoring", [0, 10, 30]),
])
def test_a_service_that_always_crashes_on_a_fake_clock(category: str,
                                                       offsets: list[float]) -> None:
    """The planner and the policy together: when each restart happens, and the disable."""
    svc = ServiceSpec(name="s", display_name="s", category=category, image="i",
                      restart=CATEGORY_RESTART_DEFAULTS[category])
    crashed = ObservedContainer(id="c", name="c", service="s", spec_hash=svc.spec_hash,
                                field_hashes=svc.field_hashes(), state="exited", image="i",
                                exit_code=1)
    desired = DesiredState(services={"s": svc})
    view, now, restarts = RuntimeView(), T0, []
    for _ in range(50):
        action = planned(desired, [crashed], {"s": view}, now).actions[0]
        if action.kind is Kind.WAIT:
            now = action.until
        elif action.kind is Kind.START:
            restarts.append((now - T0).total_seconds())
            view = replace(view, failure_count=view.failure_count + 1, last_restart_at=now)
        else:
            break
    assert restarts == offsets
    assert action.render() == (f"disable s: failure limit reached: {len(offsets)} consecutive "
                               "failures, last: exit code 1")
