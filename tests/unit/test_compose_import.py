"""`steward import-compose`: what carries over from a compose file, what is reported, and
that the result loads whenever the variables it names are set."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from app.cli.commands import main
from app.desired_state import DesiredStateError, load_directory
from app.desired_state.compose import ComposeError, import_compose, needed_variables
from app.desired_state.host_access import HostPolicy
from app.desired_state.schema import REFUSED_KEYS
from app.desired_state.spec import Dependency, DeviceRequest
from tests.conftest import ROOT

STACK = ROOT / "tests" / "data" / "compose-stack"
#: Every variable the imported stack needs, with values no message may ever show.
VARIABLES = {"POSTGRES_PASSWORD": "pw-s3cret", "HF_TOKEN": "hf-s3cret",
             "CUDA_VERSION": "12.4"}


def compose(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "docker-compose.yml"
    path.write_text(text)
    return path


def one_service(tmp_path: Path, service: dict, **top: object) -> tuple[dict, list[str]]:
    """Import a file of one service `s`: (its mapping, its notes)."""
    imported = import_compose(compose(tmp_path, yaml.safe_dump({"services": {"s": service},
                                                                **top})))
    return imported.services["s"], imported.notes.get("s", [])


@pytest.fixture
def stack(tmp_path: Path) -> Path:
    """The compose project, copied where the desired-state directory is its sibling."""
    project = tmp_path / "homesec"
    shutil.copytree(STACK, project)
    return project / "docker-compose.yml"


def imported_into(stack: Path, desired_dir: Path) -> str:
    """Import the stack into `desired_dir/homesec.yaml`; return the file's text."""
    text = import_compose(stack, target_dir=desired_dir).to_yaml("docker-compose.yml")
    (desired_dir / "homesec.yaml").write_text(text)
    return text


def test_networks_builds_gpus_and_conditions_carry_over(stack: Path,
                                                        desired_dir: Path) -> None:
    imported = import_compose(stack, target_dir=desired_dir)
    services = imported.services
    assert imported.networks == {"backend": {"driver": "bridge"}, "frontend": {},
                                 "shared": {"name": "homesec_shared", "external": True}}
    assert services["ai-detector"] == {
        "category": "ai", "image": "homesec/detector:dev",
        "build": {"context": "../homesec/detector", "dockerfile": "Dockerfile",
                  "target": "runtime",
                  "args": {"MODEL": "rtdetr-l", "CUDA_VERSION": "${CUDA_VERSION}"}},
        "command": "python -m detector.serve --port 8090 --gpu-layers ${GPU_LAYERS:-35}",
        "environment": {"DETECTOR_THRESHOLD": "0.45", "HF_TOKEN": "${HF_TOKEN}"},
        "ports": ["8090:8090"],
        "volumes": ["../homesec/models:/models:ro"],
        "tmpfs": ["/tmp/frames:size=268435456"],
        "networks": {"backend": {"aliases": ["rtdetr"]}},
        "depends_on": {"redis": {"condition": "service_healthy"}},
        "healthcheck": {"command": ["sh", "-c",
                                    "curl -fsS http://localhost:8090/health || exit 1"],
                        "interval": "30s"},
        "deploy": {"resources": {
            "limits": {"cpus": 4.0, "memory": "8g"},
            "reservations": {"devices": [{"driver": "nvidia", "count": 1,
                                          "capabilities": ["gpu"]}]}}},
        "shm_size": "2g",
        "logging": {"driver": "json-file", "options": {"max-size": "50m", "max-file": "5"}}}
    assert services["postgres"]["volumes"] == [
        "homesec_pgdata:/var/lib/postgresql/data",
        "../homesec/db/init.sql:/docker-entrypoint-initdb.d/init.sql:ro,z"]
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] == \
        "${POSTGRES_PASSWORD:?must be set}"
    assert services["postgres"]["healthcheck"] == {
        "command": ["sh", "-c", "pg_isready -U $${POSTGRES_USER} -d homesec"],
        "interval": "10s", "timeout": "5s", "start_period": "90s", "retries": 5}
    assert services["migrate"]["restart_policy"] == {"mode": "once"}
    assert services["migrate"]["env_file"] == ["../homesec/backend.env"]
    assert services["grafana"]["enabled"] is False
    assert services["grafana"]["volumes"] == ["grafana-data:/var/lib/grafana"]
    assert services["prometheus"]["deploy"] == {"resources": {"limits": {"memory": "1g"}}}
    assert services["prometheus"]["ports"] == ["127.0.0.1:9090:9090"]


