"""The database connection: one `Store` per app, sessions as context managers, migrations.

Two kinds of session: `session()` is a unit of work that writes, `reader()` only reads.
On SQLite (the default) a writing session takes the write lock when it begins
(BEGIN IMMEDIATE), so the API thread and the reconciler thread never read a row, decide,
and then overwrite each other's change; readers use WAL snapshots and never wait. On
PostgreSQL the writers lock the rows they change (SELECT ... FOR UPDATE).

When the database fails (read-only, full, unreachable), the session says so on the way
out: `problem` holds the last failure until a write succeeds again, and the
`steward_store_errors` metric counts them, so /readyz, the page and the API can tell.
"""
from __future__ import annotations

import itertools
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event, false, make_url, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from app.desired_state.secrets import without_credentials
from app.errors import TransientError
from app.store.models import Event
from app.telemetry.metrics import STORE_ERRORS

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
#: Errors that say the database itself is in trouble, not that a statement was wrong.
STORE_FAILURES = (OperationalError, InterfaceError)


class StoreUnavailable(TransientError):
    """The database cannot be used at all (start-up): the message names it, says what is
    wrong and how to fix it, in one line."""


@dataclass(frozen=True)
class StoreProblem:
    kind: str  # read-only, full, unreachable, error
    detail: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.detail}"


def classify(error: BaseException) -> StoreProblem:
    """What a database error means for an operator, in one line without the SQL."""
    cause = getattr(error, "orig", None) or error
    detail = without_credentials(str(cause).strip().splitlines()[0] if str(cause).strip()
                                 else type(cause).__name__)[:300]
    lowered = detail.lower()
    if "readonly" in lowered or "read-only" in lowered or "read only" in lowered:
        return StoreProblem("read-only", detail)
    if "full" in lowered or "no space" in lowered or "quota" in lowered:
        return StoreProblem("full", detail)
    if isinstance(error, InterfaceError) or any(word in lowered for word in (
            "connect", "unable to open", "timeout", "timed out", "resolve", "refused")):
        return StoreProblem("unreachable", detail)
    return StoreProblem("error", detail)


class Store:
    """The database of one Steward: engine, session factories, migrations."""

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            self.engine: Engine = _make_engine(url)
        except ModuleNotFoundError as err:  # the URL names a driver that is not installed
            raise StoreUnavailable(_unusable(url, f"its driver {err.name} is not installed",
                                             _DRIVER_FIX.get(err.name or "", "install the "
                                             "driver the URL names"))) from None
        except OSError as err:  # the SQLite file's directory cannot be made
            raise StoreUnavailable(_unusable(url, f"{err.strerror}: {err.filename}",
                                             _fix(url, "unreachable"))) from None
        self._writers = sessionmaker(self.engine.execution_options(steward_write=True),
                                     expire_on_commit=False)
        self._readers = sessionmaker(self.engine, expire_on_commit=False)
        self._generations = itertools.count(1)
        self.generation = 0
        #: The last failure of the database, until a write succeeds again.
        self.problem: StoreProblem | None = None

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work that writes: committed when the block ends, rolled back if it raises.

        Every commit moves `generation` on, so a reader in this process can tell that
        anything it cached from the store may be out of date.
        """
        with self._noting_failures(), self._writers() as session, session.begin():
            yield session
        self.problem = None
        self.generation = next(self._generations)

    @contextmanager
    def reader(self) -> Iterator[Session]:
        """A consistent read-only view; never waits for a writer."""
        with self._noting_failures(), self._readers() as session, session.begin():
            yield session

    def check_writable(self) -> StoreProblem | None:
        """Whether the database takes a write now: an UPDATE that matches no row, rolled
        back (a read-only database refuses it all the same); else the last failure seen."""
        try:
            with self._writers() as session:
                session.execute(update(Event).where(false()).values(kind=Event.kind))
                session.rollback()
        except STORE_FAILURES as err:
            self._note(err)
        return self.problem

    @contextmanager
    def _noting_failures(self) -> Iterator[None]:
        try:
            yield
        except STORE_FAILURES as err:
            self._note(err)
            raise

    def _note(self, error: BaseException) -> None:
        self.problem = classify(error)
        STORE_ERRORS.labels(self.problem.kind).inc()

    def upgrade(self) -> None:
        """Bring the schema to the newest migration (idempotent); the first write at
        start-up, so a database that cannot be used is reported here, in one line."""
        try:
            command.upgrade(alembic_config(self.url), "head")
        except STORE_FAILURES as err:
            self._note(err)
        problem = self.check_writable()  # at head, a migration writes nothing
        if problem is not None:
            raise StoreUnavailable(_unusable(self.url, str(problem), _fix(self.url,
                                                                          problem.kind)))

    def dispose(self) -> None:
        self.engine.dispose()


_DRIVER_FIX = {"psycopg": "pip install 'psycopg[binary]' (the postgres extra of Steward)",
               "psycopg2": "pip install psycopg2-binary, or use postgresql+psycopg:// URLs"}


def _unusable(url: str, cause: str, fix: str) -> str:
    return f"Steward cannot use its database {without_credentials(url)}: {cause}. Fix: {fix}."


def _fix(url: str, kind: str) -> str:
    """What an operator can do about a database problem of this kind."""
    sqlite = url.startswith("sqlite")
    if kind == "read-only":
        return ("make the file and its directory writable by the user Steward runs as"
                if sqlite else "point STEWARD_DATABASE_URL at the primary, not a read-only "
                               "replica, and give the user write access")
    if kind == "full":
        return "free space on the disk the database is on"
    if sqlite:
        return "make sure the file's directory exists and is writable by the user Steward " \
               "runs as, or set STEWARD_DATABASE_URL to another path"
    return "check that PostgreSQL runs and accepts connections there, and the host, port, " \
           "user and password in STEWARD_DATABASE_URL"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _make_engine(url: str) -> Engine:
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    database = make_url(url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30})
    event.listen(engine, "connect", _sqlite_pragmas)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_begin(connection: Connection) -> None:
    """Begin ourselves (pysqlite would begin late, and only deferred)."""
    write = connection.get_execution_options().get("steward_write", False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _sqlite_pragmas(connection: Any, record: Any) -> None:
    connection.isolation_level = None  # no implicit transactions: _sqlite_begin starts them
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
