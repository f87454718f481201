"""The store failing (issue 11, findings 7 and 13): a read-only database is reported by
/readyz, counted in a metric, shown on the page, and answered 503 with a reason; at
start-up, a database that cannot be used is one line with the cause and the fix."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Callable

import pytest
from flask import Flask

from app.steward import Steward
from app.store.db import Store, StoreUnavailable
from tests.helpers import make_read_only, page_csrf, write_state


@pytest.fixture
def failing(make_app: Callable[..., Flask], desired_dir: Path) -> tuple[Flask, Callable]:
    write_state(desired_dir, "services:\n  web: {category: ai, image: x}\n")
    app = make_app()
    return app, make_read_only(app.extensions["steward"].store)


def store_errors(app: Flask, kind: str) -> float:
    text = app.test_client().get("/metrics").get_data(as_text=True)
    found = re.search(rf'^steward_store_errors_total{{kind="{kind}"}} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


def test_readyz_tries_a_write_and_says_read_only(failing: tuple[Flask, Callable]) -> None:
    app, undo = failing
    client = app.test_client()
    answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.get_json()["database"] == "read-only: attempt to write a readonly database"
    undo()
    with app.extensions["steward"].store.session():
        pass  # a write that succeeds ends the outage
    assert client.get("/readyz").get_json()["database"] == "ok"


def test_an_action_on_a_read_only_store_is_503_with_the_reason(
        failing: tuple[Flask, Callable]) -> None:
    app, _ = failing
    app.config["PROPAGATE_EXCEPTIONS"] = False
    before = store_errors(app, "read-only")
    answer = app.test_client().post("/api/system/services/web/restart")
    assert answer.status_code == 503
    assert answer.get_json()["detail"].startswith(
        "Steward's database cannot take this now (read-only: attempt to write a readonly "
        "database)")
    assert store_errors(app, "read-only") > before


def test_apply_on_a_read_only_store_is_not_a_500(failing: tuple[Flask, Callable]) -> None:
    app, _ = failing
    app.config["PROPAGATE_EXCEPTIONS"] = False
    answer = app.test_client().post("/api/system/apply", json={})
    assert answer.status_code == 503
    assert "read-only" in answer.get_json()["detail"]


def test_the_page_shows_a_banner_and_its_actions_say_why(
        failing: tuple[Flask, Callable]) -> None:
    app, _ = failing
    client = app.test_client()
    acted = client.post("/services/web/restart", headers={"Accept": "application/json"},
                        data={"csrf_token": page_csrf(client, "/"), "confirm": "yes"})
    assert acted.status_code == 503 and "read-only" in acted.get_json()["message"]
    page = client.get("/").get_data(as_text=True)
    assert "Steward&#39;s database is failing" in page
    assert "read-only: attempt to write a readonly database" in page


def test_a_missing_driver_is_one_line_with_the_fix() -> None:
    with pytest.raises(StoreUnavailable) as caught:
        Store("postgresql+psycopg2://steward:hunter2@db.invalid/steward")
    message = str(caught.value)
    assert message == ("Steward cannot use its database postgresql+psycopg2://steward:********"
                       "@db.invalid/steward: its driver psycopg2 is not installed. Fix: pip "
                       "install psycopg2-binary, or use postgresql+psycopg:// URLs.")


def test_a_sqlite_path_that_cannot_be_made_is_one_line_with_the_fix(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(StoreUnavailable) as caught:
        Store(f"sqlite:///{tmp_path / 'file' / 'sub' / 'steward.db'}")
    assert "\n" not in str(caught.value)
    assert ": Not a directory: " in str(caught.value)
    assert "Fix: make sure the file's directory exists and is writable" in str(caught.value)


def test_a_read_only_sqlite_file_is_refused_at_start_up(steward: Steward, tmp_path: Path
                                                         ) -> None:
    """`steward.db` is migrated by the fixture; opened read-only, it cannot serve."""
    store = Store(f"sqlite:///file:{tmp_path / 'steward.db'}?mode=ro&uri=true")
    with pytest.raises(StoreUnavailable) as caught:
        store.upgrade()
    store.dispose()
    assert str(caught.value).endswith(
        "read-only: attempt to write a readonly database. Fix: make the file and its "
        "directory writable by the user Steward runs as.")
