"""Serving the app with waitress, whose own answers look like the app's.

Waitress answers some requests itself, before the app sees them: a body over
`max_request_body_size` (413), headers too large (431), a request it cannot parse (400),
and a crash outside the app (500). Out of the box those are text/plain; here they are JSON
with `detail`, as the contract's clients read every error, with the security headers.
"""
from __future__ import annotations

import json

from flask import Flask
from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer, create_server
from waitress.task import ErrorTask

from app.errors import error_body
from app.http.headers import waitress_headers


class JsonErrorTask(ErrorTask):
    def execute(self) -> None:
        error = self.request.error
        body = json.dumps(error_body(error.code, f"{error.reason}: {error.body}")).encode()
        self.status = f"{error.code} {error.reason}"
        self.response_headers.extend([("Content-Type", "application/json"),
                                      *waitress_headers()])
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class JsonErrorChannel(HTTPChannel):
    error_task_class = JsonErrorTask


def serve(app: Flask, *, host: str, port: int, threads: int, max_body: int) -> None:
    """Serve until stopped; waitress's own error answers are JSON."""
    servers: dict = {}
    server = create_server(app, map=servers, host=host, port=port, threads=threads,
                           ident="steward", max_request_body_size=max_body)
    for dispatcher in list(servers.values()):
        if isinstance(dispatcher, BaseWSGIServer):
            dispatcher.channel_class = JsonErrorChannel
    server.run()
