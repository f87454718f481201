"""Image updates against a real registry (Debian's docker-registry on 127.0.0.1): a tag
that moves on is seen without pulling, shown as "update available", and rolled out through
the health gate for a service with `auto_update: true`."""
from __future__ import annotations

import io
from pathlib import Path

import docker
import pytest
from flask.testing import FlaskClient

from app.engine.docker_engine import LABEL_INSTANCE
from app.steward import Steward
from tests.helpers import containers_of, write_state
from tests.integration.conftest import passes_until

pytestmark = pytest.mark.usefixtures("docker_client")


def build_and_push(client: docker.DockerClient, base: str, tag: str, version: str,
                   instance: str) -> str:
    """Build a tiny image of `base` that says `version`, tag it `tag`, push it; its id."""
    dockerfile = f"FROM {base}\nLABEL io.steward.test.version={version}\n"
    image, _ = client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=tag, rm=True,
                                   labels={LABEL_INSTANCE: instance})
    repository, _, label = tag.rpartition(":")
    for line in client.images.push(repository, tag=label, stream=True, decode=True):
        assert "error" not in line, line
    return image.id


def service(image: str, auto_update: bool) -> str:
    return (f"services:\n  web:\n    category: infrastructure\n    image: {image}\n"
            "    command: [sleep, '3600']\n    init: true\n    stop_grace_period: 1s\n"
            f"    auto_update: {'true' if auto_update else 'false'}\n"
            "    update: {monitor: 0.5s, deadline: 20s}\n")


def check(client: FlaskClient) -> dict:
    answer = client.post("/api/system/images/check")
    assert answer.status_code == 200, answer.get_json()
    [web] = [i for i in answer.get_json()["images"] if i["service"] == "web"]
    return web


def test_a_moved_tag_is_seen_and_rolled_out_for_auto_update(
        steward: Steward, client: FlaskClient, desired_dir: Path, test_image: str,
        docker_client: docker.DockerClient, instance: str, registry: str) -> None:
    tag = f"{registry}/steward-test/{instance}:stable"
    first = build_and_push(docker_client, test_image, tag, "1", instance)
    write_state(desired_dir, service(tag, auto_update=False))
    passes_until(steward, lambda: "web" in containers_of(docker_client, instance),
                 what="web to run")
    assert check(client)["update_available"] is None

    second = build_and_push(docker_client, test_image, tag, "2", instance)
    docker_client.images.get(first).tag(tag)  # this host still has the old one under the tag
    found = check(client)
    assert found["update_available"] and found["update_available"] != found["running_digest"]
    detail = client.get("/api/system/services/web").get_json()
    assert detail["update_available"] == found["update_available"]
    events = client.get("/api/system/events?service=web&kind=update-available").get_json()
    assert events["events"], "the update is in the event log"

    steward.reconciler.run_pass()
    assert containers_of(docker_client, instance)["web"].image.id == first, \
        "without auto_update, only shown"

    write_state(desired_dir, service(tag, auto_update=True))
    passes_until(steward, lambda: (client.get("/api/system/services/web").get_json()
                                   ["rollout"] or {}).get("state") == "succeeded",
                 what="the image update to roll out")
    assert containers_of(docker_client, instance)["web"].image.id == second
    after = client.get("/api/system/services/web").get_json()
    assert (after["update_available"], after["rollout"]["strategy"]) == (None, "start-first")
    assert check(client)["update_available"] is None
