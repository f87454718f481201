"""How the CLI finds and asks a running Steward (app/cli/remote.py), against a real HTTP
server on 127.0.0.1: the default address is used only when Steward answers there, a
refused default means "do it here", and a URL given must answer."""
from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Iterator

import click
import pytest

from app.cli.remote import ask


def server_answering(name: str) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            length = int(self.headers.get("Content-Length", 0))
            sent = json.loads(self.rfile.read(length) or b"{}")
            body = json.dumps({"path": self.path, "sent": sent,
                               "token": self.headers.get("Authorization")}).encode()
            self.send_response(200)
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
def at_default(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    servers = []

    def start(name: str) -> None:
        server = server_answering(name)
        servers.append(server)
        monkeypatch.setenv("STEWARD_HOST", "127.0.0.1")
        monkeypatch.setenv("STEWARD_PORT", str(server.server_address[1]))

    monkeypatch.delenv("STEWARD_URL", raising=False)
    monkeypatch.setenv("STEWARD_TOKEN", "t0ken")
    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_steward_at_the_default_address_gets_the_request(at_default) -> None:
    at_default("steward")
    answer = ask(None, "POST", "/api/system/apply", {"wait": False})
    assert answer is not None and answer.ok
    assert answer.body == {"path": "/api/system/apply", "sent": {"wait": False},
                           "token": "Bearer t0ken"}


def test_nothing_at_the_default_address_means_do_it_here(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STEWARD_URL", raising=False)
    monkeypatch.setenv("STEWARD_HOST", "127.0.0.1")
    monkeypatch.setenv("STEWARD_PORT", str(closed_port()))
    assert ask(None, "POST", "/api/system/apply", {}) is None


def test_something_else_at_the_default_address_is_an_error(at_default) -> None:
    at_default("nginx")
    with pytest.raises(click.ClickException, match="something other than Steward"):
        ask(None, "POST", "/api/system/apply", {})


def test_a_url_given_must_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STEWARD_URL", f"http://127.0.0.1:{closed_port()}")
    with pytest.raises(click.ClickException, match="no Steward answers at"):
        ask(None, "POST", "/api/system/apply", {})
