"""The store on PostgreSQL (the database for real deployments), with real containers.

Debian's PostgreSQL is started by scripts/ensure-postgres.sh; each test session gets its own
database, dropped at the end.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import docker
import pytest
from alembic import command

from app import create_app
from app.steward import Steward
from app.store.db import alembic_config
from tests.conftest import ROOT
from tests.helpers import containers_of, fresh_postgres_database, sleeper, write_state
from tests.integration.conftest import wait_for


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    with fresh_postgres_database() as url:
        yield url


def make_steward(url: str, desired_dir: Path, instance: str) -> tuple[Steward, object]:
    app = create_app({"DATABASE_URL": url, "DESIRED_STATE_DIR": str(desired_dir),
                      "INSTANCE": instance})
    steward: Steward = app.extensions["steward"]
    steward.store.upgrade()
    return steward, app


def test_migrations_match_the_models_on_postgres(postgres_url: str) -> None:
    steward, _ = make_steward(postgres_url, ROOT / "desired_state", "unused")
    try:
        command.check(alembic_config(postgres_url))
    finally:
        steward.shutdown()


def test_reconcile_and_api_on_postgres(postgres_url: str, desired_dir: Path, test_image: str,
                                       docker_client: docker.DockerClient,
                                       instance: str) -> None:
    write_state(desired_dir, "services:\n" + sleeper(test_image, "worker"))
    steward, app = make_steward(postgres_url, desired_dir, instance)
    try:
        steward.reconciler.run_pass()
        containers_of(docker_client, instance)["worker"].kill()
        wait_for(lambda: containers_of(docker_client, instance)["worker"].status == "exited")
        assert steward.reconciler.run_pass().plan.render() == "start worker: exit code 137"
        client = app.test_client()
        body = client.post("/api/system/services/worker/restart").get_json()
        assert (body["service"]["failure_count"], body["service"]["restart_count"]) == (0, 2)
        steward.reconciler.run_pass()
    finally:
        steward.shutdown()

    again, app = make_steward(postgres_url, desired_dir, instance)
    try:
        service = app.test_client().get("/api/system/services/worker").get_json()
        assert (service["restart_count"], service["status"]) == (2, "running")
        assert [e["kind"] for e in service["events"][:3]] == ["restart", "restart-requested",
                                                             "start"]
    finally:
        again.shutdown()
