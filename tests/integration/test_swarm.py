"""The Swarm engine on the sandbox swarm (scripts/swarm-sandbox.sh), through `steward serve`
with STEWARD_ENGINE=swarm, as a user runs it: replicas converge, a killed task is replaced,
a bad update is rolled back by the engine, the failure limit scales to 0, the contract's
verbs scale and force updates, drift is corrected, sealed values travel as Swarm secrets,
and the host's own daemon is untouched.
"""
from __future__ import annotations

import uuid
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterator

import docker
import pytest

from app.desired_state import age_secrets
from app.engine.options import LABEL_INSTANCE
from app.engine.swarm_engine import SwarmEngine
from app.errors import ActionFailed
from tests.dockerd import host_network, sandbox_links, swarm_sandbox
from tests.helpers import spec, write_state
from tests.integration.conftest import LiveServer, wait_for


@pytest.fixture(scope="module")
def swarm_url(test_image: str) -> Iterator[str]:
    """The sandbox swarm with the test image loaded (its DOCKER_HOST); down after the
    module."""
    with swarm_sandbox([test_image], Path(f"/var/tmp/stw-swarm-{uuid.uuid4().hex[:8]}")) \
            as url:
        yield url


@pytest.fixture(scope="module")
def swarm(swarm_url: str) -> Iterator[docker.DockerClient]:
    client = docker.DockerClient(base_url=swarm_url, timeout=30)
    yield client
    client.close()


@pytest.fixture
def serve(swarm_url: str, swarm: docker.DockerClient, make_server: Callable[..., LiveServer],
          instance: str) -> Iterator[Callable[[], LiveServer]]:
    """`steward serve` on the sandbox; the instance's services are removed afterwards."""
    yield lambda: make_server(DOCKER_HOST=swarm_url, STEWARD_ENGINE="swarm")
    for service in swarm.services.list(filters={"label": f"{LABEL_INSTANCE}={instance}"}):
        service.remove()


def web(image: str, *, command: str = '["sleep", "3600"]', replicas: int = 2,
        **extra: str) -> str:
    lines = ["services:", "  web:", "    category: ai", f"    image: {image}", "    init: true",
             f"    command: {command}", f"    replicas: {replicas}", "    stop_grace_period: 1s",
             "    update: {monitor: 2s}"]
    return "\n".join(lines + [f"    {key}: {value}" for key, value in extra.items()]) + "\n"


def state_of(server: LiveServer) -> tuple[str, str | None]:
    detail = server.service("web")
    return detail["status"], detail.get("replicas")


def test_the_sandbox_leaves_the_host_daemon_untouched(
        swarm: docker.DockerClient, docker_client: docker.DockerClient) -> None:
    """Up (this module's sandbox is up meanwhile) and down again: the host's dockerd is not
    in swarm mode, and its docker0 and routes are exactly as before."""
    before = host_network()
    directory = Path(f"/var/tmp/stw-swarm-{uuid.uuid4().hex[:8]}")
    with swarm_sandbox([], directory) as url:
        assert len(sandbox_links(directory)) == 4  # its two bridges and their routes
        private = docker.DockerClient(base_url=url, timeout=30)
        assert private.info()["Swarm"]["LocalNodeState"] == "active"
        private.close()
        assert docker_client.info()["Swarm"]["LocalNodeState"] == "inactive"
        links, routes = host_network()
        assert [line for line in links if line.startswith("docker0")] == \
            [line for line in before[0] if line.startswith("docker0")]
        assert [line for line in routes if "docker0" in line or "default" in line] == \
            [line for line in before[1] if "docker0" in line or "default" in line]
    assert host_network() == before
    assert sandbox_links(directory) == [] and not directory.exists()
    assert docker_client.info()["Swarm"]["LocalNodeState"] == "inactive"
    assert swarm.info()["Swarm"]["LocalNodeState"] == "active"


def test_replicas_converge_and_a_killed_task_is_replaced(
        serve: Callable[[], LiveServer], swarm: docker.DockerClient, desired_dir: Path,
        test_image: str, instance: str) -> None:
    write_state(desired_dir, web(test_image))
    server = serve()
    wait_for(lambda: state_of(server) == ("running", "2/2"), what="2 replicas running")
    detail = server.service("web")
    assert len(detail["container_id"]) == 12 and detail["uptime_seconds"] is not None
    assert [t["state"] for t in detail["tasks"]] == ["running", "running"]
    node = swarm.info()["Name"]
    assert {t["node"] for t in detail["tasks"]} == {node}  # the node's hostname
    page = server.get("/services/web").text
    assert "2/2 running" in page and page.count(f"on <code>{node}</code>: running") == 2
    assert "2/2 replicas" in server.get("/").text  # the fleet table too
    victim = swarm.containers.list(filters={"label": f"{LABEL_INSTANCE}={instance}"})[0]
    victim.kill()
    wait_for(lambda: state_of(server)[0] == "starting", what="starting while replaced")
    wait_for(lambda: state_of(server) == ("running", "2/2"), what="running again")
    assert victim.id not in [c.id for c in swarm.containers.list()]
    events = [e["kind"] for e in server.service("web")["events"]]
    assert "task-failed" in events


