"""Fixtures shared by unit and integration tests: an app on a real (temporary) database."""
from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from app.steward import Steward

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def desired_dir(tmp_path: Path) -> Path:
    path = tmp_path / "desired_state"
    path.mkdir()
    return path


@pytest.fixture
def instance() -> str:
    """A unique Steward instance label, so tests never see each other's containers."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def app(tmp_path: Path, desired_dir: Path, instance: str) -> Iterator[Flask]:
    app = create_app({
        "TESTING": True,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'steward.db'}",
        "DESIRED_STATE_DIR": str(desired_dir),
        "INSTANCE": instance,
        "STABLE_PERIOD": 60.0,
    })
    steward: Steward = app.extensions["steward"]
    steward.store.upgrade()
    yield app
    steward.shutdown()


@pytest.fixture
def steward(app: Flask) -> Steward:
    return app.extensions["steward"]


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def make_app(tmp_path: Path, desired_dir: Path, instance: str
             ) -> Iterator[Callable[..., Flask]]:
    """Apps on the test database with extra settings (tokens, limits), migrated and with the
    desired state loaded; each is shut down after the test."""
    made: list[Flask] = []

    def make(**settings: Any) -> Flask:
        app = create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}",
                          "DESIRED_STATE_DIR": str(desired_dir), "INSTANCE": instance,
                          "SECRET_KEY": "test-key", **settings})
        made.append(app)
        steward: Steward = app.extensions["steward"]
        steward.store.upgrade()
        steward.reconciler.load_desired()
        return app

    yield make
    for app in made:
        app.extensions["steward"].shutdown()
