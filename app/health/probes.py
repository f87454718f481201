"""Health probes Steward runs from outside a container: an HTTP GET or a TCP connect on
127.0.0.1 and the service's published port. Command checks are Docker's own HEALTHCHECK.
"""
from __future__ import annotations

import re
import socket
import time
from dataclasses import dataclass

from app.desired_state.spec import HealthCheck


_STATUS = re.compile(rb"^HTTP/\d(?:\.\d)? (\d{3})")


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    detail: str


def probe(check: HealthCheck, host: str = "127.0.0.1") -> ProbeResult:
    """Probe once, within the check's timeout; never raises."""
    if check.port is None:
        return ProbeResult(False, f"{check.kind} check has no port; set healthcheck port or port")
    if check.kind == "http":
        return _http(host, check.port, check.path or "/", check.timeout)
    return _tcp(host, check.port, check.timeout)


def _http(host: str, port: int, path: str, timeout: float) -> ProbeResult:
    """GET and read just the status line, all within `timeout` in total: a server that
    trickles its answer byte by byte cannot hold a probe worker for longer."""
    deadline = time.monotonic() + timeout
    request = (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: steward-health"
               "\r\nConnection: close\r\n\r\n").encode()
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(request)
            line = _status_line(sock, deadline)
    except OSError as err:
        reason = "timed out" if isinstance(err, TimeoutError) else str(err) or type(err).__name__
        return ProbeResult(False, f"GET http://{host}:{port}{path} failed: {reason}")
    match = _STATUS.match(line)
    if not match:
        return ProbeResult(False, f"GET http://{host}:{port}{path} failed: not an HTTP answer")
    status = int(match.group(1))
    if 200 <= status < 400:
        return ProbeResult(True, f"GET {path} -> {status}")
    return ProbeResult(False, f"GET http://{host}:{port}{path} -> HTTP {status}")


def _status_line(sock: socket.socket, deadline: float) -> bytes:
    received = b""
    while b"\r\n" not in received and len(received) < 1024:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("timed out")
        sock.settimeout(remaining)
        chunk = sock.recv(1024)
        if not chunk:
            break
        received += chunk
    return received.split(b"\r\n", 1)[0]


def _tcp(host: str, port: int, timeout: float) -> ProbeResult:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return ProbeResult(True, f"tcp {port} open")
    except OSError as err:
        return ProbeResult(False, f"tcp connect to {host}:{port} failed: {err}")
