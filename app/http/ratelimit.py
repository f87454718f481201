"""Refused requests, limited per client: past `STEWARD_REFUSALS_PER_MINUTE` refusals in a
minute, a client gets 429 before anything runs, until the minute is over.

Refusals are what a token guesser or a misbehaving page produce, and a refused action
writes an audit row; the limit bounds both. A refusal is a 401 or 403, or any other 4xx
to a request that changes something; a 404 for a read is not (a dashboard asking for a
removed service is no attack). Clients are told apart by address, so behind a reverse
proxy they share its address. 0 turns the limit off.
"""
from __future__ import annotations

import threading
import time
from typing import Callable

from flask import Response, current_app, request

from app.auth.csrf import SAFE_METHODS
from app.errors import error_body

WINDOW = 60.0
#: Past this many clients, those whose minute is over are forgotten.
MAX_CLIENTS = 10_000


class RefusalLimiter:
    def __init__(self, limit: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.clock = clock
        self._windows: dict[str, tuple[float, int]] = {}  # client -> (window start, count)
        self._lock = threading.Lock()

    def wait(self, client: str) -> float:
        """Seconds `client` must wait before it is answered again; 0 when it need not."""
        with self._lock:
            start, count = self._windows.get(client, (0.0, 0))
            left = start + WINDOW - self.clock()
        return left if self.limit and count >= self.limit and left > 0 else 0.0

    def note(self, client: str) -> None:
        """Count one refusal of `client`."""
        now = self.clock()
        with self._lock:
            start, count = self._windows.get(client, (now, 0))
            self._windows[client] = (start, count + 1) if now - start < WINDOW else (now, 1)
            if len(self._windows) > MAX_CLIENTS:
                self._windows = {c: w for c, w in self._windows.items()
                                 if now - w[0] < WINDOW}


def is_refusal(method: str, status: int) -> bool:
    if status in (401, 403):
        return True
    return 400 <= status < 500 and status != 429 and method not in SAFE_METHODS


def limiter() -> RefusalLimiter:
    return current_app.extensions["steward_refusals"]


def refuse_limited_client() -> tuple | None:
    """Before every request, first: a client past its refusals waits, and costs nothing."""
    wait = limiter().wait(request.remote_addr or "unknown")
    if not wait:
        return None
    return error_body(429, f"Too many refused requests from this address; try again in "
                              f"{wait:.0f} s"), 429, {"Retry-After": str(int(wait) + 1)}


def count_refusal(response: Response) -> Response:
    """After every request: count it if it was refused."""
    if is_refusal(request.method, response.status_code):
        limiter().note(request.remote_addr or "unknown")
    return response