def test_the_everyday_keys_carry_over(stack: Path, desired_dir: Path) -> None:
    backend = import_compose(stack, target_dir=desired_dir).services["backend"]
    assert backend == {
        "category": "ai", "image": "homesec/backend:${BACKEND_TAG:-latest}",
        "build": {"context": "../homesec/backend"},
        "entrypoint": ["/app/entrypoint.sh"], "user": "1000:1000", "working_dir": "/app",
        "hostname": "api",
        "environment": {
            "DATABASE_URL": "postgresql://homesec:${POSTGRES_PASSWORD}@postgres:5432/homesec",
            "REDIS_URL": "redis://redis:6379", "RTDETR_URL": "http://ai-detector:8090",
            "API_SECRET_KEY": "change-me"},
        "ports": ["127.0.0.1:8000:8000", "${BACKEND_PORT:-8001}:8001"],
        "tmpfs": ["/tmp"], "networks": ["backend", "frontend"],
        "depends_on": {"migrate": {"condition": "service_completed_successfully"},
                       "ai-detector": {"condition": "service_started"},
                       "redis": {"condition": "service_healthy"}},
        "init": True, "stop_signal": "SIGINT", "stop_grace_period": "60s",
        "labels": {"com.example.team": "vision"},
        "extra_hosts": ["host.docker.internal:host-gateway"], "read_only": True,
        "cap_drop": ["ALL"], "security_opt": ["no-new-privileges:true"]}


def test_the_output_loads_when_its_variables_are_set(stack: Path, desired_dir: Path) -> None:
    imported_into(stack, desired_dir)
    state = load_directory(desired_dir, environ=VARIABLES)
    detector, backend = state.services["ai-detector"], state.services["backend"]
    assert detector.command == ("python", "-m", "detector.serve", "--port", "8090",
                                "--gpu-layers", "35")
    assert detector.gpus == (DeviceRequest(driver="nvidia", count=1, capabilities=("gpu",)),)
    assert detector.build.context == str(stack.parent / "detector")
    assert detector.build.args == (("CUDA_VERSION", "12.4"), ("MODEL", "rtdetr-l"))
    assert [(n.name, n.aliases) for n in detector.networks] == [("backend", ("rtdetr",))]
    assert ("DATABASE_URL", "postgresql://homesec:pw-s3cret@postgres:5432/homesec") \
        in backend.environment
    assert backend.image == "homesec/backend:latest"
    assert [(p.host_ip, p.host_port) for p in backend.ports] == [("127.0.0.1", 8000),
                                                                ("127.0.0.1", 8001)]
    assert Dependency("migrate", "service_completed_successfully") in backend.conditions
    assert state.services["migrate"].restart.mode == "once"
    assert state.services["grafana"].enabled is False
    assert state.services["postgres"].healthcheck.command == (
        "sh", "-c", "pg_isready -U ${POSTGRES_USER} -d homesec")


def test_an_unset_variable_is_an_error_with_its_line_and_no_value(
        stack: Path, desired_dir: Path) -> None:
    text = imported_into(stack, desired_dir)
    with pytest.raises(DesiredStateError) as caught:
        load_directory(desired_dir, environ={**VARIABLES, "POSTGRES_PASSWORD": ""})
    line = text.splitlines().index("      POSTGRES_PASSWORD: ${POSTGRES_PASSWORD:?must be set}")
    assert [str(e) for e in caught.value.errors] == [
        f"desired_state/homesec.yaml:{line + 1}: services.postgres.environment."
        "POSTGRES_PASSWORD: variable POSTGRES_PASSWORD is not set: must be set"]
    with pytest.raises(DesiredStateError) as caught:
        load_directory(desired_dir, environ={"CUDA_VERSION": "12.4"})
    messages = [e.message for e in caught.value.errors]
    assert messages[0] == "variable POSTGRES_PASSWORD is not set: must be set"
    assert sum("variable HF_TOKEN is not set" in m for m in messages) == 1
    assert not any(secret in str(caught.value) for secret in ("12.4", "s3cret"))


