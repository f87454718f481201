"""Push webhooks on a live server (issue 12, item 3): a local bare repository is the remote,
`steward serve` follows it with a poll interval of an hour, and a delivery signed like
GitHub's makes the pushed commit the state in force; a push to another branch and a bad
signature change nothing, and the bad one is in the event log."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import docker
import pytest
import requests

from app.api.git.signatures import sign
from app.engine.docker_engine import LABEL_INSTANCE
from tests.helpers import git, remote_and_clone, sleeper, write_state
from tests.integration.conftest import LiveServer, wait_for

pytestmark = pytest.mark.usefixtures("docker_client")
SECRET = "push-webhook-secret-0123456789"
TOKEN = "webhook-test-operator-token-01"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def commit_and_push(work: Path, image: str, mode: str, branch: str = "main") -> str:
    write_state(work / "desired_state",
                "services:\n" + sleeper(image, "worker", environment=f"{{MODE: {mode}}}"))
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", f"worker, mode {mode}")
    git(work, "push", "-q", "origin", f"HEAD:{branch}")
    return git(work, "rev-parse", "HEAD")


def deliver(server: LiveServer, ref: str, after: str, secret: str = SECRET
            ) -> requests.Response:
    """A push delivery as GitHub sends it: JSON, signed over the raw body."""
    body = json.dumps({"ref": ref, "before": "0" * 40, "after": after,
                       "repository": {"full_name": "ops/desired"}}).encode()
    return server.post("/api/system/git/webhook", data=body, headers={
        "Content-Type": "application/json", "X-GitHub-Event": "push",
        "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        "X-Hub-Signature-256": f"sha256={sign(body, secret)}",
        "User-Agent": "GitHub-Hookshot/044aadd"})


def revision(server: LiveServer) -> str | None:
    return server.get("/api/system/desired-state", headers=AUTH).json()["revision"]


def events(server: LiveServer, kind: str) -> list[dict]:
    return server.get(f"/api/system/events?kind={kind}&limit=50", headers=AUTH).json()["events"]


def worker_mode(client: docker.DockerClient, instance: str) -> str | None:
    found = client.containers.list(all=True, filters={
        "label": f"{LABEL_INSTANCE}={instance}", "status": "running"})
    env = [e for c in found for e in c.attrs["Config"]["Env"] if e.startswith("MODE=")]
    return env[0].removeprefix("MODE=") if len(env) == 1 else None


def test_a_signed_push_is_in_force_without_waiting_for_the_poll(
        make_server: Callable[..., LiveServer], tmp_path: Path, test_image: str,
        docker_client: docker.DockerClient, instance: str) -> None:
    remote, work = remote_and_clone(tmp_path)
    first = commit_and_push(work, test_image, "one")
    server = make_server(STEWARD_GIT_URL=f"file://{remote}", STEWARD_GIT_BRANCH="main",
                         STEWARD_GIT_POLL="3600", STEWARD_GIT_CHECKOUT=str(tmp_path / "co"),
                         STEWARD_GIT_WEBHOOK_SECRET=SECRET,
                         STEWARD_API_TOKENS=f"ops:operator:{TOKEN}")
    wait_for(lambda: worker_mode(docker_client, instance) == "one", what="worker, mode one")
    assert revision(server) == first

    second = commit_and_push(work, test_image, "two")  # on main: the poll is an hour away
    elsewhere = commit_and_push(work, test_image, "three", branch="feature")
    ignored = deliver(server, "refs/heads/feature", elsewhere)
    assert ignored.status_code == 200, ignored.text
    assert ignored.json()["result"] == "ignored"
    refused = deliver(server, "refs/heads/main", second, secret="not-the-secret")
    assert refused.status_code == 401 and refused.headers["Content-Type"] == "application/json"
    assert refused.json()["detail"] == \
        "Webhook refused: X-Hub-Signature-256 does not match STEWARD_GIT_WEBHOOK_SECRET"
    [audit] = events(server, "webhook-refused")
    assert (audit["actor"], audit["origin"]) == ("git-webhook", "127.0.0.1")
    assert revision(server) == first

    accepted = deliver(server, "refs/heads/main", second)
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["result"] == "fetching"
    wait_for(lambda: revision(server) == second, timeout=20, what="the pushed commit in force")
    wait_for(lambda: worker_mode(docker_client, instance) == "two", timeout=30,
             what="the worker recreated with MODE=two")
    [hook] = events(server, "webhook")
    [forward] = [e for e in events(server, "git") if "fast-forwarded" in e["message"]]
    assert forward["id"] > hook["id"], "fetched on the signed push, not on an earlier one"
    assert forward["message"].endswith(f"-> {second[:12]}")
