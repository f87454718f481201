"""The CLI's way to a running Steward: one HTTP request with the standard library's
`http.client` (a quarter of `requests`' import time, which a no-change `steward apply` in a
git hook or CI loop pays on every run).

`ask` finds the server as `apply` documents: a URL given (--url, STEWARD_URL) is used or the
command fails; at the default address (STEWARD_HOST:STEWARD_PORT) only a refused connection
means "no server: do it here", and an answer from something other than Steward is an error.
"""
from __future__ import annotations

import http.client
import json
import os
from dataclasses import dataclass
from urllib.parse import urlsplit

import click

from app.config import load_config


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict
    text: str

    @property
    def ok(self) -> bool:
        return self.status < 400


def ask(url: str | None, method: str, path: str, body: dict | None = None, *,
        timeout: float = 30) -> Answer | None:
    """The server's answer to one request; None when no server runs at the default address."""
    given = url or os.environ.get("STEWARD_URL")
    config = load_config()
    target = (given or f"http://{config['HOST']}:{config['PORT']}").rstrip("/")
    try:
        status, server, text = _send(target, method, path, body, timeout)
    except ConnectionRefusedError as err:
        if given:
            raise click.ClickException(f"no Steward answers at {target}: {err}") from None
        return None
    except (OSError, http.client.HTTPException) as err:
        raise click.ClickException(f"Steward at {target} did not answer: {err}") from None
    if not given and server != "steward":
        raise click.ClickException(f"something other than Steward answers at {target}; pass "
                                   "--url, or set STEWARD_PORT to where Steward listens")
    try:
        parsed = json.loads(text)
    except ValueError:
        raise click.ClickException(f"Steward at {target} answered {status} without JSON; is "
                                   "the URL right?") from None
    return Answer(status, parsed if isinstance(parsed, dict) else {}, text)


def _send(target: str, method: str, path: str, body: dict | None, timeout: float
          ) -> tuple[int, str, str]:
    parts = urlsplit(target)
    kind = http.client.HTTPSConnection if parts.scheme == "https" else \
        http.client.HTTPConnection
    connection = kind(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)
    token = os.environ.get("STEWARD_TOKEN")
    headers = {"Content-Type": "application/json", "Accept": "application/json",
               **({"Authorization": f"Bearer {token}"} if token else {})}
    try:
        connection.request(method, parts.path.rstrip("/") + path,
                           body=None if body is None else json.dumps(body), headers=headers)
        response = connection.getresponse()
        return response.status, response.getheader("Server", ""), \
            response.read().decode("utf-8", "replace")
    finally:
        connection.close()
