"""Several `steward serve` replicas on one PostgreSQL database, with real containers: one
leader acts, a follower serves the API and leaves the work to it, a killed leader is
replaced within the lease, a deposed leader exits, and a second serve on one SQLite
database is refused. Takeover times are printed (see docs/high-availability.md)."""
from __future__ import annotations

import re
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

import docker
import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.helpers import fresh_postgres_database, write_state
from tests.integration.conftest import LiveServer, free_port, wait_for

LEASE_SECONDS = 3
#: A bound on a takeover: the lease, the follower's one-second look, and a slow machine.
TAKEOVER_BOUND = 3 * LEASE_SECONDS + 10
WORKER = """
services:
  worker:
    category: ai
    image: {image}
    init: true
    command: ["sleep", "3600"]
    stop_grace_period: 1s
"""


@pytest.fixture
def postgres() -> Iterator[str]:
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture
def replica(make_server: Callable[..., LiveServer], postgres: str
            ) -> Callable[..., LiveServer]:
    """A `steward serve` on the shared PostgreSQL database with a short lease."""
    def start(**env: str) -> LiveServer:
        return make_server(STEWARD_DATABASE_URL=postgres,
                           STEWARD_LEASE_SECONDS=str(LEASE_SECONDS), **env)
    return start


def ready(server: LiveServer) -> dict:
    return server.get("/readyz").json()


def role_of(server: LiveServer, role: str) -> dict | None:
    body = ready(server)
    return body if body["role"] == role else None


def leader_gauge(server: LiveServer) -> float:
    found = re.search(r'^steward_leader\{instance="[^"]+"\} (\S+)$',
                      server.get("/metrics").text, re.M)
    assert found, "no steward_leader in /metrics"
    return float(found.group(1))


def passes(server: LiveServer) -> float:
    """How many reconcile passes the server has run, by its own metrics."""
    return sum(float(v) for v in re.findall(r"^steward_reconcile_passes_total\{[^}]*\} (\S+)$",
                                            server.get("/metrics").text, re.M))


def starts(client: docker.DockerClient, container_id: str, since: datetime) -> int:
    """Engine `start` events of the container since `since`: each restart is one."""
    until = datetime.now(timezone.utc)
    return sum(1 for _ in client.events(since=since, until=until, decode=True,
                                        filters={"container": container_id,
                                                 "event": "start"}))


def restart_once_through(server: LiveServer, leader: LiveServer,
                         client: docker.DockerClient) -> float:
    """Restart `worker` through `server`: the first answer follows the contract, and the
    leader restarts the container exactly once. Returns the seconds from the answer to the
    container's start."""
    wait_for(lambda: server.service("worker")["status"] == "running", timeout=60,
             what="worker running")
    container_id = server.service("worker")["container_id"]
    asked = datetime.now(timezone.utc)
    answer = server.post("/api/system/services/worker/restart")
    answered = time.monotonic()
    assert answer.status_code == 200, answer.text
    assert answer.json()["service"]["status"] == "starting"
    wait_for(lambda: starts(client, container_id, asked) >= 1, timeout=30, interval=0.05,
             what="the leader to restart the container")
    latency = time.monotonic() - answered
    wait_for(lambda: server.service("worker")["status"] == "running", timeout=30,
             what="worker running again")
    # Two more passes of the leader, woken by requests recorded on `server` (a pause, then
    # a longer one: each leaves the store in a state the leader has not seen), must not
    # restart it again.
    for duration in ("5m", "10m"):
        before = passes(leader)
        assert server.post("/api/system/services/worker/pause",
                           json={"duration": duration}).ok
        wait_for(lambda: passes(leader) > before, timeout=30,
                 what=f"a leader pass after a pause of {duration}")
    assert starts(client, container_id, asked) == 1
    kinds = [e["kind"] for e in server.service("worker")["events"]]
    assert kinds.count("restart") == 1 and kinds.count("restart-requested") == 1
    return latency


def test_an_action_sent_to_a_follower_is_carried_out_once_by_the_leader(
        replica: Callable[..., LiveServer], desired_dir: Path, test_image: str,
        docker_client: docker.DockerClient) -> None:
    write_state(desired_dir, WORKER.format(image=test_image))
    # No interval passes: only the leader's look at the store can find the request.
    leader = replica(STEWARD_RECONCILE_INTERVAL="600")
    me = wait_for(lambda: role_of(leader, "leader"), what="the first replica to lead")
    # The follower cannot reach any engine: whatever it did to Docker would fail.
    follower = replica(STEWARD_RECONCILE_INTERVAL="600",
                       DOCKER_HOST="unix:///nonexistent/docker.sock")
    body = wait_for(lambda: role_of(follower, "follower"), what="a follower")
    assert (body["ready"], body["leader"]) == (True, me["replica"])
    assert (leader_gauge(leader), leader_gauge(follower)) == (1.0, 0.0)
    latency = restart_once_through(follower, leader, docker_client)
    print(f"\nrestart answered by the follower -> container started by the leader: "
          f"{latency:.2f} s")
    assert role_of(follower, "follower") and role_of(leader, "leader")


def test_the_follower_takes_over_when_the_leader_is_killed(
        replica: Callable[..., LiveServer], desired_dir: Path, test_image: str,
        docker_client: docker.DockerClient) -> None:
    write_state(desired_dir, WORKER.format(image=test_image))
    first = replica()
    wait_for(lambda: role_of(first, "leader"), what="the first replica to lead")
    second = replica()
    wait_for(lambda: role_of(second, "follower"), what="a follower")
    wait_for(lambda: second.service("worker")["status"] == "running", timeout=60,
             what="worker running")
    first.process.kill()  # kill -9: no hand-over, the lease must expire
    first.process.wait()
    killed = time.monotonic()
    body = wait_for(lambda: role_of(second, "leader"), timeout=TAKEOVER_BOUND, interval=0.05,
                    what="the follower to take over")
    print(f"\ntakeover after kill -9 of the leader: {time.monotonic() - killed:.2f} s "
          f"(lease {LEASE_SECONDS} s)")
    assert body["leader"] == body["replica"] and leader_gauge(second) == 1.0
    restart_once_through(second, second, docker_client)


def test_a_deposed_leader_stops_and_exits_for_its_supervisor(
        replica: Callable[..., LiveServer], postgres: str) -> None:
    leader = replica()
    wait_for(lambda: role_of(leader, "leader"), what="the replica to lead")
    dsn = make_url(postgres).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as connection:  # another holder, a new epoch
        connection.execute("UPDATE leases SET holder = 'elsewhere:1', epoch = epoch + 1, "
                           "expires_at = expires_at + interval '1 minute'")
    wait_for(lambda: leader.process.poll() is not None, timeout=TAKEOVER_BOUND,
             what="the deposed leader to exit")
    assert leader.process.returncode == 3
    assert "no longer the leader: the lease expired or another replica took it" in \
        leader.log.read_text()


def test_a_second_serve_on_one_sqlite_database_is_refused(
        make_server: Callable[..., LiveServer]) -> None:
    first = make_server()
    second = subprocess.run([sys.executable, "-m", "app", "serve", "--port", str(free_port())],
                            env=first.env, capture_output=True, text=True, timeout=120)
    assert second.returncode == 1
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: another steward serve (pid "), \
        second.stderr
    assert "SQLite allows one" in lines[0]
    assert ready(first)["role"] == "leader"
