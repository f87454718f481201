"""Self-healing decisions on a fake clock: dependency waits, restart_with, flapping, pauses."""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from app.desired_state.spec import DesiredState, HealthCheck, RestartPolicy
from app.domain.views import RuntimeView
from app.reconcile.plan import with_dependents
from tests.helpers import NOW, container, planned, render, spec

DB = spec("db", "infrastructure", healthcheck=HealthCheck("tcp", 5, 1, 0, 3, port=5432))
APP = spec("app", "ai", depends_on=("db",),
           healthcheck=HealthCheck("http", 2, 1, 0, 3, path="/", port=80))
HEALTHY = RuntimeView(health="healthy", started_at=NOW - timedelta(hours=1))


def ago(seconds: float) -> object:
    return NOW - timedelta(seconds=seconds)


class TestDependencyWaits:
    def test_a_dependent_is_created_only_once_its_dependency_runs(self) -> None:
        assert render([DB, APP], [container(DB)], {"db": RuntimeView(health=None)}) == \
            "wait app: waiting for dependency db (starting)"
        assert render([DB, APP], [container(DB)], {"db": HEALTHY}) == "create app: no container"

    def test_a_crashed_dependent_waits_instead_of_burning_its_failure_budget(self) -> None:
        observed = [container(DB, "exited", exit_code=1), container(APP, "exited", exit_code=1)]
        runtime = {"db": RuntimeView(failure_count=1, last_restart_at=ago(1)),
                   "app": RuntimeView(failure_count=4)}
        result = planned(DesiredState(services={"db": DB, "app": APP}), observed, runtime, NOW)
        assert result.render().splitlines()[1] == "wait app: waiting for dependency db (stopped)"
        assert not any(a.heal for a in result.actions if a.service == "app")

    def test_an_unhealthy_dependent_waits_while_its_dependency_is_down(self) -> None:
        runtime = {"db": RuntimeView(enabled=False),
                   "app": replace(HEALTHY, health="unhealthy", failure_count=5)}
        assert render([DB, APP], [container(DB, "exited"), container(APP)], runtime) == \
            "wait app: waiting for dependency db (disabled)"

    def test_a_running_dependent_is_left_alone_while_its_dependency_is_down(self) -> None:
        runtime = {"db": RuntimeView(), "app": HEALTHY}
        assert render([DB, APP], [container(DB, "exited", exit_code=1), container(APP)],
                      runtime) == "start db: exit code 1"

    def test_a_crash_during_the_outage_is_not_counted_once_the_dependency_is_back(self) -> None:
        runtime = {"db": replace(HEALTHY, started_at=ago(5)),
                   "app": RuntimeView(finished_at=ago(30), failure_count=2)}
        result = planned(DesiredState(services={"db": DB, "app": APP}),
                      [container(DB), container(APP, "exited", exit_code=1)], runtime, NOW)
        assert result.render() == "start app: exit code 1 while dependency db was down; db is back"
        assert [a.heal for a in result.actions] == [False]

    def test_a_crash_after_the_dependency_came_back_counts(self) -> None:
        runtime = {"db": replace(HEALTHY, started_at=ago(60)),
                   "app": RuntimeView(finished_at=ago(30))}
        result = planned(DesiredState(services={"db": DB, "app": APP}),
                      [container(DB), container(APP, "exited", exit_code=1)], runtime, NOW)
        assert [(a.render(), a.heal) for a in result.actions] == [("start app: exit code 1", True)]

    def test_an_unhealthy_dependent_gets_its_check_window_after_the_dependency_returns(
            self) -> None:
        runtime = {"db": replace(HEALTHY, started_at=ago(4)),
                   "app": replace(HEALTHY, health="unhealthy")}
        text = render([DB, APP], [container(DB), container(APP)], runtime)
        assert text.startswith("wait app: unhealthy; dependency db restarted at")
        assert text.endswith(f"(until {(NOW + timedelta(seconds=2)).isoformat()})"), \
            "two more checks of interval 2s + timeout 1s after db started"
        runtime["db"] = replace(HEALTHY, started_at=ago(6))
        assert render([DB, APP], [container(DB), container(APP)], runtime) == \
            "restart app: unhealthy"

    def test_an_operator_request_is_carried_out_even_while_a_dependency_is_down(self) -> None:
        assert render([DB, APP], [container(DB, "exited", exit_code=1)],
                      {"db": RuntimeView(failure_count=1, last_restart_at=ago(0)),
                       "app": RuntimeView(pending_action="start")}).splitlines()[1] == \
            "create app: no container"


