"""`steward serve` as a user runs it: real HTTP, real containers, real restarts of Steward."""
from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Callable

import docker
import pytest

from tests.conftest import ROOT
from tests.helpers import containers_of, sleeper, write_state
from tests.integration.conftest import LiveServer, free_port, wait_for

CONTRACT = ROOT / "tests" / "contract" / "services-api.md"
SHARED_CONTRACT = ROOT.parent / "shared" / "spec" / "services-api.md"


def contract_blocks(language: str) -> list[str]:
    text = CONTRACT.read_text()
    if SHARED_CONTRACT.exists():  # beside a checkout that has the team's shared/ folder
        assert SHARED_CONTRACT.read_text() == text, \
            "tests/contract/services-api.md is out of date; copy shared/spec/services-api.md"
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)


def status_of(server: LiveServer, name: str) -> str:
    return server.service(name)["status"]


def test_contract_python_example_and_curl_lines_run_unchanged(
        make_server: Callable[..., LiveServer], desired_dir: Path, test_image: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    write_state(desired_dir, "services:\n"
                + sleeper(test_image, "postgres", "infrastructure")
                + sleeper(test_image, "rtdetr", display_name="RT-DETR Object Detection")
                + sleeper(test_image, "nemotron", display_name="Nemotron LLM"))
    with socket.socket() as probe:  # the contract's examples call localhost:8000 as written
        if probe.connect_ex(("127.0.0.1", 8000)) == 0:
            pytest.fail("port 8000 is in use; stop what listens there (the contract's "
                        "examples call http://localhost:8000)", pytrace=False)
    server = make_server(port=8000)
    wait_for(lambda: status_of(server, "nemotron") == "running", what="nemotron running")
    wait_for(lambda: status_of(server, "rtdetr") == "running", what="rtdetr running")

    [python_example] = contract_blocks("python")
    namespace: dict = {}
    exec(compile(python_example, str(CONTRACT), "exec"), namespace)  # noqa: S102
    summary = namespace["check_ai_services"]()
    assert summary == {"total": 2, "healthy": 2, "unhealthy": 0}
    assert "All AI services are healthy" in capsys.readouterr().out

    [curl_block] = contract_blocks("bash")
    commands = [line for line in curl_block.splitlines() if line.startswith("curl ")]
    assert len(commands) == 2
    disabled = subprocess.run(commands[0], shell=True, capture_output=True, text=True,
                              check=True)
    assert json.loads(disabled.stdout)["message"] == "Service 'nemotron' disabled"
    wait_for(lambda: status_of(server, "nemotron") == "disabled", what="nemotron disabled")
    namespace["check_ai_services"]()
    assert "Nemotron LLM: disabled" in capsys.readouterr().out
    enabled = subprocess.run(commands[1], shell=True, capture_output=True, text=True, check=True)
    assert json.loads(enabled.stdout)["message"] == "Service 'nemotron' enabled"
    wait_for(lambda: status_of(server, "nemotron") == "running", what="nemotron back")


def test_api_actions_act_through_the_reconciler(make_server: Callable[..., LiveServer],
                                                desired_dir: Path, test_image: str,
                                                docker_client: docker.DockerClient,
                                                instance: str) -> None:
    write_state(desired_dir, "services:\n" + sleeper(test_image, "worker"))
    server = make_server(STEWARD_RECONCILE_INTERVAL="60")
    wait_for(lambda: status_of(server, "worker") == "running", what="worker running")

    stopped = server.post("/api/system/services/worker/stop").json()
    assert stopped["message"] == "Service 'worker' stop initiated"
    wait_for(lambda: containers_of(docker_client, instance)["worker"].status == "exited",
             timeout=10, what="the stop to reach Docker without waiting for the interval")
    wait_for(lambda: status_of(server, "worker") == "stopped", timeout=5,
             what="the pass that stopped it to record it")

    response = server.post("/api/system/services/worker/start")
    assert response.json()["service"]["status"] == "starting"
    wait_for(lambda: status_of(server, "worker") == "running", timeout=10, what="worker started")
    rejected = server.post("/api/system/services/worker/start")
    assert rejected.status_code == 400
    assert rejected.json()["detail"] == "Service 'worker' is already running"


def test_engine_unreachable_answers_503_then_recovers_on_its_own(
        make_server: Callable[..., LiveServer], desired_dir: Path, tmp_path: Path,
        test_image: str, docker_client: docker.DockerClient) -> None:
    write_state(desired_dir, "services:\n" + sleeper(test_image, "worker"))
    socket_path = tmp_path / "docker.sock"  # no engine behind it, until the link below
    server = make_server(DOCKER_HOST=f"unix://{socket_path}")
    wait_for(lambda: server.get("/api/system/services").status_code == 503,
             what="a 503 from the list endpoint")
    response = server.get("/api/system/services")
    assert response.json()["detail"].startswith("Container orchestrator not available")
    for action in ("restart", "start", "enable", "disable"):
        answer = server.post(f"/api/system/services/worker/{action}")
        assert answer.status_code == 503, action
        assert answer.json()["detail"].startswith("Container orchestrator not available")
    assert server.post("/api/system/services/nope/restart").status_code == 404
    assert server.get("/api/system/desired-state").json()["services"] == 1

    socket_path.symlink_to(docker_client.api.adapters["http+docker://"].socket_path)
    wait_for(lambda: server.get("/api/system/services").status_code == 200,
             what="the API to answer again once the engine is back")
    wait_for(lambda: status_of(server, "worker") == "running",
             what="the service to converge without a restart of Steward")


def test_an_invalid_edit_keeps_the_last_good_state_and_says_why(
        make_server: Callable[..., LiveServer], desired_dir: Path, test_image: str,
        docker_client: docker.DockerClient, instance: str) -> None:
    path = write_state(desired_dir, "services:\n" + sleeper(test_image, "worker"))
    server = make_server()
    wait_for(lambda: status_of(server, "worker") == "running", what="worker running")
    before = containers_of(docker_client, instance)["worker"].id

    path.write_text(path.read_text().replace("category: ai", "category: gpu")
                    + "  extra:\n    image: x\n")
    (desired_dir / "broken.yaml").write_text("services:\n  other:\n    image: [x\n")
    state = wait_for(lambda: (s := server.get("/api/system/desired-state").json())["last_error"]
                     and s, what="the load error to show")
    assert state["services"] == 1
    errors = state["last_error"].splitlines()
    assert errors[0].startswith("desired_state/broken.yaml:4: invalid YAML: ")
    assert errors[1:] == [
        "desired_state/services.yaml:3: services.worker.category: must be one of: "
        "infrastructure, ai, monitoring",
        "desired_state/services.yaml:9: services.extra.category: required key is missing"]
    assert "desired state at not in git rejected, last good state kept" in server.log.read_text()
    cli = subprocess.run([sys.executable, "-m", "app", "validate", str(desired_dir)],
                         capture_output=True, text=True)
    assert cli.returncode == 1
    assert "services.worker.category: must be one of" in cli.stderr

    containers_of(docker_client, instance)["worker"].remove(force=True)
    wait_for(lambda: "worker" in containers_of(docker_client, instance),
             what="the last good spec to be enforced")
    assert containers_of(docker_client, instance)["worker"].id != before
    assert [s["name"] for s in server.get("/api/system/services").json()["services"]] == \
        ["worker"]


def test_state_survives_a_restart_of_steward(make_server: Callable[..., LiveServer],
                                             desired_dir: Path, test_image: str,
                                             docker_client: docker.DockerClient,
                                             instance: str) -> None:
    write_state(desired_dir, "services:\n" + sleeper(test_image, "worker")
                + sleeper(test_image, "paused"))
    server = make_server()
    wait_for(lambda: status_of(server, "worker") == "running", what="worker running")
    server.post("/api/system/services/worker/restart")
    server.post("/api/system/services/paused/disable")
    wait_for(lambda: containers_of(docker_client, instance)["paused"].status == "exited",
             what="the disabled service to stop")
    ids = {n: c.id for n, c in containers_of(docker_client, instance).items()}

    server.stop()
    assert containers_of(docker_client, instance)["worker"].status == "running", \
        "stopping Steward must not stop the managed containers"
    server.start()
    worker = server.service("worker")
    assert (worker["restart_count"], worker["failure_count"]) == (1, 0)
    assert worker["events"][-1]["kind"] == "added"
    assert status_of(server, "paused") == "disabled"
    wait_for(lambda: status_of(server, "worker") == "running", what="worker adopted")
    assert {n: c.id for n, c in containers_of(docker_client, instance).items()} == ids
    assert len(docker_client.containers.list(
        all=True, filters={"label": f"io.steward.instance={instance}"})) == 2


def test_openapi_and_docs_are_served(make_server: Callable[..., LiveServer],
                                     desired_dir: Path) -> None:
    server = make_server(port=free_port())
    spec = server.get("/api/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    assert {"/api/system/services", "/api/system/services/{name}",
            "/api/system/services/{name}/restart", "/api/system/services/{name}/start",
            "/api/system/services/{name}/stop", "/api/system/services/{name}/enable",
            "/api/system/services/{name}/disable"} <= set(spec["paths"])
    docs = server.get("/api/docs")
    assert docs.ok and "/api/docs/assets/swagger-ui-bundle.js" in docs.text
    assert "https://" not in docs.text, "the docs UI must not need the internet"
    assert server.get("/api/docs/assets/swagger-ui-bundle.js").ok
