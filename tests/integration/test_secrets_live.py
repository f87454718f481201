"""Age-encrypted secrets through `steward serve` on a real dockerd: the plain values reach the
container's environment and nowhere else Steward writes (labels, API, page, plan, its log),
and a rotated secret recreates the container."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Callable

import docker
import pytest

from app.desired_state import age_secrets, sealed
from tests.helpers import write_state
from tests.integration.conftest import LiveServer, wait_for

pytestmark = pytest.mark.usefixtures("docker_client")


def secret_state(image: str, recipient: str, greeting: str, token: str) -> str:
    """One service with two sealed values, a plain one and an encrypted env file."""
    def block(value: str) -> str:
        armored = age_secrets.encrypt(value.encode(), [recipient])
        return "".join(f"        {line}\n" for line in armored.splitlines())

    return (f"services:\n  web:\n    category: infrastructure\n    image: {image}\n"
            "    init: true\n    command: [sleep, '3600']\n    stop_grace_period: 1s\n"
            "    update: {monitor: 1s}\n    env_file: db.env.age\n    environment:\n"
            "      MODE: plain\n"
            f"      GREETING: !age |\n{block(greeting)}"
            f"      API_TOKEN: !age |\n{block(token)}")


def environment(client: docker.DockerClient, name: str) -> dict[str, str]:
    container = client.containers.get(name)
    return dict(item.split("=", 1) for item in container.attrs["Config"]["Env"])


def test_sealed_values_reach_only_the_container_and_a_rotation_recreates_it(
        make_server: Callable[..., LiveServer], desired_dir: Path, tmp_path: Path,
        test_image: str, docker_client: docker.DockerClient, instance: str) -> None:
    key_text, recipient = age_secrets.generate()
    key = tmp_path / "age.key"
    key.write_text(key_text)
    plain = {name: f"{name.lower()}-{uuid.uuid4().hex}" for name in
             ("greeting", "token", "password", "rotated")}
    (desired_dir / "db.env.age").write_text(age_secrets.encrypt(
        f"DB_PASSWORD={plain['password']}\n".encode(), [recipient]))
    write_state(desired_dir, secret_state(test_image, recipient, plain["greeting"],
                                          plain["token"]))
    server = make_server(STEWARD_AGE_KEY_FILE=str(key))
    name = f"{instance}-web"
    wait_for(lambda: server.service("web")["status"] == "running", what="web running")

    env = environment(docker_client, name)
    assert (env["GREETING"], env["API_TOKEN"], env["DB_PASSWORD"], env["MODE"]) == (
        plain["greeting"], plain["token"], plain["password"], "plain")
    assert "env_file[0]:db.env.age" not in env
    ran = docker_client.containers.get(name).exec_run(["sh", "-c", "echo $GREETING"])
    assert ran.output.decode().strip() == plain["greeting"]  # the process has it
    first = docker_client.containers.get(name)
    labels = json.dumps(first.labels)
    assert "age:" in labels and sealed.ARMOR_BEGIN not in labels

    rotated_dir = tmp_path / "rotated" / "desired_state"
    shutil.copytree(desired_dir, rotated_dir)
    write_state(rotated_dir, secret_state(test_image, recipient, plain["rotated"],
                                          plain["token"]))
    planned = subprocess.run([sys.executable, "-m", "app", "plan", str(rotated_dir)],
                             env=server.env, capture_output=True, text=True, timeout=60)
    assert planned.returncode == 2, planned.stdout + planned.stderr
    assert re.search(r"environment\.GREETING: age:[0-9a-f]{12} -> age:[0-9a-f]{12}",
                     planned.stdout), planned.stdout
    assert "environment.API_TOKEN: (sensitive) -> (sensitive, changed)" in planned.stdout

    write_state(desired_dir, secret_state(test_image, recipient, plain["rotated"],
                                          plain["token"]))
    wait_for(lambda: environment(docker_client, name).get("GREETING") == plain["rotated"]
             and docker_client.containers.get(name).status == "running",
             timeout=60, what="the rotated secret in a new container")
    assert docker_client.containers.get(name).id != first.id
    assert environment(docker_client, name)["DB_PASSWORD"] == plain["password"]

    answers = {where: server.get(path) for where, path in (
        ("service", "/api/system/services/web"), ("plan", "/api/system/plan"),
        ("desired state", "/api/system/desired-state"), ("events", "/api/system/events"),
        ("page", "/services/web"), ("fleet page", "/"))}
    assert {where: a.status_code for where, a in answers.items()} == dict.fromkeys(answers, 200)
    seen = {"labels": json.dumps(docker_client.containers.get(name).labels),
            "plan output": planned.stdout + planned.stderr, "log": server.log.read_text(),
            **{where: answer.text for where, answer in answers.items()}}
    for where, text in seen.items():
        for value in plain.values():
            assert value not in text, f"a plain secret shows in the {where}"
    labelled = dict(json.loads(json.loads(seen["labels"])["io.steward.spec"])["environment"])
    fingerprint = labelled["GREETING"].split(":", 2)[2]
    assert re.fullmatch(r"age:[0-9a-f]{12}", fingerprint) and fingerprint in seen["page"]


def test_without_the_key_nothing_runs_and_the_error_names_the_line_not_the_value(
        make_server: Callable[..., LiveServer], desired_dir: Path, test_image: str,
        docker_client: docker.DockerClient, instance: str) -> None:
    _, recipient = age_secrets.generate()
    (desired_dir / "db.env.age").write_text(age_secrets.encrypt(b"DB_PASSWORD=x\n",
                                                                [recipient]))
    write_state(desired_dir, secret_state(test_image, recipient, "hello-plain", "tok-plain"))
    server = make_server()
    state = wait_for(lambda: server.get("/api/system/desired-state").json()["last_error"],
                     what="the load error")
    assert "services.yaml:12: services.web.environment.GREETING: encrypted with age, but " \
           "STEWARD_AGE_KEY_FILE is not set" in state
    assert "services.yaml:9: services.web.env_file[0]: db.env.age: encrypted" in state
    assert "hello-plain" not in state and sealed.ARMOR_BEGIN not in state
    assert not docker_client.containers.list(
        all=True, filters={"label": f"io.steward.instance={instance}"})
