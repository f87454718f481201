"""Rollouts on a real dockerd: a good change goes live with no failed request, a bad one is
rolled back to the container that was serving, a failed pull touches nothing, and a
Steward restart in the middle neither leaves two containers nor none.

Passes run one after the other in the test (`passes_until`), as the scheduler runs them.
"""
from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path
from typing import Callable

import docker
import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from app.steward import Steward
from tests.helpers import free_port, write_state
from tests.integration.conftest import TEST_LABEL, passes_until, wait_for

pytestmark = pytest.mark.usefixtures("docker_client")

SERVE = "mkdir -p /www && echo $$VERSION > /www/index.html && exec httpd -f -p 8080 -h /www"


def web(image: str, version: str, *, ports: str = "", command: str = "",
        extra: str = "") -> str:
    """A web server answering its VERSION on 8080, healthy once it answers."""
    run = command or f'["sh", "-c", "{SERVE}"]'
    return (f"services:\n  web:\n    category: infrastructure\n    image: {image}\n"
            f"    command: {run}\n    init: true\n    stop_grace_period: 1s\n"
            f"    environment: {{VERSION: {version}}}\n"
            "    healthcheck: {command: [\"wget\", \"-q\", \"-O\", \"/dev/null\", "
            "\"http://127.0.0.1:8080/\"], interval: 0.5s, retries: 1}\n"
            "    update: {monitor: 1s, deadline: 20s}\n" + ports + extra)


def service_of(steward: Steward, client: FlaskClient) -> dict:
    return client.get("/api/system/services/web").get_json()


def web_containers(docker_client: docker.DockerClient, instance: str) -> list:
    return docker_client.containers.list(
        all=True, filters={"label": [f"io.steward.instance={instance}",
                                     "io.steward.service=web"]})


def rollout_state(client: FlaskClient) -> str | None:
    rollout = client.get("/api/system/services/web").get_json()["rollout"]
    return rollout["state"] if rollout else None


def running_web(steward: Steward, client: FlaskClient, desired_dir: Path, text: str) -> None:
    write_state(desired_dir, text)
    passes_until(steward, lambda: service_of(steward, client)["status"] == "running",
                 what="web to be healthy")


@pytest.fixture
def poller(docker_client: docker.DockerClient, test_image: str, instance: str
           ) -> Callable[[], "Poller"]:
    """A client container on the instance network asking `web` by name every 100 ms."""
    made: list = []

    def start() -> Poller:
        script = ("while true; do if timeout 2 wget -q -O - http://web:8080/; then :; "
                  "else echo FAIL; fi; sleep 0.1; done")
        container = docker_client.containers.run(
            test_image, ["sh", "-c", script], detach=True, labels={TEST_LABEL: "1"},
            network=f"{instance}_default", name=f"poller-{uuid.uuid4().hex[:8]}")
        made.append(container)
        return Poller(container)

    yield start
    for container in made:
        container.remove(force=True)


class Poller:
    def __init__(self, container) -> None:
        self.container = container

    def answers(self) -> list[str]:
        return self.container.logs().decode().split()


def test_a_good_change_goes_live_start_first_losing_at_most_the_request_at_the_switch(
        steward: Steward, client: FlaskClient, desired_dir: Path, test_image: str,
        docker_client: docker.DockerClient, instance: str, poller) -> None:
    """Both containers answer to `web` while the new one takes over, so no request fails
    before or after; the one that resolved the old address in the instant it leaves the
    network can get no answer (Docker's DNS; docs/benchmarks-rollout.md), and only then."""
    running_web(steward, client, desired_dir, web(test_image, "one"))
    polling = poller()
    wait_for(lambda: polling.answers().count("one") >= 5, what="the client to be served")
    write_state(desired_dir, web(test_image, "two"))
    passes_until(steward, lambda: rollout_state(client) == "succeeded",
                 what="the start-first rollout to succeed")
    wait_for(lambda: polling.answers()[-3:] == ["two"] * 3, what="the new version to serve")
    answers = polling.answers()
    assert answers.count("FAIL") <= 1, f"{answers.count('FAIL')} failed requests: {answers}"
    if "FAIL" in answers:  # at the switch: "two" from then on
        assert set(answers[answers.index("FAIL") + 1:]) == {"two"}, answers
    assert {"one", "two"} <= set(answers)
    [left] = web_containers(docker_client, instance)
    assert left.name == f"{instance}-web"
    detail = service_of(steward, client)
    assert (detail["rollout"]["strategy"], detail["status"]) == ("start-first", "running")


def test_a_stop_first_change_measures_its_downtime(
        steward: Steward, client: FlaskClient, desired_dir: Path, test_image: str,
        docker_client: docker.DockerClient, instance: str) -> None:
    port = free_port()
    published = f"    ports: [\"{port}:8080\"]\n"
    running_web(steward, client, desired_dir, web(test_image, "one", ports=published))
    failures: list[float] = []
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            try:
                requests.get(f"http://127.0.0.1:{port}/", timeout=1).raise_for_status()
            except requests.RequestException:
                failures.append(time.monotonic())
            time.sleep(0.05)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    write_state(desired_dir, web(test_image, "two", ports=published))
    passes_until(steward, lambda: rollout_state(client) == "succeeded",
                 what="the stop-first rollout to succeed")
    wait_for(lambda: requests.get(f"http://127.0.0.1:{port}/", timeout=1).text == "two\n",
             what="the new version on the published port")
    stop.set()
    thread.join()
    print(f"stop-first downtime: {failures[-1] - failures[0] if failures else 0:.2f}s "
          f"({len(failures)} failed requests)")
    [left] = web_containers(docker_client, instance)
    assert left.name == f"{instance}-web" and left.status == "running"
    assert service_of(steward, client)["rollout"]["strategy"] == "stop-first"


