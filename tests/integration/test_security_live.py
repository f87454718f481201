"""Issue 11 against a live `steward serve`: DNS rebinding, headers, waitress's own errors,
forged log lines, the page and the API docs under their CSP in Chromium, start-up
failures of the database, and signed webhooks that do not follow redirects."""
from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Callable

import pytest
import requests
from playwright.sync_api import Browser

from app.notify.webhooks import SIGNATURE_HEADER, post
from app.store.db import Store
from tests.helpers import write_state
from tests.integration.conftest import LiveServer, Receiver, free_port, wait_for

SECRET = "webhook-secret-for-tests"


def one_service(directory: Path, image: str) -> None:
    write_state(directory, f"""
        services:
          web:
            category: ai
            image: {image}
            command: ["sleep", "3600"]
        """)


def raw_request(server: LiveServer, data: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes as they are (no client tidies them up); return status, headers, body.
    The answer is read while sending: waitress answers and closes before it has read an
    oversized request, and what was not read by then would be lost to the reset."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        received: list[bytes] = []

        def read() -> None:
            with contextlib.suppress(ConnectionResetError):
                while chunk := sock.recv(65536):
                    received.append(chunk)

        reader = threading.Thread(target=read)
        reader.start()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(data)
        reader.join(timeout=10)
    head, _, body = b"".join(received).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body


def test_a_rebinding_request_is_refused_and_changes_nothing(
        make_server: Callable[..., LiveServer], desired_dir: Path, test_image: str) -> None:
    one_service(desired_dir, test_image)
    server = make_server()
    wait_for(lambda: server.service("web")["status"] == "running", what="web running")
    answer = server.post("/api/system/services/web/disable", headers={
        "Host": "rebind.evil.example:8000", "Origin": "http://rebind.evil.example:8000",
        "Sec-Fetch-Site": "same-origin"})
    assert answer.status_code == 400 and "rebind.evil.example" in answer.json()["detail"]
    assert server.get("/", headers={"Host": "rebind.evil.example"}).status_code == 400
    assert server.service("web")["enabled"] is True
    page = server.get("/")
    assert page.status_code == 200
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Referrer-Policy"] == "same-origin"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]


@pytest.mark.parametrize("request_bytes, code", [
    (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 300_000 + b"\r\n\r\n", 431),
    (b"POST /api/system/apply HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json"
     b"\r\nContent-Length: 70000\r\n\r\n" + b" " * 70_000, 413),
    (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: x\r\n\r\n", 400),
], ids=["headers-too-large", "body-too-large", "malformed"])
def test_waitress_answers_its_own_errors_as_json(
        make_server: Callable[..., LiveServer], desired_dir: Path, request_bytes: bytes,
        code: int) -> None:
    write_state(desired_dir, "services: {}\n")
    server = make_server()
    status, headers, body = raw_request(server, request_bytes)
    assert status == code
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Content-Type-Options"] == "nosniff"
    answer = json.loads(body)
    assert answer["code"] == code and answer["detail"]


def test_a_name_with_a_newline_cannot_forge_a_log_line(
        make_server: Callable[..., LiveServer], desired_dir: Path) -> None:
    write_state(desired_dir, "services: {}\n")
    server = make_server()
    forged = "x%0a2026-11-30%2012:00:00,000%20INFO%20steward.events:%20disabled%20db"
    assert server.post(f"/api/system/services/{forged}/restart").status_code == 404
    server.stop()
    lines = server.log.read_text().splitlines()
    assert any("restart-refused" in line and "x\\n2026-11-30 12:00:00,000 INFO" in line
               for line in lines)
    assert not any(line.startswith("2026-11-30 12:00:00,000") for line in lines)


def test_the_page_and_the_api_docs_work_under_their_policies(
        make_server: Callable[..., LiveServer], desired_dir: Path, test_image: str,
        browser: Browser) -> None:
    one_service(desired_dir, test_image)
    server = make_server()
    wait_for(lambda: server.service("web")["status"] == "running", what="web running")
    context = browser.new_context()
    try:
        page = context.new_page()
        violations: list[str] = []
        page.on("console", lambda message: violations.append(message.text)
                if "Content Security Policy" in message.text else None)
        page.goto(f"{server.url}/")
        page.wait_for_selector("#live:not([hidden])", timeout=15_000)  # the script ran
        assert page.evaluate("getComputedStyle(document.body).fontFamily") != "", "styled"
        page.goto(f"{server.url}/api/docs")
        page.wait_for_selector(".opblock", timeout=15_000)  # Swagger UI drew the operations
        assert page.locator(".opblock").count() > 10
        assert violations == []
    finally:
        context.close()


def serve_fails(env: dict[str, str], tmp_path: Path) -> str:
    """Run `steward serve` as a user would; it must fail at once with one line."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("STEWARD_")}
    base.update(STEWARD_DESIRED_STATE=str(tmp_path), STEWARD_INSTANCE="t-startup",
                STEWARD_SECRET_KEY="k", **env)
    done = subprocess.run([sys.executable, "-m", "app", "serve", "--port", str(free_port())],
                          env=base, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, done.stderr
    return errors[0]


def test_an_unreachable_postgresql_is_one_line(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    line = serve_fails({"STEWARD_DATABASE_URL":
                        f"postgresql+psycopg://steward:hunter2@127.0.0.1:{port}/steward"},
                       tmp_path)
    assert line.startswith(f"Error: Steward cannot use its database postgresql+psycopg://"
                           f"steward:********@127.0.0.1:{port}/steward: unreachable: ")
    assert line.endswith("Fix: check that PostgreSQL runs and accepts connections there, "
                         "and the host, port, user and password in STEWARD_DATABASE_URL.")
    assert "hunter2" not in line


def test_a_read_only_sqlite_file_is_one_line(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'steward.db'}")
    store.upgrade()
    store.dispose()
    line = serve_fails({"STEWARD_DATABASE_URL":
                        f"sqlite:///file:{tmp_path / 'steward.db'}?mode=ro&uri=true"}, tmp_path)
    assert "read-only: attempt to write a readonly database. Fix: make the file and its " \
           "directory writable by the user Steward runs as." in line


def test_a_missing_psycopg_is_one_line(tmp_path: Path) -> None:
    """psycopg is installed for the tests; a package of that name that fails to import
    stands in for its absence."""
    shadow = tmp_path / "shadow" / "psycopg"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'psycopg'\", name='psycopg')\n")
    line = serve_fails({"STEWARD_DATABASE_URL": "postgresql+psycopg://s:pw@127.0.0.1:1/s",
                        "PYTHONPATH": str(shadow.parent)}, tmp_path)
    assert line == ("Error: Steward cannot use its database postgresql+psycopg://s:********@"
                    "127.0.0.1:1/s: its driver psycopg is not installed. Fix: pip install "
                    "'psycopg[binary]' (the postgres extra of Steward).")


def test_webhooks_are_signed_so_a_receiver_can_verify_them() -> None:
    hook = Receiver()
    try:
        assert post(hook.url, {"event": "unhealthy", "service": "web"}, SECRET) is None
        body, headers = hook.raw[0]
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers[SIGNATURE_HEADER], expected)
        assert headers["Content-Type"] == "application/json"
        assert post(hook.url, {"event": "x"}) is None
        assert SIGNATURE_HEADER not in hook.raw[1][1], "no secret, no signature"
    finally:
        hook.close()


def test_a_webhook_redirect_is_not_followed() -> None:
    elsewhere = Receiver()
    redirecting = Receiver(status=307, location=elsewhere.url)
    try:
        error = post(redirecting.url, {"event": "disabled"}, SECRET)
        assert error == "HTTP 307: a redirect, not followed"
        assert len(redirecting.received) == 1 and elsewhere.received == []
    finally:
        redirecting.close()
        elsewhere.close()


def test_requests_would_follow_it_without_the_setting() -> None:
    """The reproduction: the client's default is to follow, which the post turns off."""
    elsewhere = Receiver()
    redirecting = Receiver(status=307, location=elsewhere.url)
    try:
        requests.post(redirecting.url, json={"event": "x"}, timeout=5)
        assert len(elsewhere.received) == 1
    finally:
        redirecting.close()
        elsewhere.close()
