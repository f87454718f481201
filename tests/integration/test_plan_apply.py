"""Check, diff and apply on a real dockerd, through the `steward` command as users run it."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable

import docker
import pytest

from tests.conftest import ROOT
from tests.helpers import containers_of, service, write_state
from tests.integration.conftest import LiveServer, free_port, wait_for

pytestmark = pytest.mark.usefixtures("docker_client")


@pytest.fixture
def steward_cli(tmp_path: Path, desired_dir: Path, instance: str) -> Callable[..., subprocess.CompletedProcess]:
    """`steward ...` in a subprocess on the test's own store, files and instance label."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STEWARD_")}
    env.update(STEWARD_DATABASE_URL=f"sqlite:///{tmp_path / 'cli.db'}",
               STEWARD_DESIRED_STATE=str(desired_dir), STEWARD_INSTANCE=instance,
               STEWARD_SECRET_KEY="test", STEWARD_PORT=str(free_port()),
               STEWARD_LOG_LEVEL="WARNING")

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "app", *args], env=env, cwd=ROOT,
                              capture_output=True, text=True, timeout=300)

    return run


def two_services(image: str, mode: str) -> str:
    return "services:\n" + service("a", image, '["sleep", "3600"]') + service(
        "b", image, '["sleep", "3600"]', environment=f"{{MODE: {mode}, API_KEY: k-{mode}}}")


def test_plan_edit_apply_changes_exactly_what_the_plan_showed(
        steward_cli: Callable[..., subprocess.CompletedProcess], desired_dir: Path,
        tmp_path: Path, test_image: str, docker_client: docker.DockerClient,
        instance: str) -> None:
    write_state(desired_dir, two_services(test_image, "one"))
    first = steward_cli("apply", "--wait", "--timeout", "60")
    assert first.returncode == 0, first.stdout + first.stderr
    assert first.stdout.splitlines()[-2] == "RECAP: ok=0 changed=2 failed=0 skipped=0 -> changed"
    before = {n: c.id for n, c in containers_of(docker_client, instance).items()}

    converged = steward_cli("plan")
    assert (converged.returncode, converged.stdout.strip()) == \
        (0, "Plan: no changes; 2 unchanged.")

    review = tmp_path / "review"  # an edited checkout, planned before it is merged
    shutil.copytree(desired_dir, review)
    write_state(review, two_services(test_image, "two"))
    proposed = steward_cli("plan", str(review))
    assert proposed.returncode == 2, proposed.stderr
    assert proposed.stdout.splitlines() == [
        "~ roll out b: desired spec changed; start-first because it publishes no host ports "
        "[drift: environment]",
        "    ~ environment.API_KEY: (sensitive) -> (sensitive, changed)",
        "    ~ environment.MODE: one -> two",
        "Plan: 1 to roll out; 1 unchanged."]
    as_json = json.loads(steward_cli("plan", str(review), "--json").stdout)
    assert [c["field"] for c in as_json["steps"][0]["changes"]] == \
        ["environment.API_KEY", "environment.MODE"]
    assert "k-two" not in proposed.stdout + json.dumps(as_json)

    write_state(desired_dir, two_services(test_image, "two"))
    applied = steward_cli("apply", "--json")
    assert applied.returncode == 0, applied.stderr
    body = json.loads(applied.stdout)
    assert (body["result"], body["counts"]) == ("changed", {"ok": 1, "changed": 1, "failed": 0,
                                                            "skipped": 0})
    after = {n: c.id for n, c in containers_of(docker_client, instance).items()}
    assert after["a"] == before["a"] and after["b"] != before["b"]
    assert steward_cli("plan").returncode == 0


def test_plan_and_apply_fail_clearly_on_invalid_files(
        steward_cli: Callable[..., subprocess.CompletedProcess], desired_dir: Path) -> None:
    write_state(desired_dir, "services:\n  web:\n    category: gpu\n    image: x\n")
    planned = steward_cli("plan")
    assert planned.returncode == 1
    assert planned.stderr.strip().startswith("desired_state/services.yaml:3: "
                                             "services.web.category: must be one of")
    applied = steward_cli("apply")
    assert applied.returncode == 1
    assert "desired state rejected" in applied.stdout


