"""One map from Steward's errors to HTTP (app/errors.py): each error's code, its class
honestly transient or permanent, and the same body from the API and the page."""
from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient

from app.desired_state.loader import DesiredStateError
from app.errors import (
    ActionFailed,
    ActionInProgress,
    ActionRejected,
    AppError,
    Busy,
    ConfigurationError,
    EngineUnavailable,
    NotLeader,
    NotObserved,
    PermanentError,
    ServiceNotFound,
    TransientError,
    detail_for,
    error_body,
    status_for,
)
from app.store.db import StoreUnavailable


@pytest.mark.parametrize("error, code, transient", [
    (ServiceNotFound("web"), 404, False),
    (ActionRejected("web is disabled"), 400, False),
    (ActionInProgress("a restart is already in progress"), 409, True),
    (NotLeader("this replica is a follower"), 409, True),
    (Busy("a pass is still running"), 503, True),
    (NotObserved("not yet"), 503, True),
    (EngineUnavailable("Docker engine unreachable"), 503, True),
    (StoreUnavailable("the database is gone"), 500, True),
    (ConfigurationError("no GPU runtime"), 500, True),
    (ActionFailed("pull failed"), 500, True),
    (DesiredStateError([]), 500, False),
])
def test_each_error_has_one_code_and_an_honest_kind(error: AppError, code: int,
                                                    transient: bool) -> None:
    assert status_for(error) == code
    assert isinstance(error, TransientError if transient else PermanentError)


def test_docker_away_reads_as_the_contract_says() -> None:
    assert detail_for(EngineUnavailable("Docker engine unreachable")) == \
        "Container orchestrator not available: Docker engine unreachable"
    assert error_body(409, "x") == {"code": 409, "status": "Conflict", "message": "x",
                                    "detail": "x"}


def test_the_api_and_the_page_answer_an_unknown_service_alike(client: FlaskClient) -> None:
    api = client.post("/api/system/services/nope/start")
    form = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    page = client.post("/services/nope/start", headers={"Accept": "application/json"},
                       data={"csrf_token": token})
    assert (api.status_code, api.json) == (404, error_body(404, "Service 'nope' not found"))
    assert (page.status_code, page.json) == (404, {"ok": False,
                                                    "message": "Service 'nope' not found"})
