"""The store on PostgreSQL (the database for real deployments), with real containers.

Debian's PostgreSQL is started by scripts/ensure-postgres.sh; each test session gets its own
database, dropped at the end.
"""
from __future__ import annotations

import subprocess
import uuid
from pathlib import Path
from typing import Iterator

import docker
import psycopg
import pytest
from alembic import command
from sqlalchemy.engine import make_url

from app import create_app
from app.steward import Steward
from app.store.db import alembic_config
from tests.conftest import ROOT
from tests.helpers import write_state
from tests.integration.conftest import wait_for
from tests.helpers import containers_of, sleeper


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    script = subprocess.run([str(ROOT / "scripts" / "ensure-postgres.sh")], capture_output=True,
                            text=True)
    if script.returncode != 0:
        pytest.fail(f"PostgreSQL is not available: {script.stderr.strip()}", pytrace=False)
    admin = make_url(script.stdout.strip())
    name = f"steward_test_{uuid.uuid4().hex[:8]}"
    dsn = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    yield admin.set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


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