def test_the_header_lists_the_variables_and_what_was_not_carried(
        stack: Path, desired_dir: Path) -> None:
    header = [line for line in imported_into(stack, desired_dir).splitlines()
              if line.startswith("#")]
    assert header[:3] == [
        "# Imported from docker-compose.yml by `steward import-compose`; review before "
        "committing.",
        "# Needs variables CUDA_VERSION, HF_TOKEN, POSTGRES_PASSWORD: set them in Steward's "
        "environment or in .env beside this file (keep .env out of git).",
        "# Variables with a default: BACKEND_PORT, BACKEND_TAG, GPU_LAYERS, GRAFANA_PASSWORD."]
    assert "# networks.frontend: ipam not carried over" in header
    assert f"# ai-detector: ipc: not carried over: {REFUSED_KEYS['ipc']}" in header


def test_the_notes_say_what_changed_and_why(stack: Path, desired_dir: Path) -> None:
    notes = import_compose(stack, target_dir=desired_dir).notes
    assert notes["postgres"] == [
        "container_name homesec-db: not carried over (Steward names containers "
        "<instance>-<service>)",
        "restart unless-stopped: Steward heals every failure with its own policy (backoff "
        "and a failure limit); to stop it, set enabled: false"]
    assert notes["migrate"] == [
        "others wait for it to complete: restart_policy mode once (a run that exits 0 is "
        "left alone, a failed run is restarted with Steward's backoff)"]
    assert notes["grafana"][0] == (
        "profiles monitoring: Compose starts it only with --profile; here it is enabled: "
        "false (set enabled: true to run it)")
    assert "logging driver syslog: not supported; Steward's default applies (json-file, " \
           "10m x 3 files)" in notes["grafana"]
    assert notes["ai-detector"] == [
        "build cache_from: not carried over",
        "environment HF_TOKEN: compose passes it from the host; now ${HF_TOKEN}, which must "
        "be set",
        "port 8090:8090: published on 127.0.0.1 (Steward's default), not on all interfaces "
        "as compose would; write 0.0.0.0:8090:8090 for that",
        f"ipc: not carried over: {REFUSED_KEYS['ipc']}",
        "healthcheck start_interval: not carried over",
        "logging options tag: not carried over"]
    assert "environment API_SECRET_KEY: a secret value sits in the file; move it to .env " \
           "and write ${NAME} instead" in notes["backend"]
    assert "security_opt seccomp:unconfined: not carried over: only no-new-privileges is " \
           "supported (seccomp, apparmor and label options can loosen confinement)" \
           in notes["backend"]
    assert not any(n.startswith(("build", "networks")) for n in notes["backend"])
    assert "redis" not in notes and "prometheus" not in notes


@pytest.mark.parametrize("service, expected, note", [
    ({"image": "grafana/grafana:10"}, {"category": "monitoring"}, None),
    ({"image": "x", "ports": ["8080"]}, {}, "port 8080: not published in compose; left out "
     "(services reach it by name on their network)"),
    ({"image": "x", "ports": ["8000-8010:8000-8010"]}, {},
     "port 8000-8010:8000-8010: port ranges are not supported; left out"),
    ({"image": "x", "ports": [{"target": 53, "published": 5353, "protocol": "udp"}]},
     {"ports": ["5353:53/udp"]}, None),
    ({"image": "x", "volumes": ["/cache"]}, {},
     "volume /cache: anonymous volumes are not supported; left out (name it, e.g. "
     "NAME:/cache)"),
    ({"image": "x", "volumes": ["${DATA:-./data}:/data:nocopy"]},
     {"volumes": ["${DATA:-./data}:/data:nocopy"]}, None),
    ({"image": "x", "volumes": ["./conf:/conf:ro,nocopy"]}, {"volumes": ["./conf:/conf:ro"]},
     "volume ./conf:/conf:ro,nocopy: option nocopy is not supported; left off"),
    ({"image": "x", "restart": "on-failure:3"},
     {"restart_policy": {"mode": "once", "max_failures": 3}},
     "restart on-failure:3: restart_policy mode once (a run that exits 0 is left alone, a "
     "failed run is restarted with Steward's backoff)"),
    ({"image": "x", "deploy": {"restart_policy": {"condition": "on-failure"}, "replicas": 3}},
     {"restart_policy": {"mode": "once"}},
     "deploy replicas 3: Steward runs one container per service"),
    ({"image": "x", "restart": False}, {},
     "restart no: Steward heals a service that stops; for a job that runs once set "
     "restart_policy: {mode: once}, to keep it off enabled: false"),
    ({"image": "x", "healthcheck": {"test": ["CMD-SHELL", "curl -f localhost || exit 1"],
                                    "interval": "1m30s", "start_period": "500ms"}},
     {"healthcheck": {"command": ["sh", "-c", "curl -f localhost || exit 1"],
                      "interval": "90s", "start_period": "0.5s"}}, None),
    ({"image": "x", "healthcheck": {"disable": True}}, {},
     "healthcheck: disabled in compose; none carried over"),
    ({"image": "x", "mem_limit": "512m", "cpus": "0.5", "gpus": "all"},
     {"deploy": {"resources": {"limits": {"memory": "512m", "cpus": 0.5}}}, "gpus": "all"},
     None),
    ({"image": "x", "gpus": 1, "deploy": {"resources": {"reservations": {"devices": [
        {"capabilities": ["gpu"], "device_ids": ["0"]}], "memory": "1g"}}}},
     {"deploy": {"resources": {"reservations": {"devices": [
         {"capabilities": ["gpu"], "device_ids": ["0"]}]}}}},
     "gpus: left out; deploy.resources.reservations.devices gives the GPUs"),
    ({"image": "x", "labels": ["io.steward.service=y", "tier=web"]},
     {"labels": {"tier": "web"}},
     "labels io.steward.service: left out (io.steward.* are Steward's)"),
    ({"image": "x", "userns_mode": "host", "links": ["db"], "stdin_open": True}, {},
     "stdin_open: not carried over (Steward has no equivalent)"),
    ({"image": "x", "command": "llama-server \\\n  --n-gpu-layers ${GPU_LAYERS:-35} \\\n"
                               "  --ctx-size 4096\n", "entrypoint": ["/init", 1]},
     {"command": "llama-server --n-gpu-layers ${GPU_LAYERS:-35} --ctx-size 4096",
      "entrypoint": ["/init", 1]}, None),
    ({"build": "https://github.com/example/app.git"}, {"image": "REPLACE-ME"},
     "no image and no build Steward can use; set image: by hand"),
])
def test_mappings_and_notes(tmp_path: Path, service: dict, expected: dict,
                            note: str | None) -> None:
    converted, notes = one_service(tmp_path, service)
    assert {k: converted.get(k) for k in expected} == expected
    assert set(converted) - set(expected) <= {"category", "image"}
    if note:
        assert note in notes


