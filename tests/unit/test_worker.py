"""The one background worker (app/support/worker.py): it stops at once, can start again,
and says so when its loop dies or will not stop."""
from __future__ import annotations

import logging
import threading

import pytest

from app.support.worker import Worker


def test_a_worker_stops_at_once_and_starts_again() -> None:
    ended = threading.Event()

    def loop() -> None:
        worker.stopping.wait(3600)  # an hour, unless stopped
        ended.set()

    worker = Worker("test-loop", loop)
    worker.start()
    assert worker.running
    worker.stop()
    assert ended.is_set() and not worker.running
    worker.start()
    assert worker.running and not worker.stopping.is_set()
    worker.stop()
    assert not worker.running


def test_wake_unblocks_what_the_loop_waits_on() -> None:
    other = threading.Event()
    worker = Worker("test-wake", lambda: other.wait(3600), wake=other.set)
    worker.start()
    worker.stop()
    assert other.is_set() and not worker.running


def test_a_loop_that_dies_is_logged_with_its_name(caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> None:
        raise RuntimeError("boom")

    worker = Worker("test-broken", broken)
    with caplog.at_level(logging.ERROR, logger="app.support.worker"):
        worker.start()
        worker._thread.join(5)  # noqa: SLF001
    assert "test-broken stopped on an unexpected error" in caplog.text
    assert "boom" in caplog.text


def test_a_worker_that_will_not_stop_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    release = threading.Event()
    worker = Worker("test-stuck", lambda: release.wait(10), join_timeout=0.1)
    worker.start()
    with caplog.at_level(logging.WARNING, logger="app.support.worker"):
        worker.stop()
    release.set()
    assert "test-stuck did not stop within 0.1s" in caplog.text


def test_workers_of_one_owner_share_their_stop() -> None:
    shared = threading.Event()
    first = Worker("test-a", lambda: shared.wait(3600), stopping=shared)
    second = Worker("test-b", lambda: shared.wait(3600), stopping=shared)
    first.start()
    second.start()
    first.stop()
    second.stop()
    assert not first.running and not second.running


def test_a_worker_that_did_not_stop_is_not_started_twice(
        caplog: pytest.LogCaptureFixture) -> None:
    release = threading.Event()
    started: list[int] = []

    def loop() -> None:
        started.append(1)
        release.wait(10)

    worker = Worker("test-twice", loop, join_timeout=0.1)
    worker.start()
    worker.stop()  # times out: the loop ignores `stopping`
    with caplog.at_level(logging.WARNING, logger="app.support.worker"):
        worker.start()
    release.set()
    assert started == [1] and "test-twice is still running" in caplog.text
