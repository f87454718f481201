"""The reconciler against a real dockerd: create, heal, drift, disable, adopt, orphans.

Passes are run one at a time (`run_pass()`), the way the scheduler runs them, so each test
reads as "the world is like this; after a pass it is like that".
"""
from __future__ import annotations

import re
import shutil
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import docker
import pytest
from flask.testing import FlaskClient

from app import create_app
from app.domain.actions import DOCKER_WRITES
from app.engine.docker_engine import LABEL_INSTANCE
from app.steward import Steward
from app.store.models import RuntimeState
from tests.conftest import ROOT
from tests.helpers import (
    containers_of,
    free_port,
    kill_main_process,
    sleeper,
    write_state,
)
from tests.integration.conftest import passes_until, wait_for

pytestmark = pytest.mark.usefixtures("docker_client")


def runtime(steward: Steward, name: str) -> RuntimeState:
    with steward.store.session() as session:
        return session.get(RuntimeState, name)


def write_sleepers(desired_dir: Path, image: str, *names: str, **extra: str) -> None:
    write_state(desired_dir, "services:\n" + "".join(sleeper(image, n, **extra) for n in names))


def test_the_demo_stack_comes_up_healthy(steward: Steward, client: FlaskClient,
                                         desired_dir: Path, test_image: str,
                                         docker_client: docker.DockerClient,
                                         instance: str) -> None:
    shutil.rmtree(desired_dir)
    shutil.copytree(ROOT / "desired_state", desired_dir)
    for path in desired_dir.glob("*.yaml"):
        text = path.read_text().replace("steward-demo:latest", test_image)
        path.write_text(re.sub(r'"181\d\d:', lambda _: f'"{free_port()}:', text))
    steward.start_background()

    def all_running() -> dict | None:
        body = client.get("/api/system/services").get_json()
        statuses = [s["status"] for s in body["services"]]
        return body if statuses == ["running"] * 3 else None

    body = wait_for(all_running, timeout=60, interval=0.5, what="the demo stack to be healthy")
    assert {c: v["healthy"] for c, v in body["by_category"].items()} == {
        "infrastructure": 1, "ai": 1, "monitoring": 1}
    created = [e["service"] for e in reversed(
        client.get("/api/system/events?kind=create").get_json()["events"])]
    assert created == ["demo-db", "demo-model", "demo-metrics"], \
        "each service is created once its dependency runs"
    assert sorted(containers_of(docker_client, instance)) == created[:1] + sorted(created[1:])


def test_a_deleted_container_is_recreated(steward: Steward, desired_dir: Path, test_image: str,
                                          docker_client: docker.DockerClient,
                                          instance: str) -> None:
    write_sleepers(desired_dir, test_image, "worker")
    steward.reconciler.run_pass()
    first = containers_of(docker_client, instance)["worker"]
    first.remove(force=True)
    result = steward.reconciler.run_pass()
    assert result.plan.render() == "create worker: no container"
    second = containers_of(docker_client, instance)["worker"]
    assert second.id != first.id and second.status == "running"


def test_an_env_edit_recreates_exactly_that_container(steward: Steward, desired_dir: Path,
                                                      test_image: str,
                                                      docker_client: docker.DockerClient,
                                                      instance: str) -> None:
    write_state(desired_dir, "services:\n" + sleeper(test_image, "a") + sleeper(test_image, "b")
                + "    environment: {MODE: one}\n")
    steward.reconciler.run_pass()
    before = {n: c.id for n, c in containers_of(docker_client, instance).items()}
    write_state(desired_dir, "services:\n" + sleeper(test_image, "a") + sleeper(test_image, "b")
                + "    environment: {MODE: two}\n")
    result = steward.reconciler.run_pass()
    assert result.plan.render() == ("rollout b: desired spec changed; start-first because it "
                                    "publishes no host ports [drift: environment]")
    passes_until(steward, lambda: len(docker_client.containers.list(all=True, filters={
        "label": f"{LABEL_INSTANCE}={instance}"})) == 2 and "MODE=two" in containers_of(
        docker_client, instance)["b"].attrs["Config"]["Env"], what="b rolled out")
    after = containers_of(docker_client, instance)
    assert after["a"].id == before["a"]
    assert after["b"].id != before["b"]
    assert "MODE=two" in after["b"].attrs["Config"]["Env"]


