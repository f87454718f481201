"""The status page says when a rollout failed and the last good spec keeps running."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from flask.testing import FlaskClient

from app.steward import Steward
from app.store.models import Rollout, ServiceRecord
from tests.helpers import write_state

AT = datetime(2026, 11, 30, 12, tzinfo=timezone.utc)


def rolled_back(steward: Steward, desired_dir: Path, *, same_spec: bool,
                reason: str = "the new container exited (exit code 3)") -> None:
    write_state(desired_dir, "services:\n  web: {category: ai, image: x}\n")
    assert steward.reconciler.load_desired() is None
    with steward.store.session() as session:
        spec_hash = session.get(ServiceRecord, "web").spec_hash
        session.add(Rollout(service="web", state="rolled_back", strategy="start-first",
                            spec_hash=spec_hash if same_spec else "older", revision="abc123def4567",
                            started_at=AT, finished_at=AT, reason=reason))


def test_a_failed_rollout_of_the_desired_spec_shows_a_banner(
        steward: Steward, client: FlaskClient, desired_dir: Path) -> None:
    rolled_back(steward, desired_dir, same_spec=True)
    page = client.get("/").get_data(as_text=True)
    assert "1 rollout(s) failed; the last good spec keeps running" in page
    assert ("web (web): rollout of abc123def456 rolled back: the new container exited (exit "
            "code 3); retry: steward retry-rollout web") in page


def test_no_banner_once_the_desired_spec_moved_on_or_when_superseded(
        steward: Steward, client: FlaskClient, desired_dir: Path) -> None:
    rolled_back(steward, desired_dir, same_spec=False)
    assert "rollout(s) failed" not in client.get("/").get_data(as_text=True)
