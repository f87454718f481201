"""Desired state that follows git: revisions of the files in force, and a followed remote
branch (a local bare repository here; no network)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import docker
import pytest

from tests.helpers import containers_of, git, remote_and_clone, service, write_state
from tests.integration.conftest import LiveServer, wait_for

pytestmark = pytest.mark.usefixtures("docker_client")


def commit_all(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def state(server: LiveServer) -> dict:
    return server.get("/api/system/desired-state").json()


def worker(image: str, mode: str) -> str:
    return "services:\n" + service("worker", image, '["sleep", "3600"]',
                                   environment=f"{{MODE: {mode}}}")


def test_loads_record_the_commit_and_an_uncommitted_edit_is_dirty(
        make_server: Callable[..., LiveServer], tmp_path: Path, test_image: str) -> None:
    repo = tmp_path / "ops"
    (repo / "desired_state").mkdir(parents=True)
    git(repo, "init", "-q")
    write_state(repo / "desired_state", worker(test_image, "one"))
    head = commit_all(repo, "worker, mode one")
    server = make_server(STEWARD_DESIRED_STATE=str(repo / "desired_state"))
    wait_for(lambda: server.service("worker")["status"] == "running", what="worker running")
    assert (state(server)["revision"], state(server)["dirty"]) == (head, False)
    page = server.get("/").text
    assert f"<code title=\"git commit of the desired state in force\">{head[:12]}</code>" in page

    write_state(repo / "desired_state", worker(test_image, "two"))
    wait_for(lambda: state(server)["dirty"] is True, timeout=10,
             what="the edit to be loaded (the file watcher) and reported dirty")
    assert state(server)["revision"] == head
    assert "(uncommitted changes)" in server.get("/").text


def test_a_followed_branch_is_fast_forwarded_and_a_bad_commit_changes_nothing(
        make_server: Callable[..., LiveServer], tmp_path: Path, test_image: str,
        docker_client: docker.DockerClient, instance: str) -> None:
    remote, work = remote_and_clone(tmp_path)
    (work / "desired_state").mkdir()
    write_state(work / "desired_state", worker(test_image, "one"))
    first = commit_all(work, "worker, mode one")
    git(work, "push", "-q", "origin", "HEAD:main")
    server = make_server(STEWARD_GIT_URL=f"file://{remote}", STEWARD_GIT_BRANCH="main",
                         STEWARD_GIT_POLL="0.5", STEWARD_GIT_CHECKOUT=str(tmp_path / "checkout"))
    wait_for(lambda: server.service("worker")["status"] == "running", what="worker running")
    assert state(server)["revision"] == first and state(server)["source"]["ok"]

    write_state(work / "desired_state", worker(test_image, "two"))
    second = commit_all(work, "worker, mode two")
    git(work, "push", "-q", "origin", "HEAD:main")
    wait_for(lambda: state(server)["revision"] == second, timeout=20, what="the fast-forward")
    def recreated() -> bool:  # between remove and create there is no container at all
        container = containers_of(docker_client, instance).get("worker")
        return container is not None and "MODE=two" in container.attrs["Config"]["Env"]

    wait_for(recreated, timeout=20, what="the worker recreated with MODE=two")
    running = containers_of(docker_client, instance)["worker"].id
    wait_for(lambda: state(server)["applies"][0]["revision"] == second,
             what="the recreate to be recorded as an apply of the second revision")

    write_state(work / "desired_state", "services:\n  worker:\n    category: gpu\n")
    bad = commit_all(work, "a broken edit")
    git(work, "push", "-q", "origin", "HEAD:main")
    wait_for(lambda: state(server)["last_error_revision"] == bad, timeout=20,
             what="the bad commit to be rejected")
    assert state(server)["revision"] == second, "the previous revision stays in force"
    assert "services.worker.category: must be one of" in state(server)["last_error"]
    assert containers_of(docker_client, instance)["worker"].id == running

    git(work, "reset", "-q", "--hard", first)
    write_state(work / "desired_state", worker(test_image, "rewritten"))
    commit_all(work, "history rewritten")
    git(work, "push", "-q", "--force", "origin", "HEAD:main")
    wait_for(lambda: not state(server)["source"]["ok"], timeout=20,
             what="the non-fast-forward to be reported")
    assert "is not a fast-forward" in state(server)["source"]["detail"]
    assert state(server)["source"]["commit"] == bad, "never forced"
    assert containers_of(docker_client, instance)["worker"].id == running

    remote.rename(tmp_path / "gone.git")  # the remote goes away: fetches fail
    wait_for(lambda: state(server)["source"]["detail"].startswith("git failed:"), timeout=20,
             what="the failed fetch to be reported")
    assert state(server)["source"]["commit"] == bad
    assert containers_of(docker_client, instance)["worker"].id == running
