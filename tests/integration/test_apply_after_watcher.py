"""`steward apply` tells the truth (issue 12, item 5): after the file watcher has already
carried an edit out, `steward apply` through the live server reports what that edit
changed for the state in force, not changed=0; an apply after that reports nothing new."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Callable

import docker
import pytest

from app.engine.docker_engine import LABEL_INSTANCE
from tests.conftest import ROOT
from tests.helpers import sleeper, write_state
from tests.integration.conftest import LiveServer, wait_for

pytestmark = pytest.mark.usefixtures("docker_client")


def worker(image: str, mode: str) -> str:
    return "services:\n" + sleeper(image, "worker", environment=f"{{MODE: {mode}}}")


def running_mode(client: docker.DockerClient, instance: str) -> str | None:
    found = client.containers.list(filters={"label": f"{LABEL_INSTANCE}={instance}"})
    env = [e for c in found for e in c.attrs["Config"]["Env"] if e.startswith("MODE=")]
    return env[0].removeprefix("MODE=") if len(env) == 1 else None


def steward_apply(server: LiveServer, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STEWARD_")}
    return subprocess.run([sys.executable, "-m", "app", "apply", *args],
                          env={**env, "STEWARD_URL": server.url}, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_apply_reports_what_the_file_watcher_already_changed(
        make_server: Callable[..., LiveServer], desired_dir: Path, test_image: str,
        docker_client: docker.DockerClient, instance: str) -> None:
    write_state(desired_dir, worker(test_image, "one"))
    server = make_server(STEWARD_RECONCILE_INTERVAL="60")  # only the watcher acts on edits
    wait_for(lambda: running_mode(docker_client, instance) == "one", what="worker, mode one")
    first = steward_apply(server)  # reports the create of the first pass, once
    assert first.returncode == 0, first.stderr

    write_state(desired_dir, worker(test_image, "two"))
    wait_for(lambda: running_mode(docker_client, instance) == "two", timeout=30,
             what="the file watcher to recreate the worker with MODE=two")
    applied = steward_apply(server, "--json")
    assert applied.returncode == 0, applied.stderr
    body = json.loads(applied.stdout)
    assert (body["result"], body["counts"]) == ("changed", {"ok": 0, "changed": 1,
                                                            "failed": 0, "skipped": 0})
    [outcome] = body["services"]
    assert (outcome["service"], outcome["outcome"]) == ("worker", "changed")
    assert outcome["detail"].startswith("applied before this apply, at ")
    assert "desired spec changed" in outcome["detail"], outcome["detail"]
    assert "[drift: environment]" in outcome["detail"], outcome["detail"]

    again = steward_apply(server)
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines() == ["worker : ok",
                                         "RECAP: ok=1 changed=0 failed=0 skipped=0 -> ok"]
    history = server.get("/api/system/desired-state").json()["applies"]
    assert [(a["actor"], a["changed"]) for a in history[:3]] == [
        ("api", 0), ("api", 0), ("reconciler", 1)], "the history keeps what each pass did"
