"""Page sessions (issue 11, finding 6): logout revokes server-side, the lifetime is 8 hours
from sign-in whatever happens in between, and the API takes a cookie for a state change
only with the CSRF token."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import pytest
from flask import Flask

from app.auth.access import CSRF_HEADER, SESSION_KEY
from tests.helpers import sign_in, write_state

OPERATOR = "o" * 8 + "-operator-token-01"
VIEWER = "v" * 8 + "-viewer-token-0001"


@pytest.fixture
def secured(make_app: Callable[..., Flask], desired_dir: Path) -> Flask:
    write_state(desired_dir, "services:\n  web: {category: ai, image: x}\n")
    return make_app(API_TOKENS=f"bob:operator:{OPERATOR},alice:viewer:{VIEWER}")


def test_logout_then_the_old_cookie_gets_401(secured: Flask) -> None:
    client = secured.test_client()
    csrf = sign_in(client, OPERATOR)
    kept = client.get_cookie("session").value
    assert client.get("/api/system/services").status_code == 200
    assert client.post("/logout", data={"csrf_token": csrf}).status_code == 303
    replay = secured.test_client()
    replay.set_cookie("session", kept)
    assert replay.get("/api/system/services").status_code == 401
    assert replay.post("/api/system/services/web/disable",
                       headers={CSRF_HEADER: csrf}).status_code == 401
    assert replay.get("/").status_code == 303, "the page sends it to sign in again"


def test_logout_ends_every_session_of_that_token_and_is_audited(secured: Flask) -> None:
    first, second, other = (secured.test_client() for _ in range(3))
    csrf = sign_in(first, OPERATOR)
    sign_in(second, OPERATOR)
    sign_in(other, VIEWER)
    first.post("/logout", data={"csrf_token": csrf})
    assert second.get("/api/system/services").status_code == 401
    assert other.get("/api/system/services").status_code == 200, "another token's session"
    again = secured.test_client()
    sign_in(again, OPERATOR)
    assert again.get("/api/system/services").status_code == 200, "signing in again works"
    events = again.get("/api/system/events?actor=bob").get_json()["events"]
    assert [(e["kind"], e["origin"]) for e in events] == [("signed-out", "127.0.0.1")]


def test_the_session_ends_8_hours_after_sign_in_however_busy(secured: Flask) -> None:
    client = secured.test_client()
    sign_in(client, OPERATOR)
    with client.session_transaction() as session:
        session[SESSION_KEY] = {**session[SESSION_KEY],
                                "signed_in": int(time.time()) - 8 * 3600 + 60}
    assert client.get("/api/system/services").status_code == 200, "a minute left"
    with client.session_transaction() as session:
        session[SESSION_KEY] = {**session[SESSION_KEY],
                                "signed_in": int(time.time()) - 8 * 3600 - 1}
    assert client.get("/api/system/services").status_code == 401


def test_the_cookie_is_not_issued_again_on_every_response(secured: Flask) -> None:
    client = secured.test_client()
    sign_in(client, OPERATOR)
    for path in ("/", "/api/system/services", "/services/web"):
        assert "Set-Cookie" not in client.get(path).headers, path


def test_a_session_without_its_sign_in_time_is_refused(secured: Flask) -> None:
    """A cookie signed before this change (no time, no generation) no longer signs in."""
    client = secured.test_client()
    sign_in(client, OPERATOR)
    with client.session_transaction() as session:
        session[SESSION_KEY] = {k: v for k, v in session[SESSION_KEY].items()
                                if k != "signed_in"}
    assert client.get("/api/system/services").status_code == 401


@pytest.mark.parametrize("send, code", [(None, 403), ("wrong", 403), ("right", 200)])
def test_a_cookie_acts_through_the_api_only_with_the_csrf_token(
        secured: Flask, send: str | None, code: int) -> None:
    client = secured.test_client()
    csrf = sign_in(client, OPERATOR)
    headers = {} if send is None else {CSRF_HEADER: csrf if send == "right" else "x" * 43}
    answer = client.post("/api/system/services/web/disable", headers=headers)
    assert answer.status_code == code
    if code == 403:
        assert CSRF_HEADER in answer.get_json()["detail"]
        assert client.get("/api/system/services/web").get_json()["enabled"] is True


def test_a_bearer_token_needs_no_csrf_token(secured: Flask) -> None:
    answer = secured.test_client().post("/api/system/services/web/disable",
                                        headers={"Authorization": f"Bearer {OPERATOR}"})
    assert answer.status_code == 200


def test_the_page_forms_keep_working_with_their_form_token(secured: Flask) -> None:
    client = secured.test_client()
    csrf = sign_in(client, OPERATOR)
    answer = client.post("/services/web/disable", data={"csrf_token": csrf, "confirm": "yes"},
                         headers={"Accept": "application/json"})
    assert (answer.status_code, answer.get_json()["ok"]) == (200, True)