def test_depends_on_follows_renames_and_needs_a_usable_check(tmp_path: Path) -> None:
    imported = import_compose(compose(tmp_path, yaml.safe_dump({"services": {
        "Web": {"image": "app", "depends_on": {"DB": {"condition": "service_healthy",
                                                      "required": False}}},
        "DB": {"image": "postgres", "healthcheck": {"test": ["NONE"]}},
        "web": {"image": "app", "depends_on": ["DB"],
                "environment": ["HOME_DIR", "MODE=x"]}}}, sort_keys=False)))
    assert set(imported.services) == {"web", "db", "web-2"}
    assert imported.services["web"]["depends_on"] == {"db": {"condition": "service_started"}}
    assert imported.services["web-2"]["depends_on"] == ["db"]
    assert imported.services["web-2"]["environment"] == {"HOME_DIR": "${HOME_DIR}",
                                                         "MODE": "x"}
    assert imported.notes["web"] == [
        "renamed from 'Web' (names are lowercase letters, digits, . _ -)",
        "depends_on DB: it has no health check Steward can use, so this waits for it to "
        "start, not to be healthy",
        "depends_on DB: required: false is not supported; Steward needs it in the desired "
        "state"]
    assert imported.notes["web-2"][0] == \
        "renamed from 'web': its cleaned name clashed with another service"


def test_host_access_keys_carry_over_and_run_only_with_the_operators_grant(
        tmp_path: Path, desired_dir: Path) -> None:
    path = compose(tmp_path, yaml.safe_dump({"services": {"s": {
        "image": "x", "privileged": True, "cap_add": ["NET_ADMIN"], "pid": "host",
        "network_mode": "service:vpn",
        "devices": ["/dev/dri:/dev/dri", "nvidia.com/gpu=all",
                    {"source": "/dev/kfd", "target": "/dev/kfd", "permissions": "rwm"}]}}}))
    imported = import_compose(path, target_dir=desired_dir)
    assert imported.services["s"] == {
        "category": "ai", "image": "x", "privileged": True, "cap_add": ["NET_ADMIN"],
        "devices": ["/dev/dri:/dev/dri", "/dev/kfd:/dev/kfd:rwm"], "pid": "host"}
    assert imported.notes["s"] == [
        "device nvidia.com/gpu=all: only /dev paths are supported (for GPUs use gpus:); "
        "left out",
        "network_mode service:vpn: not supported (only host or none); left out",
        "needs the operator's grant STEWARD_HOST_ACCESS=privileged,cap_add=NET_ADMIN,"
        "devices=/dev/dri,devices=/dev/kfd,pid=host (the host-access policy, "
        "docs/security.md)"]
    (desired_dir / "s.yaml").write_text(imported.to_yaml("docker-compose.yml"))
    with pytest.raises(DesiredStateError, match="privileged needs the operator's grant"):
        load_directory(desired_dir, environ={})
    grants = HostPolicy.from_settings(
        grants="privileged,cap_add=NET_ADMIN,devices=/dev/dri,devices=/dev/kfd,pid=host")
    assert load_directory(desired_dir, environ={}, policy=grants).services["s"].privileged


