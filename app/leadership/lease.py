"""Leadership: which of several Steward replicas sharing one database acts on the engine.

One row of the `leases` table names the leader (`holder`), a fencing token (`epoch`) and
when the lease ends (`expires_at`). Every replica runs a `Leadership`: a follower takes the
lease when it is free or expired, with a new epoch; the leader renews it every third of
the lease. The moment a renewal fails, or the row names another holder or epoch, the
leader steps down: `on_deposed` stops the reconciler and every other part that acts.

Fencing: before each action the executor calls `holds_lease` in the transaction that checks
the action is still current. The row is read with a share lock (FOR SHARE on PostgreSQL),
so no takeover commits in between; an action of a stale epoch is skipped.

Followers answer the API from the store and record actions there; the leader looks at the
store every second for requests recorded on other replicas (request versions, pauses) and
wakes its reconciler (`on_requests`).

On SQLite, one `steward serve` holds the database (`app/leadership/serve_locks.py`), so it takes the
lease at once (`exclusive`): whoever held it before is gone.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import weakref
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterable

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from app.store.db import Store
from app.store.models import Event, Lease, Pause, RuntimeState
from app.support.worker import Worker

log = logging.getLogger(__name__)

#: The name of the one lease the replicas contend for.
LEASE = "engine"
#: How often a replica looks at the lease and the leader looks for requests, at most.
TICK_SECONDS = 1.0
#: The shortest lease: a leader must renew (a third of it) at least once per tick.
MIN_LEASE_SECONDS = 3.0


@dataclass(frozen=True)
class Held:
    """A lease as its holder last wrote it."""

    holder: str
    epoch: int
    expires_at: datetime


def identity(name: str = "") -> str:
    """This replica's name in the lease: the configured name (or host name) and the pid,
    so a restarted process is a new holder."""
    return f"{name or socket.gethostname()}:{os.getpid()}"


def take(session: Session, *, holder: str, now: datetime, seconds: float,
         exclusive: bool = False) -> Held | None:
    """Take the lease with a new epoch if it is free or expired (or `exclusive`: this
    process knows no other replica is alive); None while another holder's lease runs."""
    row = session.get(Lease, LEASE, with_for_update=True)
    until = now + timedelta(seconds=seconds)
    if row is None:
        row = Lease(name=LEASE, holder=holder, epoch=1, expires_at=until, renewed_at=now)
        session.add(row)
    elif row.expires_at <= now or exclusive:
        row.holder, row.epoch = holder, row.epoch + 1
        row.expires_at, row.renewed_at = until, now
    else:
        return None
    return Held(holder, row.epoch, until)


def renew(session: Session, held: Held, *, now: datetime, seconds: float) -> Held | None:
    """Extend the lease if it is still `held` (same holder and epoch, not expired)."""
    row = session.get(Lease, LEASE, with_for_update=True)
    if not _matches(row, held, now):
        return None
    row.expires_at, row.renewed_at = now + timedelta(seconds=seconds), now
    return replace(held, expires_at=row.expires_at)


def check_fence(session: Session, held: Held | None, now: datetime) -> bool:
    """Whether `held` is still the lease in force; the share lock keeps it so until the
    caller's transaction ends."""
    return _matches(session.get(Lease, LEASE, with_for_update={"read": True}), held, now)


def release(session: Session, held: Held, now: datetime) -> None:
    """End the lease now (a clean shutdown), so a follower need not wait for it to expire."""
    row = session.get(Lease, LEASE, with_for_update=True)
    if _matches(row, held, now):
        row.expires_at = now


def leader(session: Session, now: datetime) -> Held | None:
    """The lease in force, whoever holds it; None when it is free or expired."""
    row = session.get(Lease, LEASE)
    if row is None or row.expires_at <= now:
        return None
    return Held(row.holder, row.epoch, row.expires_at)


def _matches(row: Lease | None, held: Held | None, now: datetime) -> bool:
    return row is not None and held is not None and row.holder == held.holder \
        and row.epoch == held.epoch and row.expires_at > now


@dataclass(frozen=True)
class Marks:
    """What requests leave in the store: each service's request version (bumped by every
    action), the pauses, and the newest event (a git push webhook is an event)."""

    versions: dict[str, int]
    pauses: tuple
    last_event: int
    pushed: bool = False


def _marks(session: Session, seen: Marks | None) -> Marks:
    versions = dict(session.execute(select(RuntimeState.service,
                                           RuntimeState.request_version)).all())
    pauses = tuple(session.execute(select(Pause.id, Pause.until).order_by(Pause.id)).all())
    if seen is None:
        return Marks(versions, pauses, session.scalar(select(func.max(Event.id))) or 0)
    new = session.execute(select(Event.id, Event.kind).where(Event.id > seen.last_event)).all()
    return Marks(versions, pauses, max((i for i, _ in new), default=seen.last_event),
                 pushed=any(kind == "webhook" for _, kind in new))


