"""Real stacks on a real dockerd: services reach each other by name on the instance network,
start in `depends_on` order on health, build their images, ask for GPUs, rotate their logs,
and keep one network across Steward restarts.

Passes run one at a time (`run_pass()`), so each test reads as "after a pass, the world is
like this". Containers, networks and built images are removed by the `instance` fixture.
"""
from __future__ import annotations

import json
import socket
from datetime import datetime
from pathlib import Path

import docker
import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.desired_state import load_directory
from app.engine.options import labels
from app.steward import Steward
from app.store.models import RuntimeState
from tests.helpers import containers_of, write_state
from tests.integration.conftest import free_port, passes_until, wait_for

pytestmark = pytest.mark.usefixtures("docker_client")

SERVE = "mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p {port} -h /www"
CHECK = '["sh", "-c", "wget -q -O /dev/null http://{host}:{port}/"]'


def web_service(name: str, image: str, port: int, *, category: str = "infrastructure",
                delay: int = 0, extra: str = "") -> str:
    """A busybox httpd on `port`, healthy once it answers (after `delay` seconds)."""
    start = f"sleep {delay}; {SERVE.format(port=port)}" if delay else SERVE.format(port=port)
    return (f"  {name}:\n    category: {category}\n    image: {image}\n"
            f"    command: [\"sh\", \"-c\", \"{start}\"]\n    stop_grace_period: 1s\n"
            f"    healthcheck: {{command: {CHECK.format(host='127.0.0.1', port=port)}, "
            f"interval: 1s, retries: 1}}\n" + extra)


def runtime(steward: Steward, name: str) -> RuntimeState:
    with steward.store.session() as session:
        return session.get(RuntimeState, name)


def status(client: FlaskClient, name: str) -> str:
    return client.get(f"/api/system/services/{name}").get_json()["status"]


def test_a_backend_reaches_db_and_cache_by_name_and_only_then_turns_healthy(
        steward: Steward, client: FlaskClient, desired_dir: Path, test_image: str,
        docker_client: docker.DockerClient, instance: str) -> None:
    backend_check = ('["sh", "-c", "wget -q -O /dev/null http://db:5432/ && '
                     'wget -q -O /dev/null http://cache:6379/"]')
    write_state(desired_dir, "services:\n"
                + web_service("db", test_image, 5432)
                + web_service("cache", test_image, 6379)
                + f"  backend:\n    category: ai\n    image: {test_image}\n"
                  "    command: [sleep, '3600']\n    init: true\n    stop_grace_period: 1s\n"
                  f"    healthcheck: {{command: {backend_check}, interval: 1s, retries: 1}}\n"
                  "    depends_on: [db, cache]\n")
    passes_until(steward, lambda: status(client, "backend") == "running",
                 what="the backend to reach db and cache by name and turn healthy")
    made = containers_of(docker_client, instance)
    networks = made["db"].attrs["NetworkSettings"]["Networks"]
    assert list(networks) == [f"{instance}_default"]
    assert "db" in networks[f"{instance}_default"]["Aliases"]
    assert client.get("/api/system/services/backend").get_json()["networks"] == ["default"]


def test_service_healthy_starts_the_dependent_after_the_check_passes(
        steward: Steward, desired_dir: Path, test_image: str,
        docker_client: docker.DockerClient, instance: str) -> None:
    write_state(desired_dir, "services:\n"
                + web_service("db", test_image, 5432, delay=3)
                + f"  api:\n    category: ai\n    image: {test_image}\n"
                  "    command: [sleep, '3600']\n    init: true\n    stop_grace_period: 1s\n"
                  "    depends_on: {db: {condition: service_healthy}}\n")
    passes_until(steward, lambda: "api" in containers_of(docker_client, instance),
                 what="api to be created")
    made = containers_of(docker_client, instance)
    health_log = made["db"].attrs["State"]["Health"]["Log"]
    first_pass = min(_time(run["End"]) for run in health_log if run["ExitCode"] == 0)
    assert _time(made["api"].attrs["Created"]) >= first_pass