def test_a_killed_process_is_started_again_and_counted(steward: Steward, desired_dir: Path,
                                                       test_image: str,
                                                       docker_client: docker.DockerClient,
                                                       instance: str) -> None:
    write_sleepers(desired_dir, test_image, "worker")
    steward.reconciler.run_pass()
    kill_main_process(containers_of(docker_client, instance)["worker"])
    wait_for(lambda: containers_of(docker_client, instance)["worker"].status == "exited",
             what="the container to exit")
    result = steward.reconciler.run_pass()
    assert result.plan.render() == "start worker: exit code 137"
    assert containers_of(docker_client, instance)["worker"].status == "running"
    state = runtime(steward, "worker")
    assert (state.failure_count, state.restart_count, state.last_failure) == \
        (1, 1, "exit code 137")


def test_disable_stops_and_prevents_healing_until_enabled(steward: Steward, client: FlaskClient,
                                                          desired_dir: Path, test_image: str,
                                                          docker_client: docker.DockerClient,
                                                          instance: str) -> None:
    write_sleepers(desired_dir, test_image, "worker")
    steward.reconciler.run_pass()
    assert client.post("/api/system/services/worker/disable").status_code == 200
    assert steward.reconciler.run_pass().plan.render() == "stop worker: service is disabled"
    assert containers_of(docker_client, instance)["worker"].status == "exited"
    assert steward.reconciler.run_pass().plan.render() == "nothing to do"
    assert containers_of(docker_client, instance)["worker"].status == "exited"

    assert client.post("/api/system/services/worker/enable").status_code == 200
    assert steward.reconciler.run_pass().plan.render() == "start worker: enable requested"
    assert containers_of(docker_client, instance)["worker"].status == "running"
    worker = client.get("/api/system/services/worker").get_json()
    assert (worker["status"], worker["failure_count"]) == ("running", 0)


def test_manual_restart_resets_the_failure_count(steward: Steward, client: FlaskClient,
                                                 desired_dir: Path, test_image: str,
                                                 docker_client: docker.DockerClient,
                                                 instance: str) -> None:
    write_sleepers(desired_dir, test_image, "worker")
    steward.reconciler.run_pass()
    for _ in range(2):
        containers_of(docker_client, instance)["worker"].kill()
        wait_for(lambda: containers_of(docker_client, instance)["worker"].status == "exited")
        with steward.store.session() as session:  # skip the backoff, not the stable period
            session.get(RuntimeState, "worker").last_restart_at = \
                datetime.now(timezone.utc) - timedelta(seconds=30)
        steward.reconciler.run_pass()
    assert runtime(steward, "worker").failure_count == 2
    started = containers_of(docker_client, instance)["worker"].attrs["State"]["StartedAt"]
    body = client.post("/api/system/services/worker/restart").get_json()
    assert (body["service"]["status"], body["service"]["failure_count"]) == ("starting", 0)
    assert steward.reconciler.run_pass().plan.render() == "restart worker: restart requested"
    assert containers_of(docker_client, instance)["worker"].attrs["State"]["StartedAt"] != started
    assert (runtime(steward, "worker").failure_count, runtime(steward, "worker").restart_count) \
        == (0, 3)


