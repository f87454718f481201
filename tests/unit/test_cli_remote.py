"""How the CLI finds and asks a running Steward (app/cli/remote.py), against a real HTTP
server on 127.0.0.1: the default address is used only when Steward answers there, a
refused default means "do it here", and a URL given must answer."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Iterator

import click
import pytest

from app.cli.remote import ask
from tests.helpers import free_port


def server_answering(name: str, seen: list | None = None,
                     token_required: bool = False) -> ThreadingHTTPServer:
    """A server that calls itself `name`, answers what it was sent, and notes each
    request's Authorization header in `seen`."""
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            length = int(self.headers.get("Content-Length", 0))
            sent = json.loads(self.rfile.read(length) or b"{}")
            token = self.headers.get("Authorization")
            (seen if seen is not None else []).append(token)
            body = json.dumps({"path": self.path, "sent": sent, "token": token}).encode()
            self.send_response(401 if token_required and not token else 200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def version_string(self) -> str:
            return name

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def at_default(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    servers = []

    def start(name: str, **options: object) -> None:
        server = server_answering(name, **options)
        servers.append(server)
        monkeypatch.setenv("STEWARD_HOST", "127.0.0.1")
        monkeypatch.setenv("STEWARD_PORT", str(server.server_address[1]))

    monkeypatch.delenv("STEWARD_URL", raising=False)
    monkeypatch.setenv("STEWARD_TOKEN", "t0ken")
    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_steward_at_the_default_address_gets_the_request(at_default) -> None:
    seen: list = []
    at_default("steward", seen=seen)
    answer = ask(None, "POST", "/api/system/apply", {"wait": False})
    assert answer is not None and answer.ok
    assert answer.body == {"path": "/api/system/apply", "sent": {"wait": False},
                           "token": None}
    assert seen == [None]  # no token needed, none sent


def test_the_token_goes_to_the_default_address_only_once_steward_asks(at_default) -> None:
    seen: list = []
    at_default("steward", seen=seen, token_required=True)
    answer = ask(None, "POST", "/api/system/apply", {"wait": False})
    assert answer is not None and answer.ok and answer.body["token"] == "Bearer t0ken"
    assert seen == [None, "Bearer t0ken"]


def test_nothing_at_the_default_address_means_do_it_here(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STEWARD_URL", raising=False)
    monkeypatch.setenv("STEWARD_HOST", "127.0.0.1")
    monkeypatch.setenv("STEWARD_PORT", str(free_port()))
    assert ask(None, "POST", "/api/system/apply", {}) is None


def test_something_else_at_the_default_address_is_an_error_and_gets_no_token(
        at_default) -> None:
    seen: list = []
    at_default("nginx", seen=seen, token_required=True)
    with pytest.raises(click.ClickException, match="something other than Steward"):
        ask(None, "POST", "/api/system/apply", {})
    assert seen == [None]


def test_a_url_without_a_scheme_is_http(monkeypatch: pytest.MonkeyPatch) -> None:
    server = server_answering("steward")
    try:
        monkeypatch.setenv("STEWARD_URL", f"127.0.0.1:{server.server_address[1]}")
        answer = ask(None, "POST", "/api/system/apply", {})
        assert answer is not None and answer.body["path"] == "/api/system/apply"
    finally:
        server.shutdown()
        server.server_close()


def test_a_url_given_must_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STEWARD_URL", f"http://127.0.0.1:{free_port()}")
    with pytest.raises(click.ClickException, match="no Steward answers at"):
        ask(None, "POST", "/api/system/apply", {})