@pytest.mark.parametrize("ports", ["", "published"])
def test_a_bad_command_is_rolled_back_to_the_serving_container_and_not_retried(
        steward: Steward, client: FlaskClient, desired_dir: Path, test_image: str,
        docker_client: docker.DockerClient, instance: str, ports: str) -> None:
    published = f"    ports: [\"{free_port()}:8080\"]\n" if ports else ""
    running_web(steward, client, desired_dir, web(test_image, "one", ports=published))
    [serving] = web_containers(docker_client, instance)
    broken = '["sh", "-c", "echo cannot start: missing config; exit 3"]'
    write_state(desired_dir, web(test_image, "two", ports=published, command=broken))
    passes_until(steward, lambda: rollout_state(client) == "rolled_back",
                 what="the bad change to be rolled back")
    [left] = web_containers(docker_client, instance)
    assert (left.id, left.name, left.status) == (serving.id, f"{instance}-web", "running")
    passes_until(steward, lambda: service_of(steward, client)["status"] == "running",
                 what="the old container to serve (stop-first: started again)")
    detail = service_of(steward, client)
    assert detail["rollout"]["reason"] == "the new container exited (exit code 3)"
    [event] = [e for e in detail["events"] if e["kind"] == "rollback"]
    assert "cannot start: missing config" in event["message"], "its last log lines"

    for _ in range(5):  # the failed spec is remembered: no loop
        steward.reconciler.run_pass()
        time.sleep(0.2)
    assert [c.id for c in web_containers(docker_client, instance)] == [serving.id]
    assert rollout_state(client) == "rolled_back"

    assert client.post("/api/system/services/web/rollout/retry").status_code == 200
    passes_until(steward, lambda: len([e for e in service_of(steward, client)["events"]
                                       if e["kind"] == "rollback"]) == 2,
                 what="the retried rollout to fail again")
    assert [c.id for c in web_containers(docker_client, instance)] == [serving.id]


def test_a_failed_pull_leaves_the_old_container_untouched(
        steward: Steward, client: FlaskClient, desired_dir: Path, test_image: str,
        docker_client: docker.DockerClient, instance: str) -> None:
    running_web(steward, client, desired_dir, web(test_image, "one"))
    [serving] = web_containers(docker_client, instance)
    write_state(desired_dir, web("127.0.0.1:9/steward/absent:1", "one"))
    steward.reconciler.run_pass()
    detail = service_of(steward, client)
    assert "image 127.0.0.1:9/steward/absent:1 is not present and could not be pulled" in \
        detail["last_error"]
    assert (detail["status"], detail["rollout"]) == ("running", None)
    assert [(c.id, c.status) for c in web_containers(docker_client, instance)] == \
        [(serving.id, "running")]


@pytest.mark.parametrize("order", ["start-first", "stop-first"])
def test_a_steward_restart_in_the_middle_of_a_rollout_resumes_it(
        make_app: Callable[..., Flask], desired_dir: Path, test_image: str,
        docker_client: docker.DockerClient, instance: str, order: str) -> None:
    slow = f"    update: {{order: {order}, monitor: 3s, deadline: 30s}}\n"
    write_state(desired_dir, web(test_image, "one").replace(
        "    update: {monitor: 1s, deadline: 20s}\n", slow))
    first: Steward = make_app().extensions["steward"]
    passes_until(first, lambda: len(web_containers(docker_client, instance)) == 1 and
                 web_containers(docker_client, instance)[0].status == "running",
                 what="web to run")
    write_state(desired_dir, web(test_image, "two").replace(
        "    update: {monitor: 1s, deadline: 20s}\n", slow))
    first.reconciler.run_pass()  # starts the rollout
    assert len(web_containers(docker_client, instance)) == 2
    first.shutdown()  # as if Steward stopped here

    second_app = make_app()
    second: Steward = second_app.extensions["steward"]
    client = second_app.test_client()
    passes_until(second, lambda: rollout_state(client) == "succeeded",
                 what="the rollout to finish after the restart")
    [left] = web_containers(docker_client, instance)
    assert left.name == f"{instance}-web" and "VERSION=two" in left.attrs["Config"]["Env"]


def test_an_operator_rollback_goes_back_to_the_spec_before_the_last_rollout(
        steward: Steward, client: FlaskClient, desired_dir: Path, test_image: str,
        docker_client: docker.DockerClient, instance: str) -> None:
    running_web(steward, client, desired_dir, web(test_image, "one"))
    write_state(desired_dir, web(test_image, "two"))
    passes_until(steward, lambda: rollout_state(client) == "succeeded", what="version two")
    answer = client.post("/api/system/services/web/rollback")
    assert answer.status_code == 200, answer.get_json()

    def back_on_one() -> bool:
        found = web_containers(docker_client, instance)
        return len(found) == 1 and "VERSION=one" in found[0].attrs["Config"]["Env"] and \
            rollout_state(client) == "succeeded"
    passes_until(steward, back_on_one, what="the pinned spec to be rolled out")
    steward.reconciler.run_pass()
    assert "VERSION=one" in web_containers(docker_client, instance)[0].attrs["Config"]["Env"], \
        "the pin holds while the desired state is unchanged"

    write_state(desired_dir, web(test_image, "three"))
    passes_until(steward, lambda: "VERSION=three" in web_containers(
        docker_client, instance)[0].attrs["Config"]["Env"] and len(
        web_containers(docker_client, instance)) == 1, what="a new desired spec to win")
