"""The spec as a Swarm service (app/engine/swarm_options.py): labels for drift, update and
rollback configs from `update`, placement, GPUs as generic resources, and what Swarm
cannot do refused by name rather than dropped."""
from __future__ import annotations

from dataclasses import replace

import pytest

from app.desired_state import age_secrets, sealed
from app.desired_state.spec import (
    DeviceRequest,
    HealthCheck,
    Placement,
    PortMapping,
    UpdatePolicy,
)
from app.engine.swarm_options import service_options, task_environment, unsupported
from tests.helpers import spec

WEB = spec(replicas=3, update=UpdatePolicy(order="stop-first", monitor=7, deadline=60,
                                           failure_action="rollback"))


def test_a_service_carries_stewards_labels_and_the_update_policy() -> None:
    options = service_options("t", WEB, replicas=3)
    assert options["name"] == "t_web"
    assert options["labels"]["io.steward.spec-hash"] == WEB.spec_hash
    assert (options["mode"].mode, options["mode"].replicas) == ("replicated", 3)
    assert options["update_config"] == {"Parallelism": 1, "Order": "stop-first",
                                        "Delay": 7_000_000_000, "Monitor": 7_000_000_000,
                                        "FailureAction": "rollback", "MaxFailureRatio": 0}
    assert options["rollback_config"]["FailureAction"] == "pause"
    container = options["task_template"]["ContainerSpec"]
    assert container["Labels"] == {"io.steward.instance": "t", "io.steward.service": "web"}


def test_placement_gpus_and_ingress_ports() -> None:
    placed = replace(WEB, placement=Placement(constraints=("node.role==worker",),
                                              preferences=("node.labels.zone",),
                                              max_replicas_per_node=1),
                     gpus=(DeviceRequest(driver="nvidia", count=2),),
                     ports=(PortMapping("0.0.0.0", 8080, 80),))
    options = service_options("t", placed, replicas=3)
    template = options["task_template"]
    assert template["Placement"] == {"Constraints": ["node.role==worker"],
                                     "Preferences": [{"Spread": {
                                         "SpreadDescriptor": "node.labels.zone"}}],
                                     "MaxReplicas": 1}
    assert template["Resources"]["Reservations"]["GenericResources"] == [
        {"DiscreteResourceSpec": {"Kind": "NVIDIA-GPU", "Value": 2}}]
    assert options["endpoint_spec"]["Ports"] == [
        {"PublishedPort": 8080, "TargetPort": 80, "Protocol": "tcp", "PublishMode": "ingress"}]
    assert unsupported(placed) == []


@pytest.mark.parametrize("changes, problem", [
    ({"gpus": (DeviceRequest(driver="nvidia", count=-1),)},
     "gpus: nvidia gpu: all: on Swarm a GPU request is a count of the nodes' 'NVIDIA-GPU' "
     "generic resource; give count: N"),
    ({"ports": (PortMapping("127.0.0.1", 8080, 80),)},
     "ports: 127.0.0.1:8080: Swarm publishes on every interface of every node; write "
     "0.0.0.0:8080:80 to accept that"),
    ({"privileged": True}, "privileged: Swarm services cannot have it"),
    ({"healthcheck": HealthCheck("http", 5, 2, 0, 3, path="/", port=80)},
     "healthcheck: an http check is probed by Steward, which cannot reach tasks on other "
     "nodes; use a command check"),
])
def test_what_swarm_cannot_do_is_named(changes: dict, problem: str) -> None:
    assert unsupported(replace(WEB, **changes)) == [problem]


def test_ports_in_host_mode() -> None:
    on_host = replace(WEB, ports=(PortMapping("0.0.0.0", 8080, 80),), port_mode="host")
    assert service_options("t", on_host, replicas=1)["endpoint_spec"]["Ports"] == [
        {"PublishedPort": 8080, "TargetPort": 80, "Protocol": "tcp", "PublishMode": "host"}]
    assert on_host.spec_hash != replace(on_host, port_mode=None).spec_hash  # it is drift


def test_sealed_values_become_swarm_secrets_named_by_their_ciphertext(tmp_path) -> None:
    key_text, recipient = age_secrets.generate()
    (tmp_path / "age.key").write_text(key_text)
    keyring = age_secrets.Keyring(str(tmp_path / "age.key"))
    token = age_secrets.encrypt(b"s3cret-token", [recipient])
    env_file = age_secrets.encrypt(b"DB_USER=app\nDB_PASSWORD=hunter2\n", [recipient])
    sealed_spec = spec(name="a" * 40, environment=(
        (sealed.env_file_key(0, "db.env.age"), env_file), ("MODE", "plain"),
        ("API_TOKEN", token)))

    environment = task_environment("t0123456789", sealed_spec, keyring)

    assert environment.variables == {
        "MODE": "plain", "DB_USER_FILE": "/run/secrets/DB_USER",
        "DB_PASSWORD_FILE": "/run/secrets/DB_PASSWORD", "API_TOKEN_FILE": "/run/secrets/API_TOKEN"}
    by_variable = {s.variable: s for s in environment.secrets}
    assert {v: s.data for v, s in by_variable.items()} == {
        "DB_USER": "app", "DB_PASSWORD": "hunter2", "API_TOKEN": "s3cret-token"}
    names = [s.name for s in environment.secrets]
    assert all(len(n) <= 64 and n.startswith("t0123456789_aaaa") for n in names)
    assert len(set(names)) == 3 and "hunter2" not in repr(environment.secrets)
    rotated = replace(sealed_spec, environment=(
        ("API_TOKEN", age_secrets.encrypt(b"s3cret-token", [recipient])),))
    assert task_environment("t0123456789", rotated, keyring).secrets[0].name != \
        by_variable["API_TOKEN"].name  # Swarm secrets cannot change: a rotation is a new one
    container = service_options("t", sealed_spec, replicas=1, environment=environment)[
        "task_template"]["ContainerSpec"]
    assert "hunter2" not in str(container["Env"]) and "s3cret" not in str(container["Env"])


def test_an_explicit_value_wins_over_an_env_files_as_on_the_docker_engine(tmp_path) -> None:
    key_text, recipient = age_secrets.generate()
    (tmp_path / "age.key").write_text(key_text)
    keyring = age_secrets.Keyring(str(tmp_path / "age.key"))
    env_file = age_secrets.encrypt(b"DB_PASSWORD=hunter2\nLOG_LEVEL=info\n", [recipient])
    both = spec(environment=((sealed.env_file_key(0, "db.env.age"), env_file),
                             ("LOG_LEVEL", "debug"),
                             ("DB_PASSWORD", age_secrets.encrypt(b"override", [recipient]))))

    environment = task_environment("t", both, keyring)

    assert environment.variables == {"LOG_LEVEL": "debug",
                                     "DB_PASSWORD_FILE": "/run/secrets/DB_PASSWORD"}
    assert [(s.variable, s.data) for s in environment.secrets] == [("DB_PASSWORD", "override")]
    assert keyring.environment(both.environment) == {"DB_PASSWORD": "override",
                                                     "LOG_LEVEL": "debug"}
