"""Health probes Steward runs from outside a container: an HTTP GET or a TCP connect on
127.0.0.1 and the service's published port. Command checks are Docker's own HEALTHCHECK.
"""
from __future__ import annotations

import http.client
import socket
from dataclasses import dataclass

from app.desired_state.spec import HealthCheck


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
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("GET", path, headers={"User-Agent": "steward-health"})
        status = connection.getresponse().status
    except (OSError, http.client.HTTPException) as err:
        reason = str(err) or type(err).__name__
        return ProbeResult(False, f"GET http://{host}:{port}{path} failed: {reason}")
    finally:
        connection.close()
    if 200 <= status < 400:
        return ProbeResult(True, f"GET {path} -> {status}")
    return ProbeResult(False, f"GET http://{host}:{port}{path} -> HTTP {status}")


def _tcp(host: str, port: int, timeout: float) -> ProbeResult:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return ProbeResult(True, f"tcp {port} open")
    except OSError as err:
        return ProbeResult(False, f"tcp connect to {host}:{port} failed: {err}")
