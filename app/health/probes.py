"""Health probes Steward runs itself: an HTTP GET or a TCP connect to the container.

The probe goes to the container's own address on Steward's network, never through the
host-side docker-proxy of a published port: docker-proxy accepts a connection even when
the container behind it is gone, so a check through it can pass for a dead service.
Containers on the host's network (`network_mode: host`) are probed on 127.0.0.1.
Command checks are Docker's own HEALTHCHECK.

Requests are built by `http.client`, which refuses control characters in the path; the
whole probe, from connect to status line, has one deadline, so a server that trickles its
answer cannot hold a worker longer than the check's timeout.
"""
from __future__ import annotations

import http.client
import socket
import threading
from dataclasses import dataclass

from app.desired_state.spec import HealthCheck


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    detail: str


@dataclass(frozen=True)
class Address:
    """Where a check reaches the container: its address and the port inside it."""

    host: str
    port: int


def probe(check: HealthCheck, address: Address | None) -> ProbeResult:
    """Probe once, within the check's timeout; never raises."""
    if check.port is None:
        return ProbeResult(False, f"{check.kind} check has no port; set healthcheck port or port")
    if address is None:
        return ProbeResult(False, "the container has no address on Steward's network")
    if check.kind == "http":
        return _http(address, check.path or "/", check.timeout)
    return _tcp(address, check.timeout)


def _http(address: Address, path: str, timeout: float) -> ProbeResult:
    where = f"http://{address.host}:{address.port}{path}"
    connection = http.client.HTTPConnection(address.host, address.port, timeout=timeout)
    deadline = threading.Timer(timeout, _close, (connection,))
    deadline.start()
    try:
        connection.request("GET", path, headers={"User-Agent": "steward-health"})
        status = connection.getresponse().status
    except (OSError, http.client.HTTPException, ValueError) as err:
        expired = not deadline.is_alive()
        reason = "timed out" if expired or isinstance(err, TimeoutError) else \
            str(err) or type(err).__name__
        return ProbeResult(False, f"GET {where} failed: {reason}")
    finally:
        deadline.cancel()
        connection.close()
    if 200 <= status < 400:
        return ProbeResult(True, f"GET {path} -> {status}")
    return ProbeResult(False, f"GET {where} -> HTTP {status}")


def _close(connection: http.client.HTTPConnection) -> None:
    """End a probe at its deadline: closing the socket wakes the blocked read."""
    if connection.sock is not None:
        try:
            connection.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _tcp(address: Address, timeout: float) -> ProbeResult:
    try:
        with socket.create_connection((address.host, address.port), timeout=timeout):
            return ProbeResult(True, f"tcp {address.port} open")
    except OSError as err:
        return ProbeResult(False, f"tcp connect to {address.host}:{address.port} failed: {err}")
