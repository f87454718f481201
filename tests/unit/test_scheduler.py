"""The reconcile job: interval from STEWARD_RECONCILE_INTERVAL, one at a time, and on demand."""
from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

from app.config import load_config
from app.reconcile.scheduler import ReconcileScheduler


class CountingReconciler:
    def __init__(self) -> None:
        self.passes = 0
        self.scopes: list[frozenset[str] | None] = []
        self.ran = threading.Event()

    def run_pass(self, only: frozenset[str] | None = None) -> None:
        self.passes += 1
        self.scopes.append(only)
        self.ran.set()


def test_interval_comes_from_the_environment_with_a_default_of_10s() -> None:
    assert load_config({})["RECONCILE_INTERVAL"] == 10.0
    assert load_config({"STEWARD_RECONCILE_INTERVAL": "2.5"})["RECONCILE_INTERVAL"] == 2.5


def test_one_job_at_most_one_instance_first_pass_at_once() -> None:
    reconciler = CountingReconciler()
    scheduler = ReconcileScheduler(reconciler, interval=60)
    scheduler.start()
    try:
        assert reconciler.ran.wait(5), "the first pass runs at start-up"
        job = scheduler._scheduler.get_job("reconcile")
        assert (job.trigger.interval.total_seconds(), job.max_instances, job.coalesce) == \
            (60, 1, True)
        reconciler.ran.clear()
        scheduler.trigger(["db"])
        assert reconciler.ran.wait(5), "a triggered pass does not wait for the interval"
    finally:
        scheduler.shutdown()
    time.sleep(0.1)
    assert reconciler.scopes == [None, frozenset({"db"})]


def test_a_wake_up_runs_a_pass_of_that_service_at_its_time() -> None:
    reconciler = CountingReconciler()
    scheduler = ReconcileScheduler(reconciler, interval=60)
    scheduler.start()
    try:
        assert reconciler.ran.wait(5)
        reconciler.ran.clear()
        asked = datetime.now(timezone.utc) + timedelta(seconds=0.5)
        reconciler.wake(asked, "db", "wait")
        assert reconciler.ran.wait(5), "the reconciler's wake hook schedules a pass"
        assert datetime.now(timezone.utc) >= asked
    finally:
        scheduler.shutdown()
    assert reconciler.scopes == [None, frozenset({"db"})]


def test_passes_never_overlap_and_a_request_during_a_pass_is_not_lost(steward) -> None:
    reconciler = steward.reconciler
    active, overlaps, passes, scopes = [0], [0], [0], []
    first_started = threading.Event()

    def slow_pass(only):
        scopes.append(only)
        active[0] += 1
        overlaps[0] = max(overlaps[0], active[0])
        passes[0] += 1
        first_started.set()
        time.sleep(0.3)
        active[0] -= 1

    reconciler._pass = slow_pass
    runner = threading.Thread(target=reconciler.run_pass)
    runner.start()
    first_started.wait(5)
    assert reconciler.run_pass(["a"]) is None, "a second caller returns at once"
    assert reconciler.run_pass(["b"]) is None
    runner.join(5)
    assert (overlaps[0], passes[0]) == (1, 2), "the requests during the pass ran as one more"
    assert scopes == [None, frozenset({"a", "b"})], "scoped requests merge"


def test_a_full_pass_request_absorbs_scoped_ones(steward) -> None:
    reconciler = steward.reconciler
    reconciler._request(["a"])
    reconciler._request(None)
    reconciler._request(["b"])
    assert reconciler._take_request().services is None


def test_the_configured_stable_period_defaults_to_the_planners() -> None:
    from app.config import SETTINGS
    from app.reconcile.policy import STABLE_PERIOD_SECONDS

    assert SETTINGS["STABLE_PERIOD"][1] == STABLE_PERIOD_SECONDS
