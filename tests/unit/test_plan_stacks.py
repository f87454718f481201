"""Planning for stacks: networks, depends_on conditions, run-once services, and the diff of
the new fields, without Docker."""
from __future__ import annotations

from dataclasses import replace

import pytest

from app.desired_state.spec import (
    BuildSpec,
    Dependency,
    DesiredState,
    DeviceRequest,
    HealthCheck,
    NetworkAttachment,
    RestartPolicy,
)
from app.domain.views import RuntimeView
from app.engine.observed import ObservedNetwork
from app.reconcile.diff import spec_changes
from app.reconcile.fleet import drifted_fields
from tests.helpers import NOW, container, planned, render, reported, spec

BACKEND = NetworkAttachment(name="backend", aliases=("db",))
DEFAULT_NET = ObservedNetwork(id="n1", name="steward_default", network="default", containers=1)


def plan_text(services, observed, networks, *, prune=False, only=None) -> str:
    desired = DesiredState(services={s.name: s for s in services}, prune=prune)
    return planned(desired, observed, {}, NOW, stable_period=60, networks=networks,
                only=only).render()


@pytest.mark.parametrize("networks, prune, expected", [
    ([], False, "create-network default: a service needs it and it does not exist"),
    ([DEFAULT_NET], False, "nothing to do"),
    ([DEFAULT_NET, ObservedNetwork("n2", "steward_old", "old", containers=0)], False,
     "nothing to do"),
    ([DEFAULT_NET, ObservedNetwork("n2", "steward_old", "old", containers=0)], True,
     "remove-network old: no service uses it (prune: true)"),
    ([DEFAULT_NET, ObservedNetwork("n2", "steward_old", "old", containers=1)], True,
     "nothing to do"),
])
def test_networks_are_created_when_missing_and_pruned_when_unused(networks, prune, expected):
    web = spec()
    assert plan_text([web], [container(web)], networks, prune=prune) == expected


def test_networks_come_before_the_containers_that_need_them() -> None:
    web = spec(networks=(BACKEND, NetworkAttachment(name="default")))
    assert plan_text([web], [], []).splitlines() == [
        "create-network backend: a service needs it and it does not exist",
        "create-network default: a service needs it and it does not exist",
        "create web: no container",
    ]


def test_external_networks_are_the_operators_to_create() -> None:
    web = spec(networks=(NetworkAttachment(name="corp", external=True, docker_name="corp"),))
    assert plan_text([web], [container(web)], []) == "nothing to do"


def test_a_container_made_before_networks_is_recreated_onto_them() -> None:
    web = spec()
    old_hashes = {k: v for k, v in web.field_hashes().items() if k not in ("networks", "logging")}
    old = container(web, spec_hash="before-networks", field_hashes=old_hashes)
    assert drifted_fields(web, old) == ("networks", "logging")
    assert render([web], [old]) == ("rollout web: desired spec changed; start-first because "
                                    "it publishes no host ports [drift: networks, logging]")


HEALTHY_DB = spec("db", "infrastructure",
                  healthcheck=HealthCheck("tcp", 10, 5, 0, 3, port=5432))
ONCE = RestartPolicy(max_failures=3, backoff_base=1, backoff_max=10, mode="once")
MIGRATE = spec("migrate", "infrastructure", restart=ONCE)


@pytest.mark.parametrize("condition, db_state, db_health, expected", [
    ("service_healthy", "running", "healthy", "create web: no container"),
    ("service_healthy", "running", None, "wait web: waiting for dependency db (starting)"),
    ("service_started", "running", None, "create web: no container"),
    ("service_started", "exited", None, "wait web: waiting for dependency db (stopped)"),
])
def test_depends_on_conditions_decide_when_a_dependent_starts(condition, db_state, db_health,
                                                              expected) -> None:
    web = spec(depends_on=("db",), conditions=(Dependency("db", condition),))
    runtime = {"db": RuntimeView(health=db_health)}
    desired = DesiredState(services={"db": HEALTHY_DB, "web": web})
    the_plan = planned(desired, [container(HEALTHY_DB, db_state, exit_code=0)], runtime, NOW,
                    stable_period=60, only={"web"})
    assert the_plan.render() == expected


@pytest.mark.parametrize("state, exit_code, expected", [
    ("running", None, "wait web: waiting for dependency migrate (not completed)"),
    ("exited", 1, "wait web: waiting for dependency migrate (not completed)"),
    ("exited", 0, "create web: no container"),
])
def test_service_completed_successfully_waits_for_exit_code_zero(state, exit_code,
                                                                 expected) -> None:
    web = spec(depends_on=("migrate",),
               conditions=(Dependency("migrate", "service_completed_successfully"),))
    desired = DesiredState(services={"migrate": MIGRATE, "web": web})
    the_plan = planned(desired, [container(MIGRATE, state, exit_code=exit_code)], {}, NOW,
                    stable_period=60, only={"web"})
    assert the_plan.render() == expected


@pytest.mark.parametrize("exit_code, expected", [
    (0, "nothing to do"),
    (2, "start migrate: exit code 2"),
])
def test_a_run_once_service_is_healed_only_when_it_failed(exit_code, expected) -> None:
    assert render([MIGRATE], [container(MIGRATE, "exited", exit_code=exit_code)]) == expected


def test_a_run_once_service_runs_again_when_its_spec_changes() -> None:
    done = container(MIGRATE, "exited", exit_code=0)
    changed = replace(MIGRATE, command=("migrate", "--all"))
    assert render([changed], [done]) == "recreate migrate: desired spec changed [drift: command]"


def test_the_diff_names_networks_builds_and_gpus() -> None:
    before = spec(image="app:1")
    after = replace(before, networks=(BACKEND,), gpus=(DeviceRequest(driver="nvidia", count=-1),),
                    build=BuildSpec(context="/abs/app", in_repo="./app", content="0123456789abcdef"))
    changes = spec_changes(before.label_fields(), after.label_fields(),
                           drifted_fields(after, container(before)))
    assert [c.render() for c in changes] == [
        "+ build: ./app (Dockerfile, content 0123456789ab)",
        "+ networks: backend aliases db",
        "- networks: default",
        "+ gpus: nvidia gpu: all",
    ]


def test_plan_shows_the_gpus_and_build_of_a_new_service() -> None:
    model = spec("model", gpus=(DeviceRequest(count=-1),),
                 build=BuildSpec(context="/x", in_repo="./model", content="feedfacefeedface"))
    desired = DesiredState(services={"model": model})
    text = reported(planned(desired, [], {}, NOW, stable_period=60), desired, []).render()
    assert "+ build: ./model (Dockerfile, content feedfacefeed)" in text
    assert "+ gpus: gpu: all" in text
