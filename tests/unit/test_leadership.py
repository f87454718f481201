"""The leader's lease with a fake clock, on a real (SQLite) database: acquisition, renewal,
loss, takeover after expiry, fencing of a stale epoch, requests made on other replicas,
the SQLite lock file, and what /readyz and /metrics say."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import pytest
from flask.testing import FlaskClient
from sqlalchemy import text

from app.domain.actions import Action, Kind, Plan
from app.leadership.lease import LEASE as LEASE_NAME
from app.leadership.lease import Held, Leadership, check_fence, holds_lease
from app.leadership.serve_locks import AlreadyServing, lock_database
from app.reconcile.executor import execute
from app.steward import Steward
from app.store.db import Store
from app.store.events import record_event
from app.store.models import Lease, Pause, RuntimeState

LEASE = 15.0


class Clock:
    """A clock that moves only when told; it starts at the real time, so a lease it writes
    is in force for a process on the real clock too."""

    def __init__(self) -> None:
        self.now = datetime.now(timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Replica:
    """One replica's Leadership on a Store of its own, with what its callbacks saw."""

    def __init__(self, url: str, name: str, clock: Clock, exclusive: bool = False) -> None:
        self.store = Store(url)
        self.leadership = Leadership(self.store, holder=name, seconds=LEASE, clock=clock,
                                     exclusive=exclusive)
        self.elected = 0
        self.deposed: list[str] = []
        self.requests: list[object] = []
        self.leadership.on_elected = self._elected
        self.leadership.on_deposed = self.deposed.append
        self.leadership.on_requests = self.requests.append
        self.leadership.on_push = lambda: self.requests.append("push")

    def _elected(self) -> None:
        self.elected += 1

    def tick(self) -> str:
        self.leadership.tick()
        return self.leadership.role


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'ha.db'}"
    store = Store(url)
    store.upgrade()
    store.dispose()
    yield url


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def replicas(url: str, clock: Clock) -> Iterator[tuple[Replica, Replica]]:
    pair = (Replica(url, "a:1", clock), Replica(url, "b:2", clock))
    yield pair
    for replica in pair:
        replica.store.dispose()


def lease_row(replica: Replica) -> Lease:
    with replica.store.reader() as session:
        return session.get(Lease, "engine")


def test_the_first_replica_takes_the_lease_and_the_other_follows(
        replicas: tuple[Replica, Replica], clock: Clock) -> None:
    a, b = replicas
    assert (a.tick(), b.tick()) == ("leader", "follower")
    row = lease_row(a)
    assert (row.holder, row.epoch, row.expires_at) == ("a:1", 1, clock.now + timedelta(
        seconds=LEASE))
    assert (a.elected, b.elected) == (1, 0)


def test_the_leader_renews_every_third_of_the_lease_and_keeps_it(
        replicas: tuple[Replica, Replica], clock: Clock) -> None:
    a, b = replicas
    a.tick()
    for _ in range(6):  # 30 s, twice the lease, renewed every 5 s
        clock.advance(LEASE / 3)
        assert (a.tick(), b.tick()) == ("leader", "follower")
    row = lease_row(a)
    assert (row.holder, row.epoch) == ("a:1", 1)
    assert row.expires_at == clock.now + timedelta(seconds=LEASE)
    assert a.deposed == []


def test_an_expired_lease_is_taken_with_a_new_epoch_and_the_old_leader_steps_down(
        replicas: tuple[Replica, Replica], clock: Clock) -> None:
    a, b = replicas
    a.tick()
    clock.advance(LEASE - 1)
    assert b.tick() == "follower", "the lease still runs"
    clock.advance(1)
    assert b.tick() == "leader"
    assert (lease_row(b).holder, lease_row(b).epoch) == ("b:2", 2)
    assert a.tick() == "follower"  # its renewal finds another holder
    assert a.deposed == ["the lease expired or another replica took it"]
    assert a.leadership.deposed and not b.leadership.deposed


def test_a_failed_renewal_steps_the_leader_down_at_once(
        replicas: tuple[Replica, Replica], clock: Clock) -> None:
    a, _ = replicas
    a.tick()
    with a.store.session() as session:
        session.execute(text("DROP TABLE leases"))  # the database refuses every renewal
    clock.advance(LEASE / 3)
    assert a.tick() == "follower"
    assert a.deposed[0].startswith("renewing the lease failed: ")


def test_fencing_refuses_a_stale_epoch(replicas: tuple[Replica, Replica],
                                       clock: Clock) -> None:
    a, b = replicas
    a.tick()
    stale = a.leadership.held
    clock.advance(LEASE)
    b.tick()
    with b.store.session() as session:
        assert not check_fence(session, stale, clock.now)
        assert check_fence(session, b.leadership.held, clock.now)
        assert not check_fence(session, Held("b:2", 1, stale.expires_at), clock.now)
        assert not check_fence(session, b.leadership.held, clock.now + timedelta(
            seconds=LEASE)), "an expired lease is no fence"


class Engine:
    """The executor's Docker boundary: counts the writes that reach it."""

    def __init__(self) -> None:
        self.started: list[str] = []

    def start(self, container_id: str) -> None:
        self.started.append(container_id)


