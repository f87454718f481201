"""The Compose keys real stacks use: each is validated with a message naming file:line, and
lands in the spec (and so in its hash) in one normal form."""
from __future__ import annotations

from pathlib import Path

import pytest

from app.desired_state import DesiredStateError, load_directory
from app.desired_state.spec import (
    DEFAULT_NETWORK,
    DeviceRequest,
    Logging,
    NetworkAttachment,
    ServiceSpec,
    Ulimit,
)
from tests.helpers import write_state


def load_one(directory: Path, body: str, name: str = "s", **options: object) -> ServiceSpec:
    write_state(directory, "services:\n  s:\n    category: ai\n" + body)
    return load_directory(directory, **options).services[name]


def errors_of(directory: Path, body: str) -> list[str]:
    write_state(directory, "services:\n  s:\n    category: ai\n" + body)
    with pytest.raises(DesiredStateError) as caught:
        load_directory(directory)
    return [str(e).removeprefix(f"{directory.name}/") for e in caught.value.errors]


def test_every_service_joins_the_instance_network_by_default(tmp_path: Path) -> None:
    spec = load_one(tmp_path, "    image: x\n")
    assert spec.networks == (DEFAULT_NETWORK,)
    assert "networks" in spec.field_hashes(), "never empty, so old containers show drift"


def test_declared_networks_with_aliases_across_files(tmp_path: Path) -> None:
    write_state(tmp_path, """
        networks:
          backend: {internal: true}
          shared: {external: true, name: corp-net}
        services: {}
    """, name="networks.yaml")
    spec = load_one(tmp_path, "    image: x\n    networks:\n      default:\n"
                              "      backend: {aliases: [db, primary]}\n      shared:\n")
    assert spec.networks == (
        NetworkAttachment(name="backend", aliases=("db", "primary"), internal=True),
        NetworkAttachment(name="default"),
        NetworkAttachment(name="shared", external=True, docker_name="corp-net"),
    )


def test_gpus_short_and_compose_forms(tmp_path: Path) -> None:
    assert load_one(tmp_path, "    image: x\n    gpus: all\n").gpus == (DeviceRequest(count=-1),)
    assert load_one(tmp_path, "    image: x\n    gpus: 2\n").gpus == (DeviceRequest(count=2),)
    assert load_one(tmp_path, "    image: x\n    gpus: ['0', 3]\n").gpus == (
        DeviceRequest(device_ids=("0", "3")),)
    spec = load_one(tmp_path, """    image: x
    deploy:
      resources:
        limits: {cpus: 2, memory: 4g}
        reservations:
          devices:
            - {driver: nvidia, count: 1, capabilities: [gpu]}
""")
    assert spec.gpus == (DeviceRequest(driver="nvidia", count=1),)
    assert (spec.resources.cpus, spec.resources.memory_bytes) == (2.0, 4 * 1024 ** 3)
    assert spec.gpus[0].describe() == "nvidia gpu: 1"


def test_build_defaults_its_tag_and_digests_its_context(tmp_path: Path) -> None:
    context = tmp_path / "app"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM scratch\n")
    spec = load_one(tmp_path, "    build: ./app\n", instance="home")
    assert spec.image == "home-s:latest"
    assert spec.build is not None and spec.build.in_repo == "./app"
    before = spec.field_hashes()["build"]
    (context / "main.sh").write_text("echo hi\n")
    after = load_one(tmp_path, "    build: ./app\n", instance="home").field_hashes()["build"]
    assert before != after, "a changed file in the context is a new build"


def test_build_mapping_form_keeps_tag_target_and_args(tmp_path: Path) -> None:
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "Containerfile").write_text("FROM scratch\n")
    spec = load_one(tmp_path, "    image: mine:2\n    build:\n      context: ctx\n"
                              "      dockerfile: Containerfile\n      target: prod\n"
                              "      args: {VERSION: 2}\n")
    assert spec.image == "mine:2"
    assert spec.build is not None
    assert (spec.build.dockerfile, spec.build.target, spec.build.args) == (
        "Containerfile", "prod", (("VERSION", "2"),))


def test_env_file_is_merged_under_environment(tmp_path: Path) -> None:
    (tmp_path / "web.env").write_text("A=from-file\nB=2\n")
    spec = load_one(tmp_path, "    image: x\n    env_file: web.env\n    environment: {A: mine}\n")
    assert dict(spec.environment) == {"A": "mine", "B": "2"}


def test_everyday_keys_reach_the_spec(tmp_path: Path) -> None:
    spec = load_one(tmp_path, """    image: x
    entrypoint: ["/bin/sh", "-c"]
    command: >-
      echo one
      two
    user: "1000:1000"
    working_dir: /srv
    hostname: box
    stop_signal: SIGINT
    labels: {team: vision}
    shm_size: 2g
    ulimits: {nofile: {soft: 1024, hard: 65536}, memlock: -1}
    tmpfs: /run
    extra_hosts: ["host.docker.internal:host-gateway"]
    read_only: true
    cap_drop: [ALL]
    security_opt: ["no-new-privileges:true"]
    logging: {driver: local, options: {max-size: 50m}}
    volumes: ["/srv/data:/data:ro,z"]
    restart_policy: {mode: once}
""")
    assert spec.entrypoint == ("/bin/sh", "-c") and spec.command == ("echo", "one", "two")
    assert (spec.user, spec.working_dir, spec.hostname, spec.stop_signal) == (
        "1000:1000", "/srv", "box", "SIGINT")
    assert spec.labels == (("team", "vision"),) and spec.shm_size == 2 * 1024 ** 3
    assert spec.ulimits == (Ulimit("memlock", -1, -1), Ulimit("nofile", 1024, 65536))
    assert spec.tmpfs == ("/run",)
    assert spec.extra_hosts == (("host.docker.internal", "host-gateway"),)
    assert spec.read_only and spec.cap_drop == ("ALL",)
    assert spec.security_opt == ("no-new-privileges:true",)
    assert spec.logging == Logging("local", (("max-size", "50m"),))
    assert (spec.volumes[0].read_only, spec.volumes[0].relabel) == (True, "z")
    assert spec.restart.mode == "once"
    assert {"entrypoint", "user", "ulimits", "read_only", "logging"} <= set(spec.field_hashes())