def test_a_bad_update_is_rolled_back_by_the_engine_and_reported(
        serve: Callable[[], LiveServer], swarm: docker.DockerClient, desired_dir: Path,
        test_image: str, instance: str) -> None:
    write_state(desired_dir, web(test_image))
    server = serve()
    wait_for(lambda: state_of(server) == ("running", "2/2"), what="2 replicas running")
    write_state(desired_dir, web(test_image, command='["sh", "-c", "exit 3"]'))
    rollout = wait_for(lambda: (server.service("web")["rollout"] or {}).get("state")
                       == "rolled_back" and server.service("web")["rollout"], timeout=60,
                       what="the engine's rollback")
    assert rollout["reason"].startswith("the engine rolled the update back")
    service = swarm.services.get(f"{instance}_web")
    assert service.attrs["Spec"]["TaskTemplate"]["ContainerSpec"]["Args"] == ["sleep", "3600"]
    wait_for(lambda: state_of(server) == ("running", "2/2"), what="the old spec running")
    kinds = [e["kind"] for e in server.service("web")["events"]]
    assert "rollback" in kinds and "rollout" in kinds


def test_the_failure_limit_scales_to_zero_with_the_reason(
        serve: Callable[[], LiveServer], swarm: docker.DockerClient, desired_dir: Path,
        test_image: str, instance: str) -> None:
    write_state(desired_dir, web(test_image, command='["sh", "-c", "exit 3"]', replicas=1,
                                 restart_policy="{max_failures: 2, backoff_base: 1s}"))
    server = serve()
    wait_for(lambda: state_of(server) == ("disabled", "0/0"), timeout=60,
             what="disabled at the failure limit")
    reason = server.service("web")["disabled_reason"]
    assert reason.startswith("failure limit reached: 2 failed tasks") and "exit code 3" in reason
    mode = swarm.services.get(f"{instance}_web").attrs["Spec"]["Mode"]
    assert mode == {"Replicated": {"Replicas": 0}}


def test_stop_start_restart_and_enable_through_the_contract_api(
        serve: Callable[[], LiveServer], swarm: docker.DockerClient, desired_dir: Path,
        test_image: str, instance: str) -> None:
    write_state(desired_dir, web(test_image))
    server = serve()
    wait_for(lambda: state_of(server) == ("running", "2/2"), what="2 replicas running")
    assert server.post("/api/system/services/web/stop").status_code == 200
    wait_for(lambda: state_of(server) == ("stopped", "0/0"), what="scaled to 0")
    assert server.post("/api/system/services/web/start").json()["service"]["status"] == \
        "starting"
    wait_for(lambda: state_of(server) == ("running", "2/2"), what="scaled back to 2")
    before = swarm.services.get(f"{instance}_web").attrs["Spec"]["TaskTemplate"].get(
        "ForceUpdate", 0)
    assert server.post("/api/system/services/web/restart").json()["service"]["status"] == \
        "starting"
    wait_for(lambda: swarm.services.get(f"{instance}_web").attrs["Spec"]["TaskTemplate"]
             .get("ForceUpdate", 0) == before + 1, what="a forced update")
    wait_for(lambda: state_of(server) == ("running", "2/2"), what="running after restart")
    server.post("/api/system/services/web/disable")
    wait_for(lambda: state_of(server) == ("disabled", "0/0"), what="disabled: scaled to 0")
    server.post("/api/system/services/web/enable")
    wait_for(lambda: state_of(server) == ("running", "2/2"), what="enabled: scaled up")


def test_drift_on_the_service_spec_is_corrected(
        serve: Callable[[], LiveServer], swarm: docker.DockerClient, desired_dir: Path,
        test_image: str, instance: str) -> None:
    write_state(desired_dir, web(test_image))
    server = serve()
    wait_for(lambda: state_of(server) == ("running", "2/2"), what="2 replicas running")
    service = swarm.services.get(f"{instance}_web")
    spec = service.attrs["Spec"]
    swarm.api.update_service(
        service.id, service.attrs["Version"]["Index"], task_template={
            **spec["TaskTemplate"], "ContainerSpec": {**spec["TaskTemplate"]["ContainerSpec"],
                                                      "Args": ["sleep", "999"]}},
        name=spec["Name"], labels={**spec["Labels"], "io.steward.spec-hash": "by-hand"},
        mode={"Replicated": {"Replicas": 1}})
    wait_for(lambda: swarm.services.get(f"{instance}_web").attrs["Spec"]["TaskTemplate"]
             ["ContainerSpec"]["Args"] == ["sleep", "3600"], what="the spec put back")
    wait_for(lambda: state_of(server) == ("running", "2/2"), what="2 replicas again")