def test_apply_fails_when_a_service_fails_and_names_it(
        steward_cli: Callable[..., subprocess.CompletedProcess], desired_dir: Path,
        test_image: str) -> None:
    write_state(desired_dir, "services:\n" + service("ok", test_image, '["sleep", "3600"]')
                + service("broken", "steward-no-such-image:never", '["true"]'))
    applied = steward_cli("apply")
    assert applied.returncode == 1
    lines = applied.stdout.splitlines()
    assert lines[0].startswith("broken : failed  (image steward-no-such-image:never is not "
                               "present and could not be pulled")
    assert lines[-1] == "RECAP: ok=0 changed=1 failed=1 skipped=0 -> failed"


def test_editing_a_mounted_config_file_is_drift_and_recreates_the_service(
        steward_cli: Callable[..., subprocess.CompletedProcess], desired_dir: Path,
        test_image: str, docker_client: docker.DockerClient, instance: str) -> None:
    (desired_dir / "files").mkdir()
    (desired_dir / "files" / "app.conf").write_text("level = info\n")
    write_state(desired_dir, "services:\n" + service(
        "app", test_image, '["sleep", "3600"]', volumes='["./files/app.conf:/etc/app.conf:ro"]'))
    assert steward_cli("apply").returncode == 0
    before = containers_of(docker_client, instance)["app"].id
    (desired_dir / "files" / "app.conf").write_text("level = debug\n")
    proposed = steward_cli("plan")
    assert proposed.returncode == 2
    assert proposed.stdout.splitlines()[:2] == [
        "~ roll out app: desired spec changed; start-first because it publishes no host ports "
        "[drift: files]",
        proposed.stdout.splitlines()[1]]
    assert proposed.stdout.splitlines()[1].startswith("    ~ files./etc/app.conf: content ")
    assert steward_cli("apply").returncode == 0
    container = containers_of(docker_client, instance)["app"]
    assert container.id != before
    assert container.exec_run(["cat", "/etc/app.conf"]).output == b"level = debug\n"


def test_apply_through_the_api_and_its_history(make_server: Callable[..., LiveServer],
                                               desired_dir: Path, test_image: str) -> None:
    write_state(desired_dir, "services:\n" + service("worker", test_image, '["sleep", "3600"]'))
    server = make_server(STEWARD_RECONCILE_INTERVAL="60")
    wait_for(lambda: server.service("worker")["status"] == "running", what="worker running")
    answer = server.post("/api/system/apply", json={"wait": True, "timeout": 30})
    assert answer.status_code == 200, answer.text
    # the server's own first pass created the worker for this state: the apply says so
    assert (answer.json()["result"], answer.json()["counts"]["changed"]) == ("changed", 1)
    assert server.post("/api/system/apply", json={}).json()["result"] == "ok"
    assert server.get("/api/system/plan").json()["changes"] is False
    assert server.post("/api/system/apply", json={"service": "nope"}).status_code == 404
    assert server.post("/api/system/apply", json={"timeout": 0}).status_code == 422
    applies = server.get("/api/system/desired-state").json()["applies"]
    assert [(a["actor"], a["result"]) for a in applies][:3] == [
        ("api", "ok"), ("api", "ok"), ("reconciler", "changed")]


def test_import_compose_gives_files_that_validate_and_apply(
        steward_cli: Callable[..., subprocess.CompletedProcess], desired_dir: Path,
        tmp_path: Path, test_image: str, docker_client: docker.DockerClient,
        instance: str) -> None:
    project = tmp_path / "shop"
    project.mkdir()
    compose = (ROOT / "tests" / "data" / "docker-compose.yml").read_text()
    (project / "docker-compose.yml").write_text(
        compose.replace("steward-test-busybox:IMAGE", test_image)
        .replace("PORT1", str(free_port())).replace("PORT2", str(free_port())))
    shutil.copy(ROOT / "tests" / "data" / "web.env", project / "web.env")
    imported = steward_cli("import-compose", str(project / "docker-compose.yml"), "-o",
                           str(desired_dir / "shop.yaml"))
    assert imported.returncode == 0, imported.stderr
    assert f"wrote 2 service(s) to {desired_dir / 'shop.yaml'}" in imported.stdout
    assert "networks" not in imported.stdout, "networks carry over, so no note about them"
    assert "web_app: deploy replicas 2: Steward runs one container per service" in \
        imported.stdout
    assert steward_cli("validate").returncode == 0
    applied = steward_cli("apply", "--wait", "--timeout", "60")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    made = containers_of(docker_client, instance)
    assert sorted(made) == ["db", "web_app"]
    assert f"{instance}_backend" in made["web_app"].attrs["NetworkSettings"]["Networks"]
