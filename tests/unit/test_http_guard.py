"""Checks before any route (issue 11, findings 1, 8 and 9): the Host check against DNS
rebinding, the security headers, and bodies that must never reach a route."""
from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path
from typing import Callable

import pytest
from flask import Flask

from app.http.guard import allowed_hosts, host_name
from app.http.headers import PAGE_POLICY
from tests.helpers import page_csrf, write_state

OPERATOR = "o" * 8 + "-operator-token-01"
SERVICES = "services:\n  web: {category: ai, image: x}\n"


@pytest.fixture
def open_app(make_app: Callable[..., Flask], desired_dir: Path) -> Flask:
    write_state(desired_dir, SERVICES)
    return make_app()


def test_a_rebinding_request_is_refused_before_it_acts(open_app: Flask) -> None:
    """The issue's reproduction: Origin and Host agree, both the attacker's."""
    client = open_app.test_client()
    answer = client.post("/api/system/services/web/disable", headers={
        "Host": "rebind.evil.example:8000", "Origin": "http://rebind.evil.example:8000",
        "Sec-Fetch-Site": "same-origin"})
    assert answer.status_code == 400
    assert answer.get_json()["detail"].startswith(
        "Host 'rebind.evil.example:8000' is not one Steward answers to")
    assert client.get("/api/system/services/web").get_json()["enabled"] is True


@pytest.mark.parametrize("path", ["/", "/services/web", "/api/system/services", "/api/docs",
                                  "/healthz", "/no-such-page"])
def test_the_page_and_every_route_refuse_a_foreign_host(open_app: Flask, path: str) -> None:
    answer = open_app.test_client().get(path, headers={"Host": "evil.example"})
    assert answer.status_code == 400 and answer.is_json and answer.get_json()["detail"]


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.1:8000", "localhost", "LOCALHOST:80",
                                  "[::1]", "[::1]:8000"])
def test_loopback_names_are_answered_with_or_without_a_port(open_app: Flask, host: str) -> None:
    assert open_app.test_client().get("/healthz", headers={"Host": host}).status_code == 200


@pytest.mark.parametrize("host, code", [
    ("steward.example.org:8443", 401), ("10.1.2.3:8000", 401), ("localhost", 401),
    ("evil.example", 400), ("10.1.2.4", 400)])
def test_with_tokens_the_bind_address_and_allowed_hosts_are_answered(
        make_app: Callable[..., Flask], host: str, code: int) -> None:
    app = make_app(API_TOKENS=f"ops:operator:{OPERATOR}", HOST="10.1.2.3",
                   ALLOWED_HOSTS="steward.example.org, other.example")
    assert app.test_client().get("/api/system/services",
                                 headers={"Host": host}).status_code == code


def test_without_tokens_allowed_hosts_cannot_widen_the_loopback_names() -> None:
    config = {"HOST": "0.0.0.0", "ALLOWED_HOSTS": "evil.example"}
    assert allowed_hosts(config, tokens_enabled=False) == {"127.0.0.1", "localhost", "[::1]"}
    assert "[fd00::1]" in allowed_hosts({"HOST": "fd00::1", "ALLOWED_HOSTS": ""}, True)
    assert host_name("[::1]:8000") == "[::1]" and host_name("Example.ORG:1") == "example.org"


@pytest.mark.parametrize("path", ["/", "/services/web", "/api/system/services", "/healthz",
                                  "/no-such-page", "/static/steward.js"])
def test_every_response_carries_the_security_headers(open_app: Flask, path: str) -> None:
    with open_app.test_client().get(path) as answer:
        headers = answer.headers
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["Content-Security-Policy"] == PAGE_POLICY
    assert "frame-ancestors 'none'" in PAGE_POLICY and "script-src 'self';" in PAGE_POLICY


def test_the_page_needs_nothing_its_policy_forbids(open_app: Flask) -> None:
    """No inline script, style or event handler: 'self' is enough for the page."""
    html = open_app.test_client().get("/").get_data(as_text=True)
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)
    assert not re.search(r"<style|\sstyle=|\son[a-z]+=", html)


def test_the_api_docs_allow_their_own_inline_script_by_hash(open_app: Flask) -> None:
    answer = open_app.test_client().get("/api/docs")
    inline = re.search(rb"<script>(.*?)</script>", answer.get_data(), re.DOTALL).group(1)
    digest = base64.b64encode(hashlib.sha256(inline).digest()).decode()
    policy = answer.headers["Content-Security-Policy"]
    assert f"script-src 'self' 'sha256-{digest}'" in policy
    assert "frame-ancestors 'none'" in policy and "unsafe-eval" not in policy


def test_a_body_that_is_not_json_gets_415_and_runs_nothing(open_app: Flask) -> None:
    client = open_app.test_client()
    answer = client.post("/api/system/apply", data="service=web", content_type="text/plain")
    assert (answer.status_code, answer.get_json()["detail"]) == \
        (415, "Send the body as application/json, not text/plain")
    assert client.get("/api/system/desired-state").get_json()["applies"] == []


@pytest.mark.parametrize("body, detail", [
    ('{"timeout": ' + "9" * 4301 + "}", "Invalid JSON body: Exceeds the limit (4300 digits)"),
    ("[" * 30_000, "Invalid JSON body: nested too deeply"),
    ('{"timeout": ', "Invalid JSON body: Expecting value"),
    (b"\xff\xfe", "Invalid JSON body: "),
])
def test_json_python_cannot_hold_is_400_not_500(open_app: Flask, body: str | bytes,
                                                detail: str) -> None:
    open_app.config["PROPAGATE_EXCEPTIONS"] = False  # a 500 would show as one, not raise
    answer = open_app.test_client().post("/api/system/apply", data=body,
                                         content_type="application/json")
    assert answer.status_code == 400
    assert answer.get_json()["detail"].startswith(detail)


def test_an_empty_post_still_means_the_defaults(open_app: Flask) -> None:
    """The contract's clients post actions without a body, or with curl's empty form."""
    client = open_app.test_client()
    assert client.post("/api/system/services/web/disable").status_code == 200
    assert client.post("/api/system/services/web/enable", data=b"",
                       content_type="application/x-www-form-urlencoded").status_code == 200


@pytest.mark.parametrize("accept, code", [("application/json", 404), ("text/html", 303)])
def test_a_page_action_with_cr_lf_in_the_name_is_not_found(open_app: Flask, accept: str,
                                                           code: int) -> None:
    open_app.config["PROPAGATE_EXCEPTIONS"] = False
    client = open_app.test_client()
    answer = client.post("/services/web%0d%0aSet-Cookie:%20x=1/restart", headers={
        "Accept": accept}, data={"csrf_token": page_csrf(client, "/"), "confirm": "yes",
                                 "next": "service"})
    assert answer.status_code == code
    if code == 303:
        assert answer.headers["Location"] == "/" and "x=1" not in answer.headers.get(
            "Set-Cookie", "")
    else:
        assert answer.get_json()["ok"] is False
