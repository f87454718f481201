"""Locks `steward serve` takes at start-up: one server per SQLite database, and one
replica at a time migrating a PostgreSQL schema (replicas started together would otherwise
create the same tables at once)."""
from __future__ import annotations

import fcntl
import os
import socket
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator

from sqlalchemy import text
from sqlalchemy.engine import make_url

from app.errors import PermanentError
from app.store.db import STORE_FAILURES, Store

#: The PostgreSQL advisory lock held while one replica migrates the schema.
MIGRATION_LOCK = 0x5354455741524400


class AlreadyServing(PermanentError):
    """A second `steward serve` on one SQLite database."""


def lock_database(url: str) -> IO | None:
    """On a SQLite file, hold `<file>.serve.lock` exclusively for as long as the returned
    file stays open (the process's life); None for other databases."""
    if not url.startswith("sqlite"):
        return None
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    path = Path(database).with_name(Path(database).name + ".serve.lock")
    handle = path.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        owner = handle.read().strip() or "another process"
        handle.close()
        raise AlreadyServing(
            f"another steward serve ({owner}) already uses {database}: SQLite allows one. "
            "Stop it first, or run several replicas on PostgreSQL "
            "(docs/high-availability.md)") from None
    handle.truncate(0)
    handle.write(f"pid {os.getpid()} on {socket.gethostname()}")
    handle.flush()
    return handle


@contextmanager
def one_migrator(store: Store) -> Iterator[None]:
    """On PostgreSQL, hold an advisory lock while the schema is brought up to date, so
    replicas started together do not create the same tables at once."""
    if store.engine.dialect.name != "postgresql":
        yield
        return
    try:
        connection = store.engine.connect()
    except STORE_FAILURES:  # unreachable: the upgrade says so, in one line
        yield
        return
    with connection:
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
        try:
            yield
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"),
                               {"key": MIGRATION_LOCK})
