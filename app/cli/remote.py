"""The CLI's way to a running Steward: one HTTP request with the standard library's
`http.client` (a quarter of `requests`' import time, which a no-change `steward apply` in a
git hook or CI loop pays on every run).

`ask` finds the server as `apply` documents: a URL given (--url, STEWARD_URL) is used or the
command fails; at the default address (STEWARD_HOST:STEWARD_PORT) only an unreachable
server means "no server: do it here", and an answer from something other than Steward is
an error. The token (STEWARD_TOKEN) goes only to a URL given or to a server that said it
is Steward. No proxy and no redirects: Steward is reached directly.
"""
from __future__ import annotations

import http.client
import json
import os
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import click

from app.config import load_config


@dataclass(frozen=True)
class Answer:
    target: str
    status: int
    body: dict
    text: str

    @property
    def ok(self) -> bool:
        return self.status < 400

    def detail(self) -> str:
        return f"Steward at {self.target}: {self.body.get('detail', self.text)}"


class _Unreachable(Exception):
    pass


def ask(url: str | None, method: str, path: str, body: dict | None = None, *,
        timeout: float = 30) -> Answer | None:
    """The server's answer to one request; None when no server runs at the default address."""
    given = url or os.environ.get("STEWARD_URL")
    config = load_config()
    target = _with_scheme(given or f"{config['HOST']}:{config['PORT']}")
    token = os.environ.get("STEWARD_TOKEN")
    try:
        status, server, text = _send(target, method, path, body, timeout,
                                     token if given else None)
        if not given and server == "steward" and status == 401 and token:
            status, server, text = _send(target, method, path, body, timeout, token)
    except _Unreachable as err:
        if given:
            raise click.ClickException(f"no Steward answers at {target}: {err}") from None
        return None
    except (OSError, ValueError, http.client.HTTPException) as err:
        raise click.ClickException(f"Steward at {target} did not answer: {err}") from None
    if not given and server != "steward":
        raise click.ClickException(f"something other than Steward answers at {target}; pass "
                                   "--url, or set STEWARD_PORT to where Steward listens")
    try:
        parsed = json.loads(text)
    except ValueError:
        raise click.ClickException(f"Steward at {target} answered {status} without JSON; is "
                                   "the URL right?") from None
    return Answer(target, status, parsed if isinstance(parsed, dict) else {}, text)


def _with_scheme(address: str) -> str:
    address = address.rstrip("/")
    return address if "://" in address else f"http://{address}"


def _send(target: str, method: str, path: str, body: dict | None, timeout: float,
          token: str | None) -> tuple[int, str, str]:
    """(status, Server header, body text); _Unreachable when no connection could be made."""
    parts = urlsplit(target)
    kind = http.client.HTTPSConnection if parts.scheme == "https" else \
        http.client.HTTPConnection
    connection = kind(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)
    headers = {"Content-Type": "application/json", "Accept": "application/json",
               **({"Authorization": f"Bearer {token}"} if token else {})}
    try:
        try:
            connection.connect()
        except (ConnectionRefusedError, TimeoutError, socket.gaierror) as err:
            raise _Unreachable(str(err) or type(err).__name__) from None
        connection.request(method, parts.path + path,
                           body=None if body is None else json.dumps(body), headers=headers)
        response = connection.getresponse()
        return response.status, response.getheader("Server", ""), \
            response.read().decode("utf-8", "replace")
    finally:
        connection.close()