class TestRestartWith:
    VPN = spec("vpn", "infrastructure")
    TORRENT = spec("torrent", "ai", restart_with=("vpn",))

    def test_a_dependent_is_restarted_once_its_restart_with_service_runs_again(self) -> None:
        runtime = {"vpn": RuntimeView(started_at=ago(2)), "torrent": HEALTHY}
        result = planned(DesiredState(services={"vpn": self.VPN, "torrent": self.TORRENT}),
                      [container(self.VPN), container(self.TORRENT)], runtime, NOW)
        assert result.render() == "restart torrent: restart_with: vpn was restarted"
        assert [a.heal for a in result.actions] == [False]

    def test_no_restart_while_the_restart_with_service_is_not_running(self) -> None:
        runtime = {"vpn": RuntimeView(started_at=ago(2)), "torrent": HEALTHY}
        assert render([self.VPN, self.TORRENT],
                      [container(self.VPN, "exited", exit_code=1), container(self.TORRENT)],
                      runtime) == "start vpn: exit code 1"

    def test_restarts_follow_the_dependency_chain_one_link_per_pass(self) -> None:
        web = spec("web", "monitoring", restart_with=("torrent",))
        runtime = {"vpn": RuntimeView(started_at=ago(2)), "torrent": HEALTHY, "web": HEALTHY}
        assert render([web, self.TORRENT, self.VPN],
                      [container(s) for s in (self.VPN, self.TORRENT, web)], runtime) == \
            "restart torrent: restart_with: vpn was restarted"
        runtime["torrent"] = RuntimeView(started_at=ago(1))
        assert render([web, self.TORRENT, self.VPN],
                      [container(s) for s in (self.VPN, self.TORRENT, web)], runtime) == \
            "restart web: restart_with: torrent was restarted"

    def test_restart_with_implies_a_dependency(self) -> None:
        assert self.TORRENT.dependencies == ("vpn",)
        assert render([self.VPN, self.TORRENT], []).splitlines() == [
            "create vpn: no container", "wait torrent: waiting for dependency vpn (stopped)"]


class TestFlapping:
    rules = RestartPolicy(max_failures=2, backoff_base=1, backoff_max=1, flap_transitions=4,
                          flap_window=60)
    svc = spec(restart=rules, healthcheck=HealthCheck("http", 2, 1, 0, 3, path="/", port=80))

    def decide(self, flips: list[float], failures: int = 0) -> str:
        runtime = replace(HEALTHY, failure_count=failures,
                          health_transitions=tuple(ago(s) for s in flips))
        return render([self.svc], [container(self.svc)], {"web": runtime})

    def test_enough_flips_inside_the_window_count_as_a_failure(self) -> None:
        assert self.decide([50, 40, 30, 20]) == \
            "flapping web: flapping: 4 health check changes in 1m"

    def test_flips_outside_the_window_do_not_count(self) -> None:
        assert self.decide([70, 40, 30, 20]) == "nothing to do"

    def test_flips_of_an_earlier_container_run_do_not_count(self) -> None:
        runtime = replace(HEALTHY, started_at=ago(35),
                          health_transitions=tuple(ago(s) for s in (50, 40, 30, 20)))
        assert render([self.svc], [container(self.svc)], {"web": runtime}) == "nothing to do"

    def test_flapping_counts_toward_the_failure_limit(self) -> None:
        assert self.decide([50, 40, 30, 20], failures=2) == (
            "disable web: failure limit reached: 2 consecutive failures, last: flapping: "
            "4 health check changes in 1m")

    def test_the_failure_count_is_not_reset_while_checks_keep_flipping(self) -> None:
        runtime = replace(HEALTHY, failure_count=1, last_restart_at=ago(120),
                          health_transitions=(ago(30),))
        assert render([self.svc], [container(self.svc)], {"web": runtime}, ) == "nothing to do"


class TestPauses:
    def test_a_paused_service_is_not_healed_until_the_pause_ends(self) -> None:
        runtime = RuntimeView(paused_until=NOW + timedelta(minutes=5), pause_reason="db upgrade")
        assert render([DB], [container(DB, "exited", exit_code=1)], {"db": runtime}) == (
            "wait db: self-healing paused (db upgrade); held: start db: exit code 1 "
            f"(until {(NOW + timedelta(minutes=5)).isoformat()})")
        ended = replace(runtime, paused_until=NOW)
        assert render([DB], [container(DB, "exited", exit_code=1)], {"db": ended}) == \
            "start db: exit code 1"

    def test_operator_requests_go_through_a_pause(self) -> None:
        runtime = RuntimeView(paused_until=NOW + timedelta(minutes=5), pending_action="restart")
        assert render([DB], [container(DB)], {"db": runtime}) == "restart db: restart requested"

    def test_a_healthy_paused_service_has_nothing_to_wait_for(self) -> None:
        runtime = replace(HEALTHY, paused_until=NOW + timedelta(minutes=5))
        assert render([DB], [container(DB)], {"db": runtime}) == "nothing to do"


class TestScope:
    def test_a_pass_for_one_service_covers_its_dependents_and_not_the_rest(self) -> None:
        other = spec("other", "monitoring")
        desired = DesiredState(services={"db": DB, "app": APP, "other": other})
        result = planned(desired, [container(spec("gone"))], {"db": HEALTHY}, NOW, only={"db"})
        assert result.render() == "create db: no container\n" \
                                  "wait app: waiting for dependency db (stopped)"

    def test_dependents_are_found_transitively(self) -> None:
        web = spec("web", "monitoring", depends_on=("app",))
        assert with_dependents([DB, APP, web], {"db"}) == {"db", "app", "web"}