def restart_web(replica: Replica, engine: Engine, clock: Clock):
    return execute(Plan((Action(Kind.START, "web", "exit code 1", container_id="web-c"),)),
                   engine=engine, store=replica.store, specs={}, runtime={},
                   now=clock, reported=set())


def test_the_executor_of_a_deposed_leader_acts_no_more_and_steps_down(
        replicas: tuple[Replica, Replica], clock: Clock) -> None:
    a, b = replicas
    a.tick()
    engine = Engine()
    assert restart_web(a, engine, clock).done and engine.started == ["web-c"]
    clock.advance(LEASE)  # a's renewals stalled (a long pause) and b took over
    b.tick()
    report = restart_web(a, engine, clock)
    assert [x.service for x in report.skipped] == ["web"] and engine.started == ["web-c"]
    assert a.leadership.role == "follower" and a.deposed
    assert restart_web(b, engine, clock).done and engine.started == ["web-c", "web-c"]


def test_a_process_that_does_not_contend_acts_only_while_no_lease_is_in_force(
        url: str, replicas: tuple[Replica, Replica]) -> None:
    a, _ = replicas
    cli = Store(url)  # a `steward apply` on the same database, no server around
    try:
        with cli.session() as session:
            assert holds_lease(session, cli)
        a.tick()
        with cli.session() as session:
            assert not holds_lease(session, cli)
    finally:
        cli.dispose()


def test_a_leader_that_stops_hands_the_lease_back(replicas: tuple[Replica, Replica]) -> None:
    a, b = replicas
    a.tick()
    a.leadership.stop()
    assert b.tick() == "leader", "no wait for the lease to expire"
    assert lease_row(b).epoch == 2


def test_the_holder_of_the_sqlite_lock_file_takes_the_lease_at_once(
        url: str, replicas: tuple[Replica, Replica], clock: Clock) -> None:
    a, _ = replicas
    a.tick()  # then killed: its lease runs on
    again = Replica(url, "a:3", clock, exclusive=True)
    try:
        assert again.tick() == "leader"
        assert (lease_row(again).holder, lease_row(again).epoch) == ("a:3", 2)
    finally:
        again.store.dispose()


def test_the_leader_wakes_its_reconciler_for_requests_made_on_other_replicas(
        replicas: tuple[Replica, Replica], clock: Clock) -> None:
    a, b = replicas
    with a.store.session() as session:
        session.add_all([RuntimeState(service="web"), RuntimeState(service="db")])
    a.tick(), b.tick()
    with b.store.session() as session:  # a restart answered by the follower
        session.get(RuntimeState, "web").request_version += 1
    a.tick(), b.tick()
    with b.store.session() as session:
        session.add(Pause(scope="category", target="ai", until=clock.now + timedelta(hours=1),
                          actor="ops", created_at=clock.now))
    a.tick(), b.tick()
    with b.store.session() as session:  # a git push webhook answered by the follower
        record_event(session, service=None, kind="webhook", at=clock.now, actor="git",
                     message="push to main")
    a.tick(), b.tick()
    a.tick()
    assert a.requests == [["web"], None, "push"]
    assert b.requests == []


def test_a_second_serve_on_one_sqlite_database_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'steward.db'}"
    first = lock_database(url)
    try:
        with pytest.raises(AlreadyServing) as refused:
            lock_database(url)
        assert str(refused.value).startswith("another steward serve (pid ")
        assert "SQLite allows one" in str(refused.value) and "\n" not in str(refused.value)
    finally:
        first.close()
    lock_database(url).close()  # free again once the first one ended
    assert lock_database("postgresql+psycopg://u@127.0.0.1/steward") is None


def test_a_lease_too_short_to_renew_is_refused(url: str, clock: Clock) -> None:
    with pytest.raises(SystemExit, match="STEWARD_LEASE_SECONDS=1 is too short"):
        Leadership(Store(url), holder="a:1", seconds=1, clock=clock)


def test_readyz_and_metrics_name_the_role_and_the_leader(steward: Steward,
                                                         client: FlaskClient) -> None:
    body = client.get("/readyz").get_json()
    me = steward.leadership.holder
    assert (body["role"], body["replica"], body["leader"]) == ("follower", me, None)
    assert f'steward_leader{{instance="{me}"}} 0.0' in client.get("/metrics").text
    steward.leadership.tick()
    answer = client.get("/readyz")
    assert (answer.get_json()["role"], answer.get_json()["leader"]) == ("leader", me)
    assert answer.status_code == 503, "a leader is ready only once its reconcile job runs"
    assert f'steward_leader{{instance="{me}"}} 1.0' in client.get("/metrics").text


def test_a_follower_sends_apply_and_image_checks_to_the_leader(
        steward: Steward, client: FlaskClient) -> None:
    steward.leadership.contending = True  # a replica in the election that does not lead
    with steward.store.session() as session:
        now = datetime.now(timezone.utc)
        session.add(Lease(name=LEASE_NAME, holder="replica-a", epoch=4,
                          expires_at=now + timedelta(seconds=30), renewed_at=now))
    for path in ("/api/system/apply", "/api/system/images/check"):
        answer = client.post(path, json={})
        assert answer.status_code == 409, path
        assert answer.get_json()["detail"] == ("this replica is a follower; the leader is "
                                               "replica-a: send the request there")