def test_needed_variables_are_told_apart_from_escaped_dollars() -> None:
    assert needed_variables("a: $$HOME ${A} $B ${C:-x} ${D-y} ${E:?why} ${F?why} ${G:+z} "
                            "$${H} ${A:-again}") == (["A", "B", "E", "F"], ["C", "D", "G"])


def test_the_old_sample_still_validates(tmp_path: Path) -> None:
    imported = import_compose(ROOT / "tests" / "data" / "docker-compose.yml",
                              target_dir=tmp_path)
    web = imported.services["web_app"]
    assert web["networks"] == ["backend"] and imported.networks == {"backend": {}}
    assert web["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert web["env_file"] == [os.path.relpath(ROOT / "tests" / "data" / "web.env",
                                               tmp_path.resolve())]
    text = imported.to_yaml("docker-compose.yml").replace("PORT1", "18001") \
        .replace("PORT2", "18002")
    (tmp_path / "shop.yaml").write_text(text)
    assert set(load_directory(tmp_path, environ={}).services) == {"db", "web_app"}


def test_relative_mounts_are_rewritten_for_where_the_file_goes(tmp_path: Path) -> None:
    project = tmp_path / "shop"
    project.mkdir()
    path = compose(project, yaml.safe_dump({"services": {"web": {
        "image": "x", "env_file": [{"path": "web.env", "required": False}],
        "volumes": ["./nginx.conf:/etc/nginx.conf:ro", "data:/data", "/srv:/srv",
                    {"type": "bind", "source": "./html", "target": "/www",
                     "bind": {"selinux": "Z"}}]}}}))
    target = tmp_path / "desired_state"
    target.mkdir()
    imported = import_compose(path, target_dir=target)
    assert imported.services["web"]["volumes"] == [
        "../shop/nginx.conf:/etc/nginx.conf:ro", "shop_data:/data", "/srv:/srv",
        "../shop/html:/www:Z"]
    assert "env_file web.env: optional and not found; left out" in imported.notes["web"]
    assert import_compose(path).services["web"]["volumes"][0] == \
        "./nginx.conf:/etc/nginx.conf:ro"


def test_the_command_writes_the_file_and_checks_it_with_the_variables(
        stack: Path, desired_dir: Path) -> None:
    target = desired_dir / "homesec.yaml"
    unset = {name: None for name in VARIABLES}
    answer = CliRunner().invoke(main, ["import-compose", str(stack), "-o", str(target)],
                                env=unset)
    assert answer.exit_code == 1
    assert any(line.startswith("  desired_state/homesec.yaml:") and line.endswith(
        "services.postgres.environment.POSTGRES_PASSWORD: variable POSTGRES_PASSWORD is not "
        "set: must be set") for line in answer.output.splitlines())
    assert "  networks.frontend: ipam not carried over" in answer.output
    target.unlink()
    answer = CliRunner().invoke(main, ["import-compose", str(stack), "-o", str(target)],
                                env=VARIABLES)
    assert answer.exit_code == 0, answer.output
    assert f"wrote 7 service(s) to {target}" in answer.output
    assert set(load_directory(desired_dir, environ=VARIABLES).services) == {
        "postgres", "redis", "migrate", "ai-detector", "backend", "prometheus", "grafana"}


def test_a_file_that_is_not_compose_is_refused_clearly(tmp_path: Path) -> None:
    with pytest.raises(ComposeError, match="no 'services:' mapping; is this a compose file"):
        import_compose(compose(tmp_path, "version: '3'\n"))
    with pytest.raises(ComposeError, match="not valid YAML"):
        import_compose(compose(tmp_path, "services: [\n"))
    with pytest.raises(ComposeError, match="service 'web' is not a mapping"):
        import_compose(compose(tmp_path, "services:\n  web: nginx\n"))
