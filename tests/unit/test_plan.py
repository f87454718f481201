"""The planner: (desired, observed, runtime, now) -> plan text, without Docker."""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from app.desired_state.spec import (
    DesiredState,
    HealthCheck,
    PortMapping,
    Resources,
    RestartPolicy,
    VolumeMount,
)
from app.domain.views import RuntimeView
from app.engine.observed import ObservedContainer
from app.reconcile.plan import dependency_order
from tests.helpers import NOW, container, planned, render, spec

WEB = spec()
AGO = NOW - timedelta(seconds=3)


@pytest.mark.parametrize("observed, runtime, expected", [
    ([], RuntimeView(), "create web: no container"),
    ([container(WEB)], RuntimeView(), "nothing to do"),
    ([container(WEB, "created")], RuntimeView(), "start web: container was never started"),
    ([container(WEB, "exited", exit_code=1)], RuntimeView(), "start web: exit code 1"),
    ([container(WEB, "exited", exit_code=137, oom_killed=True)], RuntimeView(),
     "start web: exit code 137 (OOM killed)"),
    ([container(WEB, "exited")], RuntimeView(pending_action="start"),
     "start web: start requested"),
    ([container(WEB, "exited", exit_code=143)], RuntimeView(pending_action="enable"),
     "start web: enable requested"),
    ([], RuntimeView(pending_action="enable"), "create web: no container"),
    ([container(WEB)], RuntimeView(pending_action="restart"), "restart web: restart requested"),
    ([container(WEB)], RuntimeView(health="unhealthy", health_output="GET /health -> HTTP 500"),
     "restart web: unhealthy: GET /health -> HTTP 500"),
    ([container(WEB)], RuntimeView(enabled=False), "stop web: service is disabled"),
    ([container(WEB, "exited")], RuntimeView(enabled=False), "nothing to do"),
    ([], RuntimeView(enabled=False), "nothing to do"),
    ([container(WEB)], RuntimeView(manually_stopped=True), "stop web: stopped by an operator"),
    ([container(WEB, "exited")], RuntimeView(manually_stopped=True), "nothing to do"),
    ([container(WEB)], RuntimeView(failure_count=2, last_restart_at=NOW - timedelta(seconds=61)),
     "reset-failures web: healthy for 60s since the last failure"),
    ([container(WEB)], RuntimeView(failure_count=2, last_restart_at=NOW - timedelta(seconds=59)),
     "nothing to do"),
    ([], RuntimeView(error_count=1, last_error_at=AGO),
     "wait web: retrying after 1 engine error(s) (until 2026-01-01T12:00:02+00:00)"),
    ([], RuntimeView(error_count=1, last_error_at=NOW - timedelta(seconds=5)),
     "create web: no container"),
])
def test_each_state_leads_to_one_decision(observed: list[ObservedContainer],
                                          runtime: RuntimeView, expected: str) -> None:
    assert render([WEB], observed, {"web": runtime}) == expected


START_FIRST = "start-first because it publishes no host ports"


@pytest.mark.parametrize("changes, drift, order", [
    ({"image": "img:2"}, "image", START_FIRST),
    ({"environment": (("A", "1"),)}, "environment", START_FIRST),
    ({"command": ("sleep", "1")}, "command", START_FIRST),
    ({"image": "img:2", "init": True}, "image, init", START_FIRST),
    ({"ports": (PortMapping("127.0.0.1", 8080, 80),)}, "ports",
     "stop-first because it publishes host ports"),
    ({"volumes": (VolumeMount("/srv/data", "/data"),)}, "volumes", START_FIRST),
    ({"resources": Resources(memory_bytes=2 ** 30)}, "resources", START_FIRST),
    ({"stop_grace_period": 30.0}, "stop_grace_period", START_FIRST),
    ({"healthcheck": HealthCheck("command", 1, 1, 0, 3, command=("true",))}, "healthcheck",
     START_FIRST),
])
def test_drift_of_a_running_service_is_rolled_out_and_names_the_fields(
        changes: dict, drift: str, order: str) -> None:
    old = container(WEB)
    assert render([replace(WEB, **changes)], [old]) == \
        f"rollout web: desired spec changed; {order} [drift: {drift}]"


def test_drift_of_a_stopped_service_simply_recreates_it() -> None:
    assert render([replace(WEB, image="img:2")], [container(WEB, "exited", exit_code=0)]) == \
        "recreate web: desired spec changed [drift: image]"


@pytest.mark.parametrize("runtime", [RuntimeView(enabled=False),
                                     RuntimeView(manually_stopped=True)])
def test_a_disabled_or_stopped_service_is_left_alone_even_when_it_drifts(
        runtime: RuntimeView) -> None:
    assert render([replace(WEB, image="img:2")], [container(WEB, "exited")],
                  {"web": runtime}) == "nothing to do"


