"""The database connection: one `Store` per app, sessions as context managers, migrations.

Two kinds of session: `session()` is a unit of work that writes, `reader()` only reads.
On SQLite (the default) a writing session takes the write lock when it begins
(BEGIN IMMEDIATE), so the API thread and the reconciler thread never read a row, decide,
and then overwrite each other's change; readers use WAL snapshots and never wait. On
PostgreSQL the writers lock the rows they change (SELECT ... FOR UPDATE).
"""
from __future__ import annotations

import itertools
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


class Store:
    """The database of one Steward: engine, session factories, migrations."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = _make_engine(url)
        self._writers = sessionmaker(self.engine.execution_options(steward_write=True),
                                     expire_on_commit=False)
        self._readers = sessionmaker(self.engine, expire_on_commit=False)
        self._generations = itertools.count(1)
        self.generation = 0

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work that writes: committed when the block ends, rolled back if it raises.

        Every commit moves `generation` on, so a reader in this process can tell that
        anything it cached from the store may be out of date.
        """
        with self._writers() as session, session.begin():
            yield session
        self.generation = next(self._generations)

    @contextmanager
    def reader(self) -> Iterator[Session]:
        """A consistent read-only view; never waits for a writer."""
        with self._readers() as session, session.begin():
            yield session

    def upgrade(self) -> None:
        """Bring the schema to the newest migration (idempotent)."""
        command.upgrade(alembic_config(self.url), "head")

    def dispose(self) -> None:
        self.engine.dispose()


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _make_engine(url: str) -> Engine:
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    database = url.split("///", 1)[-1]
    if database and database != ":memory:":
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
