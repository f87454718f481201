"""Schemathesis against `/api/openapi.json` on a live server with tokens set: for generated
requests to every documented operation, no 5xx, every answer (errors included) matches its
documented status, content type and schema, and a wrong token is refused where the spec
says a token is needed. Bounded examples; traffic only to 127.0.0.1.
"""
from __future__ import annotations

import os
from typing import Iterator

import docker
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from tests.helpers import remove_instance, service
from tests.integration.conftest import LiveServer, free_port, new_instance, wait_for


@pytest.fixture(scope="module")
def live_api(tmp_path_factory: pytest.TempPathFactory, test_image: str,
             docker_client: docker.DockerClient) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("schema")
    desired = root / "desired_state"
    desired.mkdir()
    (desired / "services.yaml").write_text(
        "services:\n" + service("worker", test_image, '["sleep", "3600"]'))
    instance = new_instance()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STEWARD_")}
    env.update(STEWARD_DATABASE_URL=f"sqlite:///{root / 'live.db'}",
               STEWARD_DESIRED_STATE=str(desired), STEWARD_INSTANCE=instance,
               STEWARD_SECRET_KEY="test", STEWARD_LOG_LEVEL="WARNING",
               STEWARD_API_TOKENS=f"schema:operator:{TOKEN}",
               # hundreds of generated 404s and 400s in a minute: no 429s for those here
               # (the limit itself: tests/unit/test_retention.py)
               STEWARD_REFUSALS_PER_MINUTE="0")
    server = LiveServer(env=env, port=free_port(), log=root / "server.log")
    server.start()
    try:
        wait_for(lambda: server.get("/api/system/services/worker", headers=AUTH).json()[
            "status"] == "running", what="worker up")
        yield server
    finally:
        server.stop()
        remove_instance(docker_client, instance)


@pytest.fixture(scope="module")
def api_schema(live_api: LiveServer) -> schemathesis.BaseSchema:
    # The live stream answers for minutes by design; tests/integration/test_page_live.py and
    # test_status_page.py check it (format, bounds, heartbeats).
    return schemathesis.from_uri(f"{live_api.url}/api/openapi.json",
                                 base_url=live_api.url).exclude(path="/api/system/stream")


schema = schemathesis.from_pytest_fixture("api_schema")
TOKEN = "schemathesis-operator-token-0123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@schema.parametrize()
@settings(max_examples=25, deadline=None, database=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_every_operation_answers_as_documented(case: schemathesis.Case) -> None:
    if case.body is not None and case.path == "/api/system/apply":
        case.body = {**case.body, "timeout": min(case.body.get("timeout", 5), 5)}
    case.call_and_validate(headers=AUTH, timeout=30)