def test_a_start_on_enable_is_not_counted_as_a_failure() -> None:
    desired = DesiredState(services={"web": WEB})
    result = planned(desired, [container(WEB, "exited", exit_code=143)],
                  {"web": RuntimeView(pending_action="enable")}, NOW)
    assert [a.heal for a in result.actions] == [False]


def test_changes_outside_the_container_are_not_drift() -> None:
    edited = replace(WEB, display_name="Renamed", restart=RestartPolicy(1, 1, 1),
                     healthcheck=HealthCheck("http", 1, 1, 0, 3, path="/", port=80))
    assert render([edited], [container(WEB)]) == "nothing to do"


def test_a_container_without_field_hashes_still_drifts() -> None:
    foreign = container(WEB, spec_hash="old", field_hashes={})
    assert render([replace(WEB, image="img:2")], [foreign]).startswith("rollout web")


def test_drift_wins_over_a_requested_restart() -> None:
    assert render([replace(WEB, image="img:2")], [container(WEB)],
                  {"web": RuntimeView(pending_action="restart")}) == \
        f"rollout web: desired spec changed; {START_FIRST} [drift: image]"


class TestRestartPolicy:
    policy = RestartPolicy(max_failures=3, backoff_base=2, backoff_max=5)
    svc = spec(restart=policy)

    def decide(self, failures: int, restarted_ago: float) -> str:
        runtime = RuntimeView(failure_count=failures,
                              last_restart_at=NOW - timedelta(seconds=restarted_ago))
        return render([self.svc], [container(self.svc, "exited", exit_code=1)],
                      {"web": runtime})

    def test_the_first_restart_is_immediate(self) -> None:
        assert self.decide(0, 0) == "start web: exit code 1"

    @pytest.mark.parametrize("failures, waits", [(1, 2), (2, 4)])
    def test_further_restarts_wait_out_the_backoff(self, failures: int, waits: float) -> None:
        assert self.decide(failures, waits - 0.5).startswith(
            f"wait web: backoff after {failures} failure(s); last: exit code 1 (until ")
        assert self.decide(failures, waits) == "start web: exit code 1"

    def test_the_failure_limit_disables_the_service(self) -> None:
        assert self.decide(3, 10) == ("disable web: failure limit reached: 3 consecutive "
                                      "failures, last: exit code 1")

    def test_a_failure_after_a_stable_period_starts_the_count_afresh(self) -> None:
        """Even when no pass came round to reset the count between stability and the crash."""
        runtime = RuntimeView(failure_count=3, last_restart_at=NOW - timedelta(minutes=20),
                              finished_at=NOW - timedelta(seconds=1))
        result = planned(DesiredState(services={"web": self.svc}),
                      [container(self.svc, "exited", exit_code=1)], {"web": runtime}, NOW,
                      stable_period=60)
        assert [(a.render(), a.heal, a.fresh) for a in result.actions] == \
            [("start web: exit code 1", True, True)]


def test_services_run_in_dependency_then_category_order() -> None:
    services = [spec("grafana", "monitoring"), spec("llm", "ai", depends_on=("vector",)),
                spec("vector", "monitoring"), spec("db", "infrastructure"),
                spec("cache", "infrastructure")]
    assert dependency_order(services) == ["cache", "db", "vector", "llm", "grafana"]
    assert render(services, []) == "\n".join([
        "create cache: no container", "create db: no container", "create vector: no container",
        "wait llm: waiting for dependency vector (stopped)", "create grafana: no container"])


def test_orphans_are_reported_unless_prune_is_set() -> None:
    gone = container(spec("old"))
    assert render([], [gone]) == ("report-orphan old: service is no longer in the desired "
                                  "state; set prune: true to remove it")
    assert render([], [gone], prune=True) == \
        "remove-orphan old: service is no longer in the desired state (prune: true)"


def test_duplicates_keep_the_current_running_container() -> None:
    stale = container(WEB, id="a-stale", spec_hash="old", created="1")
    current = container(WEB, id="b-current", created="2")
    stopped = container(WEB, "exited", id="c-stopped", created="3")
    result = planned(DesiredState(services={"web": WEB}), [stale, current, stopped], {}, NOW)
    assert [(a.kind.value, a.container_id) for a in result.actions] == [
        ("remove-duplicate", "c-stopped"), ("remove-duplicate", "a-stale")]


def test_the_plan_is_deterministic() -> None:
    services = [spec(f"s{i}", "ai") for i in range(5)]
    observed = [container(s, "exited") for s in services[:3]]
    assert render(services, observed) == render(list(reversed(services)),
                                                list(reversed(observed)))


def test_new_services_follow_their_file_enabled_flag() -> None:
    assert render([replace(WEB, enabled=False)], [container(WEB)]) == \
        "stop web: service is disabled"
