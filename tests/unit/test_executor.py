"""The executor with a fake engine (the Docker boundary): order, isolation of failures, and
skipping actions an operator overtook. The same paths run on real Docker in tests/integration.
"""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from app.domain.actions import Action, Kind, Plan
from app.domain.views import RuntimeView
from app.errors import ActionFailed, EngineUnavailable
from app.reconcile.executor import execute, waves
from app.steward import Steward
from app.store.models import RuntimeState
from app.store.sync import stored_desired_state
from tests.helpers import write_state

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


class FakeEngine:
    """Records calls; fails the services it is told to."""

    def __init__(self, failing: dict[str, Exception] | None = None) -> None:
        self.calls: list[str] = []
        self.failing = failing or {}

    def _do(self, what: str, service: str) -> None:
        self.calls.append(f"{what} {service}")
        if service in self.failing:
            raise self.failing[service]

    def prepare_image(self, spec) -> None:
        """The image is always there."""

    def create(self, spec) -> str:
        self._do("create", spec.name)
        return f"{spec.name}-new"

    def start(self, container_id: str) -> None:
        self._do("start", container_id.removesuffix("-c"))


@pytest.fixture
def specs(steward: Steward, desired_dir: Path) -> dict:
    write_state(desired_dir, """
        services:
          a: {category: infrastructure, image: x}
          b: {category: ai, image: x}
          c: {category: monitoring, image: x}
    """)
    steward.reconciler.load_desired()
    with steward.store.reader() as session:
        return dict(stored_desired_state(session).services)


def run(steward: Steward, engine: FakeEngine, specs: dict, *actions: Action,
        runtime: dict | None = None):
    return execute(Plan(tuple(actions)), engine=engine, store=steward.store, specs=specs,
                   runtime=runtime or {n: RuntimeView() for n in specs},
                   now=lambda: NOW, reported=set())


def test_actions_run_in_plan_order_and_a_failure_does_not_stop_the_rest(
        steward: Steward, specs: dict) -> None:
    engine = FakeEngine(failing={"b": ActionFailed("port is already allocated")})
    report = run(steward, engine, specs, *(Action(Kind.CREATE, n, "no container")
                                           for n in "abc"))
    assert engine.calls == ["create a", "create b", "create c"]
    assert [a.service for a in report.done] == ["a", "c"]
    assert report.failed == [(Action(Kind.CREATE, "b", "no container"),
                              "port is already allocated")]
    with steward.store.reader() as session:
        b = session.get(RuntimeState, "b")
        assert (b.error_count, b.last_error) == (1, "port is already allocated")
        assert session.get(RuntimeState, "c").container_id == "c-new"


def test_an_unreachable_engine_stops_the_run(steward: Steward, specs: dict) -> None:
    engine = FakeEngine(failing={"a": EngineUnavailable("Docker engine unreachable")})
    with pytest.raises(EngineUnavailable):
        run(steward, engine, specs, *(Action(Kind.CREATE, n, "no container") for n in "abc"))
    assert engine.calls == ["create a"]


def test_an_action_overtaken_by_an_operator_is_skipped(steward: Steward, specs: dict) -> None:
    with steward.store.session() as session:
        session.get(RuntimeState, "a").request_version = 1  # e.g. disabled after the plan
    engine = FakeEngine()
    report = run(steward, engine, specs,
                 Action(Kind.START, "a", "exit code 1", container_id="a-c", heal=True),
                 Action(Kind.START, "b", "exit code 1", container_id="b-c", heal=True))
    assert engine.calls == ["start b"]
    assert [a.service for a in report.skipped] == ["a"]
    with steward.store.reader() as session:
        assert session.get(RuntimeState, "a").failure_count == 0
        assert session.get(RuntimeState, "b").failure_count == 1


def test_heals_count_failures_and_a_fresh_heal_starts_the_count_over(
        steward: Steward, specs: dict) -> None:
    with steward.store.session() as session:
        for name in "ab":
            session.get(RuntimeState, name).failure_count = 3
    run(steward, FakeEngine(), specs,
        Action(Kind.START, "a", "exit code 1", container_id="a-c", heal=True,
               failure="exit code 1"),
        Action(Kind.START, "b", "exit code 1", container_id="b-c", heal=True, fresh=True,
               failure="exit code 1"))
    with steward.store.reader() as session:
        a, b = session.get(RuntimeState, "a"), session.get(RuntimeState, "b")
        assert (a.failure_count, a.restart_count, a.last_failure) == (4, 1, "exit code 1")
        assert (b.failure_count, b.restart_count, b.last_restart_at) == (1, 1, NOW)


def test_independent_actions_of_a_tier_share_a_wave_and_dependents_wait_for_the_next(
        steward: Steward, desired_dir: Path) -> None:
    write_state(desired_dir, """
        services:
          db: {category: infrastructure, image: x}
          cache: {category: infrastructure, image: x}
          api: {category: ai, image: x, depends_on: [db]}
          worker: {category: ai, image: x}
          ui: {category: ai, image: x, depends_on: [api]}
    """)
    steward.reconciler.load_desired()
    with steward.store.reader() as session:
        specs = dict(stored_desired_state(session).services)
    actions = [Action(Kind.RECREATE, n, "desired spec changed")
               for n in ("cache", "db", "api", "worker", "ui")]
    assert [[a.service for a in wave] for wave in waves(actions, specs)] == \
        [["cache", "db"], ["api", "worker"], ["ui"]]
