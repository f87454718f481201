"""Logs (issue 11, findings 10 and 12): no logged value forges a line or shows a
credential, and the git follower's failures are logged with the remote masked."""
from __future__ import annotations

import io
import logging
import subprocess
from pathlib import Path
from typing import Iterator

import pytest
from flask.testing import FlaskClient

from app.desired_state.follow import GitFollower
from app.telemetry.logs import FORMAT, SafeFormatter, escape_controls

TOKEN = "ghp_SECRETTOKEN0123456789"
URL = f"https://steward:{TOKEN}@git.example.invalid/ops/desired.git"


@pytest.fixture
def log_text() -> Iterator[io.StringIO]:
    """What the root logger writes through Steward's formatter."""
    text = io.StringIO()
    handler = logging.StreamHandler(text)
    handler.setFormatter(SafeFormatter(FORMAT))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield text
    root.removeHandler(handler)
    root.setLevel(level)


def test_control_characters_are_written_out() -> None:
    assert escape_controls("a\nb\rc\td\x1b[31m\x00\u2028") == "a\\nb\\rc\\td\\x1b[31m\\x00\\x2028"


def test_a_name_with_a_newline_cannot_forge_a_line(log_text: io.StringIO) -> None:
    forged = "web\n2026-11-30 12:00:00,000 INFO steward.events: disabled db: by admin"
    logging.getLogger("steward.events").warning("restart-refused %s: not found", forged)
    assert log_text.getvalue().count("\n") == 1
    assert "web\\n2026-11-30" in log_text.getvalue()


def test_a_traceback_stays_indented_and_masked(log_text: io.StringIO) -> None:
    try:
        raise RuntimeError(f"fetch {URL} failed\nFAKE 2026 INFO forged")
    except RuntimeError:
        logging.getLogger("x").exception("round failed")
    lines = log_text.getvalue().splitlines()
    assert lines[0].endswith("ERROR x: round failed")
    assert all(line.startswith("  ") for line in lines[1:])
    assert TOKEN not in log_text.getvalue()


def test_credentials_in_messages_are_masked(log_text: io.StringIO) -> None:
    logging.getLogger("x").info("cloning %s; db Password=%s;", URL, "hunter2")
    assert TOKEN not in log_text.getvalue() and "hunter2" not in log_text.getvalue()


def test_a_git_round_that_raises_logs_the_remote_masked(
        tmp_path: Path, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The issue's reproduction: a round raises with the URL in the error (as git's
    CalledProcessError and TimeoutExpired do), and the follower logs it."""
    follower = GitFollower(url=URL, branch="main", checkout=tmp_path / "clone", interval=60,
                           on_result=lambda result: None)

    def explode() -> None:
        follower.stop()  # one round is enough
        raise subprocess.CalledProcessError(128, ["git", "fetch", "--", URL], stderr=URL)

    monkeypatch.setattr(follower, "sync", explode)
    with caplog.at_level(logging.INFO):
        follower._loop()
    record = next(r for r in caplog.records if r.name == "app.desired_state.follow")
    assert record.exc_info is None
    assert TOKEN not in caplog.text and "steward:********@git.example.invalid" in caplog.text


def test_a_git_timeout_is_reported_masked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                          ) -> None:
    follower = GitFollower(url=URL, branch="main", checkout=tmp_path / "clone", interval=60,
                           on_result=lambda result: None)

    def slow(*args: str, **kwargs: object) -> str:
        raise subprocess.TimeoutExpired(["git", "clone", "--", URL], 120)

    monkeypatch.setattr("app.desired_state.follow.git", slow)
    result = follower.sync()
    assert not result.ok and TOKEN not in result.detail and "********" in result.detail


def test_a_request_for_a_name_with_a_newline_logs_one_line(
        client: FlaskClient, log_text: io.StringIO) -> None:
    client.post("/api/system/services/web%0aFAKE%20INFO%20forged/restart")
    written = log_text.getvalue()
    assert "restart-refused" in written and "web\\nFAKE INFO forged" in written
    assert not any(line.startswith("FAKE") for line in written.splitlines())