def test_a_pass_with_nothing_to_do_writes_nothing_to_docker(steward: Steward, desired_dir: Path,
                                                            test_image: str,
                                                            docker_client: docker.DockerClient,
                                                            instance: str) -> None:
    write_sleepers(desired_dir, test_image, "a", "b")
    steward.reconciler.run_pass()
    steward.reconciler.run_pass()
    since = time.time()
    result = steward.reconciler.run_pass()
    until = time.time() + 1
    assert result.plan.render() == "nothing to do" and not result.plan.writes_docker
    events = list(docker_client.api.events(since=since, until=until, decode=True,
                                           filters={"label": f"{LABEL_INSTANCE}={instance}"}))
    assert [e.get("Action") for e in events if not e.get("Action", "").startswith("exec")] == []
    assert not DOCKER_WRITES & {a.kind for a in result.plan.actions}


def test_a_second_steward_adopts_instead_of_duplicating(tmp_path: Path, steward: Steward,
                                                        desired_dir: Path, test_image: str,
                                                        docker_client: docker.DockerClient,
                                                        instance: str) -> None:
    write_sleepers(desired_dir, test_image, "a", "b")
    steward.reconciler.run_pass()
    before = {n: c.id for n, c in containers_of(docker_client, instance).items()}
    other = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.db'}",
                        "DESIRED_STATE_DIR": str(desired_dir), "INSTANCE": instance})
    fresh: Steward = other.extensions["steward"]
    fresh.store.upgrade()
    try:
        assert fresh.reconciler.run_pass().plan.render() == "nothing to do"
        assert runtime(fresh, "a").container_id == before["a"]
    finally:
        fresh.shutdown()
    after = {n: c.id for n, c in containers_of(docker_client, instance).items()}
    assert after == before


def test_orphans_are_reported_then_pruned(steward: Steward, desired_dir: Path, test_image: str,
                                          docker_client: docker.DockerClient,
                                          instance: str) -> None:
    write_sleepers(desired_dir, test_image, "keep", "gone")
    steward.reconciler.run_pass()
    write_sleepers(desired_dir, test_image, "keep")
    result = steward.reconciler.run_pass()
    assert result.plan.render() == ("report-orphan gone: service is no longer in the desired "
                                    "state; set prune: true to remove it")
    assert "gone" in containers_of(docker_client, instance)
    write_state(desired_dir, "prune: true\nservices:\n" + sleeper(test_image, "keep"))
    result = steward.reconciler.run_pass()
    assert result.plan.render() == ("remove-orphan gone: service is no longer in the desired "
                                    "state (prune: true)")
    assert sorted(containers_of(docker_client, instance)) == ["keep"]


def test_containers_without_stewards_labels_are_never_touched(
        steward: Steward, desired_dir: Path, test_image: str,
        docker_client: docker.DockerClient, instance: str) -> None:
    write_state(desired_dir, "prune: true\nservices:\n" + sleeper(test_image, "worker"))
    stranger = docker_client.containers.create(test_image, ["sleep", "3600"],
                                               name=f"{instance}-stranger",
                                               labels={"io.steward.test": "1"})
    try:
        steward.reconciler.run_pass()
        stranger.reload()
        assert stranger.status == "created"
    finally:
        stranger.remove(force=True)


def test_an_image_that_cannot_be_pulled_leaves_the_service_stopped_with_the_reason(
        steward: Steward, client: FlaskClient, desired_dir: Path, test_image: str) -> None:
    write_state(desired_dir, "services:\n" + sleeper("127.0.0.1:9/steward/missing:1", "ghost")
                + sleeper(test_image, "fine"))
    result = steward.reconciler.run_pass()
    assert [a.render() for a, _ in result.report.failed] == ["create ghost: no container"]
    ghost = client.get("/api/system/services/ghost").get_json()
    assert ghost["status"] == "stopped"
    assert "image 127.0.0.1:9/steward/missing:1 is not present and could not be pulled" \
        in ghost["last_error"]
    assert client.get("/api/system/services/fine").get_json()["container_id"]
    assert steward.reconciler.run_pass().plan.render().startswith(
        "wait ghost: retrying after 1 engine error(s)")
