"""Tokens and roles on a real database without Docker: 401, 403, 200, the page's login."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

import pytest
from flask import Flask

from app import create_app
from app.auth.tokens import TokenConfigError, load_tokens
from app.steward import Steward
from tests.helpers import write_state

VIEWER = "v" * 8 + "-viewer-token-0001"
OPERATOR = "o" * 8 + "-operator-token-01"


@pytest.fixture
def secured(tmp_path: Path, desired_dir: Path, instance: str) -> Iterator[Flask]:
    write_state(desired_dir, "services:\n  web: {category: ai, image: x}\n")
    app = create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path / 'a.db'}",
                      "DESIRED_STATE_DIR": str(desired_dir), "INSTANCE": instance,
                      "SECRET_KEY": "k", "API_TOKENS": f"alice:viewer:{VIEWER},"
                                                      f"bob:operator:{OPERATOR}"})
    steward: Steward = app.extensions["steward"]
    steward.store.upgrade()
    steward.reconciler.load_desired()
    yield app
    steward.shutdown()


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("method, path, token, code", [
    ("get", "/api/system/services", None, 401),
    ("get", "/api/system/services", "wrong-token-wrong-token", 401),
    ("get", "/api/system/services", VIEWER, 200),
    ("get", "/metrics", None, 401),
    ("get", "/metrics", VIEWER, 200),
    ("post", "/api/system/services/web/disable", None, 401),
    ("post", "/api/system/services/web/disable", VIEWER, 403),
    ("post", "/api/system/services/web/disable", OPERATOR, 200),
    ("get", "/healthz", None, 200),
    ("get", "/api/openapi.json", None, 200),
])
def test_each_rule(secured: Flask, method: str, path: str, token: str | None,
                   code: int) -> None:
    answer = getattr(secured.test_client(), method)(path, headers=bearer(token) if token
                                                    else {})
    assert answer.status_code == code
    if code in (401, 403):
        assert answer.get_json()["detail"]


def test_the_refusals_say_what_is_needed(secured: Flask) -> None:
    client = secured.test_client()
    missing = client.get("/api/system/services")
    assert missing.get_json()["detail"] == \
        "A token is needed: send Authorization: Bearer <token>"
    assert missing.headers["WWW-Authenticate"] == 'Bearer realm="steward"'
    wrong_role = client.post("/api/system/services/web/restart", headers=bearer(VIEWER))
    assert wrong_role.get_json()["detail"] == \
        "Token 'alice' has the role viewer; this needs operator"


def test_actions_are_audited_with_the_token_name_and_address(secured: Flask) -> None:
    client = secured.test_client()
    client.post("/api/system/services/web/disable", headers=bearer(OPERATOR))
    client.post("/api/system/services/web/restart", headers=bearer(OPERATOR))
    events = client.get("/api/system/events?actor=bob", headers=bearer(VIEWER)).get_json()
    assert [(e["kind"], e["actor"], e["origin"]) for e in events["events"]] == [
        ("restart-refused", "bob", "127.0.0.1"), ("disabled", "bob", "127.0.0.1")]
    assert events["events"][0]["message"] == \
        "Service 'web' is disabled; enable it before restarting"


def test_the_page_signs_in_with_a_token_and_then_acts(secured: Flask) -> None:
    client = secured.test_client()
    first = client.get("/")
    assert (first.status_code, first.headers["Location"]) == (303, "/login?next=/")
    form = client.get("/login?next=/").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    bad = client.post("/login", data={"csrf_token": csrf, "token": "nope", "next": "/"})
    assert bad.status_code == 401 and "That token is not valid." in bad.get_data(as_text=True)
    good = client.post("/login", data={"csrf_token": csrf, "token": OPERATOR,
                                       "next": "//evil.example/"})
    assert (good.status_code, good.headers["Location"]) == (303, "/")
    cookie = good.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and OPERATOR not in cookie
    page = client.get("/").get_data(as_text=True)
    assert "bob (operator)" in page
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    assert token != csrf, "a new CSRF token after signing in"
    acted = client.post("/services/web/disable", data={"csrf_token": token, "confirm": "yes"})
    assert acted.status_code == 303


@pytest.mark.parametrize("setting, message", [
    ("alice:" + "S3cretToken" * 2 + ":viewer", "STEWARD_API_TOKENS entry 1: the second "
                                                "field must be one of viewer, operator "
                                                "(name:role:token)"),
    ("alice:viewer:short", "STEWARD_API_TOKENS entry 1 (alice): the token is too short; use "
                           "at least 16 random characters"),
    ("alice:viewer", "STEWARD_API_TOKENS entry 1: expected name, role and token"),
    (f"a:viewer:{VIEWER},a:operator:{OPERATOR}",
     "STEWARD_API_TOKENS entry 2: the name 'a' is used twice"),
])
def test_bad_token_settings_are_refused_clearly(setting: str, message: str) -> None:
    with pytest.raises(TokenConfigError, match=re.escape(message)):
        load_tokens({"API_TOKENS": setting, "TOKENS_FILE": "", "OPEN_READS": False})


def test_reads_can_be_left_open(tmp_path: Path) -> None:
    tokens = load_tokens({"API_TOKENS": f"bob:operator:{OPERATOR}", "TOKENS_FILE": "",
                          "OPEN_READS": True})
    from app.auth.tokens import required_role
    assert required_role("GET", "/api/system/services", tokens) is None
    assert required_role("POST", "/api/system/apply", tokens) == "operator"


def test_a_session_ends_when_its_token_is_replaced(tmp_path: Path, secured: Flask) -> None:
    client = secured.test_client()
    form = client.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    client.post("/login", data={"csrf_token": csrf, "token": OPERATOR, "next": "/"})
    assert client.get("/").status_code == 200
    rotated = "r" * 20
    secured.extensions["steward_tokens"] = load_tokens(
        {"API_TOKENS": f"bob:operator:{rotated}", "TOKENS_FILE": "", "OPEN_READS": False})
    assert client.get("/").status_code == 303, "the old cookie no longer signs bob in"


@pytest.mark.parametrize("target", ["//evil.example/", "/\t/evil.example", "/\\evil.example",
                                    "https://evil.example/", "javascript:alert(1)"])
def test_signing_in_never_sends_you_to_another_site(secured: Flask, target: str) -> None:
    client = secured.test_client()
    form = client.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    answer = client.post("/login", data={"csrf_token": csrf, "token": VIEWER, "next": target})
    assert answer.headers["Location"] == "/"


def test_large_bodies_are_refused_before_they_are_read(secured: Flask) -> None:
    answer = secured.test_client().post("/api/system/services/web/restart",
                                        data=b"x" * 70_000, headers=bearer(OPERATOR))
    assert (answer.status_code, answer.get_json()["detail"]) == \
        (413, "Request body too large: at most 65536 bytes")