class Leadership:
    """This replica's side of the lease: contend, renew, step down, fence.

    The callbacks run on the thread that noticed (the lease loop, or an executor worker for
    a fencing refusal), so they must hand slow work to a thread of their own.
    """

    def __init__(self, store: Store, *, holder: str, seconds: float,
                 clock: Callable[[], datetime], exclusive: bool = False) -> None:
        if seconds < MIN_LEASE_SECONDS:
            raise SystemExit(f"STEWARD_LEASE_SECONDS={seconds:g} is too short: a leader "
                             f"renews every third of it; use {MIN_LEASE_SECONDS:g} or more")
        self.store = store
        self.holder = holder
        self.seconds = seconds
        self.clock = clock
        self.exclusive = exclusive
        self.held: Held | None = None
        #: True once this process takes part in elections (its first round); a process
        #: that never does (CLI commands, tests) is fenced by the lease row alone.
        self.contending = False
        #: True once this replica led and lost the lease.
        self.deposed = False
        self.on_elected: Callable[[], None] = lambda: None
        self.on_deposed: Callable[[str], None] = lambda reason: None
        self.on_requests: Callable[[Iterable[str] | None], None] = lambda only: None
        #: A git push webhook reached a replica: fetch now (the leader's git follower).
        self.on_push: Callable[[], None] = lambda: None
        self._renewed_at = clock()
        self._seen: Marks | None = None
        self._lock = threading.Lock()
        self._worker = Worker("steward-lease", self._loop)
        _ATTACHED[store] = self

    @property
    def role(self) -> str:
        return "leader" if self.held is not None else "follower"

    def tick(self) -> None:
        """One round: a follower tries to take the lease; the leader renews it (every third
        of the lease) and looks for requests made on other replicas."""
        self.contending = True
        if self.held is None:
            self._try_to_take()
        elif self.clock() - self._renewed_at >= timedelta(seconds=self.seconds / 3):
            self._renew()
        if self.held is not None:
            self._look_for_requests()

    def _try_to_take(self) -> None:
        now = self.clock()
        try:
            with self.store.session() as session:
                held = take(session, holder=self.holder, now=now, seconds=self.seconds,
                            exclusive=self.exclusive)
        except SQLAlchemyError as err:  # unreachable, or another replica inserted first
            log.debug("could not take the lease: %s", err)
            return
        if held is not None:
            self.held, self._renewed_at, self._seen = held, now, None
            log.info("leader now (epoch %d, lease %gs): acting on the engine",
                     held.epoch, self.seconds)
            self.on_elected()

    def _renew(self) -> None:
        now = self.clock()
        try:
            with self.store.session() as session:
                held = renew(session, self.held, now=now, seconds=self.seconds)
        except SQLAlchemyError as err:
            self.step_down(f"renewing the lease failed: {err}".splitlines()[0])
            return
        if held is None:
            self.step_down("the lease expired or another replica took it")
        else:
            self.held, self._renewed_at = held, now

    def _look_for_requests(self) -> None:
        try:
            with self.store.reader() as session:
                marks = _marks(session, self._seen)
        except SQLAlchemyError as err:
            log.debug("could not look for requests: %s", err)
            return
        seen, self._seen = self._seen, marks
        if seen is None:  # the first look: the first pass covers everything
            return
        if marks.pushed:
            self.on_push()
        if marks.pauses != seen.pauses:
            self.on_requests(None)
            return
        changed = {name for name, version in marks.versions.items()
                   if seen.versions.get(name) != version}
        if changed:
            self.on_requests(sorted(changed))

    def fence(self, session: Session) -> bool:
        """Whether this replica may act now; a refusal steps a leader down at once."""
        held = self.held
        if check_fence(session, held, self.clock()):
            return True
        if held is not None:
            self.step_down("fencing: the lease row names another holder or epoch, or expired")
        return False

    def step_down(self, reason: str) -> None:
        """Stop acting: no action passes the fence from now on, and `on_deposed` stops the
        parts that act."""
        with self._lock:
            if self.held is None:
                return
            self.held, self.deposed = None, True
        log.error("no longer the leader: %s; stopping every part that acts", reason)
        self.on_deposed(reason)

    def start(self) -> None:
        """Contend for the lease on a thread of its own, every second."""
        self.tick()
        self._worker.start()

    def _loop(self) -> None:
        while not self._worker.stopping.wait(min(TICK_SECONDS, self.seconds / 3)):
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - the lease loop must outlive any one round
                log.exception("a lease round failed; trying again")

    def stop(self) -> None:
        """Stop contending and, if leading, hand the lease back (called once the parts that
        act have stopped), so a follower takes over without waiting for it to expire."""
        self._worker.stop()
        held, self.held = self.held, None
        if held is not None:
            try:
                with self.store.session() as session:
                    release(session, held, self.clock())
            except SQLAlchemyError as err:
                log.warning("could not hand the lease back: %s", err)


#: The Leadership of each store, for the executor's fencing check.
_ATTACHED: weakref.WeakKeyDictionary[Store, Leadership] = weakref.WeakKeyDictionary()


def holds_lease(session: Session, store: Store) -> bool:
    """The executor's fencing check, in the transaction of each action. A process that does
    not contend (CLI commands, tests) may act only while no replica's lease is in force."""
    leadership = _ATTACHED.get(store)
    if leadership is not None and leadership.contending:
        allowed = leadership.fence(session)
    else:
        allowed = leader(session, datetime.now(timezone.utc)) is None
    if not allowed:
        log.warning("not acting: this process does not hold the lease")
    return allowed