def test_an_update_from_a_stale_read_is_refused_by_the_engine(
        swarm_url: str, swarm: docker.DockerClient, test_image: str, instance: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Every update carries the Version Steward read: when someone wrote in between, Swarm
    refuses it and nothing of Steward's is written."""
    engine = SwarmEngine(instance=instance, base_url=swarm_url)
    first = spec("web", category="ai", image=test_image, command=("sleep", "3600"),
                 replicas=1, networks=())
    try:
        engine.create_service(first, 1)
        stale = engine._service("web")  # noqa: SLF001 - the read an update is based on
        engine.scale("web", 2)  # another writer, after that read
        monkeypatch.setattr(engine, "_service", lambda name: stale)
        with pytest.raises(ActionFailed, match="out of sequence"):
            engine.update_service(replace(first, command=("sleep", "99")), 1)
        current = swarm.services.get(f"{instance}_web").attrs["Spec"]
        assert current["TaskTemplate"]["ContainerSpec"]["Args"] == ["sleep", "3600"]
        assert current["Mode"] == {"Replicated": {"Replicas": 2}}
    finally:
        engine.remove(f"{instance}_web")
        engine.close()


def test_a_dependent_is_held_at_zero_replicas_while_its_dependency_is_down(
        serve: Callable[[], LiveServer], swarm: docker.DockerClient, desired_dir: Path,
        test_image: str, instance: str) -> None:
    db = web(test_image, replicas=1).replace("  web:", "  db:").replace("services:\n", "")
    write_state(desired_dir, web(test_image) + "    depends_on: [db]\n" + db)
    server = serve()
    wait_for(lambda: state_of(server) == ("running", "2/2"), what="web running after db")
    server.post("/api/system/services/db/stop")
    wait_for(lambda: server.service("web")["replicas"] == "0/0", what="web held at 0")
    wait_for(lambda: server.service("web")["status"] == "starting",
             what="web waiting for its dependency")
    server.post("/api/system/services/db/start")
    wait_for(lambda: state_of(server) == ("running", "2/2"), what="web back with db")


def test_sealed_values_reach_the_tasks_as_swarm_secrets_never_in_the_service_spec(
        swarm_url: str, swarm: docker.DockerClient, make_server: Callable[..., LiveServer],
        desired_dir: Path, tmp_path: Path, test_image: str, instance: str) -> None:
    key_text, recipient = age_secrets.generate()
    (tmp_path / "age.key").write_text(key_text)

    def sealed_state(token: str) -> str:
        armored = age_secrets.encrypt(token.encode(), [recipient])
        block = "".join(f"        {line}\n" for line in armored.splitlines())
        return web(test_image, replicas=1) + f"    environment:\n      API_TOKEN: !age |\n{block}"

    write_state(desired_dir, sealed_state("first-token"))
    server = make_server(DOCKER_HOST=swarm_url, STEWARD_ENGINE="swarm",
                         STEWARD_AGE_KEY_FILE=str(tmp_path / "age.key"))
    try:
        wait_for(lambda: state_of(server) == ("running", "1/1"), what="the service running")
        assert secret_in_task(swarm, instance) == "first-token"
        write_state(desired_dir, sealed_state("second-token"))
        wait_for(lambda: secret_in_task(swarm, instance) == "second-token", timeout=60,
                 what="the rotated secret in a new task")
        spec = swarm.services.get(f"{instance}_web").attrs["Spec"]
        container = spec["TaskTemplate"]["ContainerSpec"]
        assert "API_TOKEN_FILE=/run/secrets/API_TOKEN" in container["Env"]
        shown = str(spec) + server.get("/api/system/services/web").text
        assert "first-token" not in shown and "second-token" not in shown
        assert [s["SecretName"] for s in container["Secrets"]][0].startswith(
            f"{instance}_web_API_TOKEN_")
    finally:
        server.stop()
        for service in swarm.services.list(filters={"label": f"{LABEL_INSTANCE}={instance}"}):
            service.remove()
        wait_for(lambda: not swarm.containers.list(
            all=True, filters={"label": f"{LABEL_INSTANCE}={instance}"}), what="tasks gone")
        for secret in swarm.secrets.list(filters={"label": f"{LABEL_INSTANCE}={instance}"}):
            secret.remove()


def secret_in_task(swarm: docker.DockerClient, instance: str) -> str | None:
    """What the file the service's running task reads holds (None while it has none)."""
    for container in swarm.containers.list(filters={"label": f"{LABEL_INSTANCE}={instance}"}):
        env = dict(e.split("=", 1) for e in container.attrs["Config"]["Env"] or ())
        result = container.exec_run(["cat", env.get("API_TOKEN_FILE", "/nonexistent")])
        if result.exit_code == 0:
            return result.output.decode()
    return None