def test_a_build_from_a_local_context_is_rebuilt_when_a_file_in_it_changes(
        steward: Steward, client: FlaskClient, desired_dir: Path, test_image: str,
        docker_client: docker.DockerClient, instance: str) -> None:
    context = desired_dir / "greeter"
    context.mkdir(parents=True)
    (context / "Dockerfile").write_text(
        f"FROM {test_image}\nCOPY message /message\n"
        'CMD ["sh", "-c", "cat /message; exec sleep 3600"]\n')
    (context / "message").write_text("hello one\n")
    write_state(desired_dir, "services:\n  greeter:\n    category: ai\n    build: ./greeter\n"
                             "    init: true\n    stop_grace_period: 1s\n"
                             "    update: {monitor: 0.5s}\n")
    steward.reconciler.run_pass()
    first = containers_of(docker_client, instance)["greeter"]
    assert first.attrs["Config"]["Image"] == f"{instance}-greeter:latest"
    wait_for(lambda: b"hello one" in first.logs(), what="the first build's message")
    events = client.get("/api/system/events?service=greeter&kind=build").get_json()["events"]
    assert "COPY message /message" in events[0]["message"]

    (context / "message").write_text("hello two\n")
    result = steward.reconciler.run_pass()
    assert result.plan.render() == ("rollout greeter: desired spec changed; start-first because "
                                    "it publishes no host ports [drift: build]")
    passes_until(steward, lambda: client.get("/api/system/services/greeter").get_json()
                 ["rollout"]["state"] == "succeeded", what="the rebuilt image rolled out")
    second = containers_of(docker_client, instance)["greeter"]
    assert second.id != first.id
    wait_for(lambda: b"hello two" in second.logs(), what="the rebuilt image's message")


def test_a_failed_build_leaves_the_running_container_alone(
        steward: Steward, client: FlaskClient, desired_dir: Path, test_image: str,
        docker_client: docker.DockerClient, instance: str) -> None:
    context = desired_dir / "app"
    context.mkdir(parents=True)
    (context / "Dockerfile").write_text(f'FROM {test_image}\nCMD ["sleep", "3600"]\n')
    write_state(desired_dir, "services:\n  app:\n    category: ai\n    build: ./app\n"
                             "    init: true\n    stop_grace_period: 1s\n")
    steward.reconciler.run_pass()
    running = containers_of(docker_client, instance)["app"]
    (context / "Dockerfile").write_text(f'FROM {test_image}\nRUN ["sh", "-c", "echo broken; '
                                        'exit 3"]\n')
    steward.reconciler.run_pass()
    after = containers_of(docker_client, instance)["app"]
    assert (after.id, after.status) == (running.id, "running")
    detail = client.get("/api/system/services/app").get_json()
    assert detail["status"] == "running"
    assert detail["last_error"].startswith(f"build of {instance}-app:latest failed: ")
    assert "broken" in detail["last_error"], "the build's output says why"


def test_a_gpu_request_without_a_gpu_runtime_is_a_plain_reason_not_a_crash_loop(
        steward: Steward, client: FlaskClient, desired_dir: Path, test_image: str,
        docker_client: docker.DockerClient, instance: str) -> None:
    write_state(desired_dir, f"services:\n  model:\n    category: ai\n    image: {test_image}\n"
                             "    command: [sleep, '3600']\n    gpus: all\n"
                             "    restart_policy: {max_failures: 2, backoff_base: 0.1s}\n")
    for _ in range(6):
        steward.reconciler.run_pass()
    model = containers_of(docker_client, instance)["model"]
    assert model.attrs["HostConfig"]["DeviceRequests"] == [
        {"Driver": "", "Count": -1, "DeviceIDs": [], "Capabilities": [["gpu"]],
         "Options": {}}]
    detail = client.get("/api/system/services/model").get_json()
    assert detail["status"] == "stopped"
    assert detail["last_error"] == (
        "no GPU runtime: Docker could not select device driver 'nvidia'; install "
        "nvidia-container-toolkit and restart dockerd, or remove the GPU request")
    assert detail["gpus"] == ["gpu: all"]
    state = runtime(steward, "model")
    assert (state.enabled, state.failure_count) == (True, 0), "never counted toward the limit"


def test_logs_rotate_by_default_and_as_the_file_says(
        steward: Steward, desired_dir: Path, test_image: str,
        docker_client: docker.DockerClient, instance: str) -> None:
    write_state(desired_dir, "services:\n"
                f"  a: {{category: ai, image: {test_image}, command: [sleep, '3600'], init: true}}\n"
                f"  b: {{category: ai, image: {test_image}, command: [sleep, '3600'], init: true,"
                " logging: {driver: local, options: {max-size: 5m, max-file: 2}}}\n")
    steward.reconciler.run_pass()
    made = containers_of(docker_client, instance)
    assert made["a"].attrs["HostConfig"]["LogConfig"] == {
        "Type": "json-file", "Config": {"max-file": "3", "max-size": "10m"}}
    assert made["b"].attrs["HostConfig"]["LogConfig"] == {
        "Type": "local", "Config": {"max-file": "2", "max-size": "5m"}}


def test_the_network_is_adopted_after_a_restart_and_pruned_when_unused(
        make_app, desired_dir: Path, test_image: str,
        docker_client: docker.DockerClient, instance: str) -> None:
    write_state(desired_dir, f"prune: true\nservices:\n  a: {{category: ai, image: {test_image},"
                             " command: [sleep, '3600'], init: true, stop_grace_period: 1s}\n")
    first: Flask = make_app()
    first.extensions["steward"].reconciler.run_pass()
    [network] = docker_client.networks.list(names=[f"{instance}_default"])
    first.extensions["steward"].shutdown()

    second: Steward = make_app().extensions["steward"]
    result = second.reconciler.run_pass()
    assert result.plan.render() == "nothing to do"
    assert [n.id for n in docker_client.networks.list(names=[f"{instance}_default"])] == \
        [network.id]

    write_state(desired_dir, "prune: true\nservices: {}\n")
    second.reconciler.run_pass()  # removes the orphan container
    second.reconciler.run_pass()  # then the network nothing uses
    assert docker_client.networks.list(names=[f"{instance}_default"]) == []


