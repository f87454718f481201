"""The read model's list (app/operations/read_model.py) decodes each spec once per version:
it still sees every change of the file, also one that leaves the container as it is."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from app.operations.read_model import get_service, list_services
from app.steward import Steward
from app.store.models import RuntimeState
from tests.helpers import sleeper, write_state

NOW = datetime(2026, 12, 1, 3, 0, tzinfo=timezone.utc)


def test_a_check_added_to_a_running_service_shows_in_the_list(
        steward: Steward, desired_dir: Path) -> None:
    write_state(desired_dir, "services:\n" + sleeper("img:1", "web"))
    assert steward.reconciler.load_desired() is None
    with steward.store.session() as session:
        session.get(RuntimeState, "web").container_state = "running"
    with steward.store.reader() as session:
        assert [s.status for s in list_services(session, NOW)] == ["running"]
    write_state(desired_dir, "services:\n" + sleeper(
        "img:1", "web", healthcheck="{http: {path: /health, port: 8080}}"))
    assert steward.reconciler.load_desired() is None
    with steward.store.reader() as session:
        listed = list_services(session, NOW)
        assert [s.status for s in listed] == [get_service(session, "web", NOW).status] == \
            ["starting"]  # running, but its new check has not passed yet