def test_logs_rotate_by_default(tmp_path: Path) -> None:
    assert load_one(tmp_path, "    image: x\n").logging == Logging(
        "json-file", (("max-file", "3"), ("max-size", "10m")))
    assert load_one(tmp_path, "    image: x\n    logging: {options: {max-file: 5}}\n"
                    ).logging == Logging("json-file", (("max-file", "5"), ("max-size", "10m")))


def test_depends_on_conditions(tmp_path: Path) -> None:
    write_state(tmp_path, """
        services:
          db: {category: infrastructure, image: x, healthcheck: {tcp: {port: 5432}}}
          migrate: {category: infrastructure, image: x, restart_policy: {mode: once}}
          web:
            category: ai
            image: x
            depends_on:
              db: {condition: service_healthy}
              migrate: {condition: service_completed_successfully}
    """)
    web = load_directory(tmp_path).services["web"]
    assert web.depends_on == ("db", "migrate")
    assert (web.condition("db"), web.condition("migrate")) == (
        "service_healthy", "service_completed_successfully")


@pytest.mark.parametrize("body, expected", [
    ("    image: x\n    network_mode: bridge\n",
     "services.yaml:5: services.s.network_mode: must be host or none; to share a network use "
     "networks:"),
    ("    image: x\n    ipc: host\n",
     "services.yaml:5: services.s.ipc: ipc is not supported: sharing the host's or another "
     "container's IPC namespace breaks the isolation Steward's host-access policy keeps"),
    ("    image: x\n    restart: always\n",
     "services.yaml:5: services.s.restart: restart is Steward's job: remove it and tune "
     "restart_policy: instead"),
    ("    image: x\n    gpus: many\n",
     "services.yaml:5: services.s.gpus: must be all, a number of GPUs, or a list of device ids"),
    ("    image: x\n    networks: [backend]\n",
     "services.yaml:5: services.s.networks: network 'backend' is not declared; add it under "
     "the top-level networks: of a file"),
    ("    build: ./missing\n",
     "services.yaml:4: services.s.build: build context ./missing is not a directory (paths "
     "are relative to this file)"),
    ("    image: x\n    env_file: nope.env\n",
     "services.yaml:5: services.s.env_file[0]: nope.env not found (relative to this file)"),
    ("    image: x\n    labels: {io.steward.service: other}\n",
     "services.yaml:5: services.s.labels: label 'io.steward.service' is reserved: "
     "io.steward.* labels say which containers Steward owns"),
    ("    image: x\n    security_opt: [seccomp=unconfined]\n",
     "services.yaml:5: services.s.security_opt[0]: only no-new-privileges is supported: "
     "seccomp, apparmor and label options loosen the host's confinement"),
    ("    image: x\n    logging: {driver: syslog}\n",
     "services.yaml:5: services.s.logging.driver: must be json-file, local or none (a driver "
     "that ships logs elsewhere is not supported)"),
    ("    image: x\n    ulimits: {nofile: {soft: 10, hard: 5}}\n",
     "services.yaml:5: services.s.ulimits: nofile: soft must not exceed hard, both -1 or more"),
    ("    image: x\n    tmpfs: run\n",
     "services.yaml:5: services.s.tmpfs: each entry must be an absolute path in the container"),
    ("    image: x\n    gpus: all\n    deploy: {resources: {reservations: {devices: "
     "[{count: 1}]}}}\n",
     "services.yaml:5: services.s.gpus: give gpus: or deploy.resources.reservations.devices, "
     "not both"),
    ("    image: x\n    deploy: {replicas: 2}\n",
     "services.yaml:5: services.s.deploy.replicas: unknown key; allowed keys: resources"),
    ("    image: x\n    environment: ['DB_PASSWORD: hunter2']\n",
     "services.yaml:5: services.s.environment: an item is not of the form NAME=value (the item "
     "is not shown, since it may hold a secret)"),
    ("    image: x\n    restart_policy: {mode: sometimes}\n",
     "services.yaml:5: services.s.restart_policy.mode: must be always (heal every exit) or "
     "once (run to completion; heal only a failed run)"),
])
def test_each_new_key_explains_what_is_wrong(tmp_path: Path, body: str, expected: str) -> None:
    assert errors_of(tmp_path, body) == [expected]


def test_service_healthy_needs_a_health_check(tmp_path: Path) -> None:
    write_state(tmp_path, """
        services:
          db: {category: infrastructure, image: x}
          web: {category: ai, image: x, depends_on: {db: {condition: service_healthy}}}
    """)
    with pytest.raises(DesiredStateError) as caught:
        load_directory(tmp_path)
    assert [str(e).removeprefix(f"{tmp_path.name}/") for e in caught.value.errors] == [
        "services.yaml:3: services.web.depends_on: db has no healthcheck, so service_healthy "
        "could never be met; give it a healthcheck or use service_started"]


def test_a_stored_spec_comes_back_equal(tmp_path: Path) -> None:
    import json

    spec = load_one(tmp_path, "    image: x\n    gpus: all\n    ulimits: {nofile: 8}\n"
                              "    extra_hosts: {a: 10.0.0.1}\n    tmpfs: [/run]\n")
    assert ServiceSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