def test_a_container_made_before_networks_is_moved_onto_the_network(
        steward: Steward, desired_dir: Path, test_image: str,
        docker_client: docker.DockerClient, instance: str) -> None:
    write_state(desired_dir, f"services:\n  old: {{category: ai, image: {test_image}, "
                             "command: [sleep, '3600'], init: true, stop_grace_period: 1s, "
                             "update: {monitor: 0.5s}}\n")
    spec = load_directory(desired_dir, instance=instance).services["old"]
    made_then = labels(instance, spec)
    hashes = json.loads(made_then["io.steward.field-hashes"])
    made_then.update({"io.steward.spec-hash": "made-before-networks",
                      "io.steward.field-hashes": json.dumps(
                          {k: v for k, v in hashes.items() if k not in ("networks", "logging")})})
    legacy = docker_client.containers.run(test_image, ["sleep", "3600"], detach=True, init=True,
                                          name=f"{instance}-old", labels=made_then)
    result = steward.reconciler.run_pass()
    assert "rollout old: desired spec changed; start-first because it publishes no host ports " \
        "[drift: networks, logging]" in result.plan.render().splitlines()
    def replaced() -> bool:
        ids = [c.id for c in docker_client.containers.list(
            all=True, filters={"label": f"io.steward.instance={instance}"})]
        return len(ids) == 1 and ids != [legacy.id]
    passes_until(steward, replaced, what="the rollout onto the network")
    moved = containers_of(docker_client, instance)["old"]
    assert list(moved.attrs["NetworkSettings"]["Networks"]) == [f"{instance}_default"]


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text[:26].rstrip("Z") + "+00:00")


def test_a_tcp_check_fails_when_the_listener_is_gone_though_docker_proxy_accepts(
        steward: Steward, client: FlaskClient, desired_dir: Path, test_image: str,
        docker_client: docker.DockerClient, instance: str) -> None:
    port = free_port()
    write_state(desired_dir, f"services:\n  web:\n    category: ai\n    image: {test_image}\n"
                "    command: [\"sh\", \"-c\", \"mkdir -p /www && httpd -p 8080 -h /www && "
                "exec sleep 3600\"]\n    init: true\n    stop_grace_period: 1s\n"
                f"    ports: [\"{port}:8080\"]\n"
                "    healthcheck: {tcp: {}, interval: 0.5s, timeout: 1s, retries: 1}\n")
    steward.start_background()
    wait_for(lambda: status(client, "web") == "running", what="web healthy")
    web = containers_of(docker_client, instance)["web"]
    assert web.exec_run(["killall", "httpd"]).exit_code == 0
    with socket.create_connection(("127.0.0.1", port), timeout=2):
        pass  # docker-proxy still accepts on the host side: a probe there would pass
    detail = wait_for(lambda: (d := client.get("/api/system/services/web").get_json())
                      ["restart_count"] >= 1 and d, what="the dead listener to be noticed")
    address = web.attrs["NetworkSettings"]["Networks"][f"{instance}_default"]["IPAddress"]
    assert detail["last_failure"].startswith(
        f"unhealthy: tcp connect to {address}:8080 failed")


def test_a_container_steward_has_no_record_of_is_adopted_with_a_create_event(
        steward: Steward, client: FlaskClient, desired_dir: Path, test_image: str,
        docker_client: docker.DockerClient, instance: str) -> None:
    """As after a kill -9 between Docker creating a container and Steward recording it."""
    write_state(desired_dir, f"services:\n  w: {{category: ai, image: {test_image}, "
                             "command: [sleep, '3600'], init: true, stop_grace_period: 1s}\n")
    spec = load_directory(desired_dir, instance=instance).services["w"]
    steward.reconciler.run_pass()  # the network exists, the service runs
    containers_of(docker_client, instance)["w"].remove(force=True)
    unrecorded = docker_client.containers.run(
        test_image, ["sleep", "3600"], detach=True, init=True, name=f"{instance}-w",
        labels=labels(instance, spec), network=f"{instance}_default")
    result = steward.reconciler.run_pass()
    assert result.plan.render() == "nothing to do", "adopted as it is"
    events = client.get("/api/system/events?service=w&kind=create").get_json()["events"]
    assert events[0]["message"] == (f"adopted container {unrecorded.id[:12]}, which Steward has "
                                    "no record of creating (made before Steward last stopped?)")
