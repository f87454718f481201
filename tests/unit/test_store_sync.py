"""Loading into the store is atomic: a bad edit changes nothing and says why."""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from app.steward import Steward
from app.store.models import DesiredStateLoad, Event, RuntimeState, ServiceRecord
from tests.helpers import write_state

GOOD = """
    services:
      db: {category: infrastructure, image: "postgres:16"}
      web: {category: ai, image: "web:1", depends_on: [db]}
"""


def snapshot(steward: Steward) -> tuple[list, list]:
    with steward.store.reader() as session:
        services = [(r.name, r.spec_hash) for r in session.scalars(select(ServiceRecord))]
        runtime = [(r.service, r.enabled) for r in session.scalars(select(RuntimeState))]
    return services, runtime


def test_an_invalid_edit_changes_nothing_and_is_recorded(steward: Steward,
                                                         desired_dir: Path) -> None:
    path = write_state(desired_dir, GOOD)
    assert steward.reconciler.load_desired() is None
    before = snapshot(steward)

    path.write_text(path.read_text().replace("web:1", "web:2").replace("[db]", "[dbb]"))
    error = steward.reconciler.load_desired()

    assert error == ("desired_state/services.yaml:3: services.web.depends_on[0]: unknown "
                     "service 'dbb'; known: db, web")
    assert snapshot(steward) == before
    with steward.store.reader() as session:
        loads = list(session.scalars(select(DesiredStateLoad).order_by(DesiredStateLoad.id)))
        events = list(session.scalars(select(Event).where(Event.kind == "load-failed")))
    assert [load.ok for load in loads] == [True, False]
    assert loads[-1].error == error
    assert len(events) == 1 and "last good state kept" in events[0].message


def test_a_valid_edit_updates_adds_and_removes(steward: Steward, desired_dir: Path) -> None:
    path = write_state(desired_dir, GOOD)
    steward.reconciler.load_desired()
    path.write_text(path.read_text().replace("web:1", "web:2").replace(
        "  web:", "  cache: {category: infrastructure, image: redis}\n  web:").replace(
        '  db: {category: infrastructure, image: "postgres:16"}\n', ""
    ).replace(", depends_on: [db]", ""))
    assert steward.reconciler.load_desired() is None
    services, runtime = snapshot(steward)
    assert sorted(name for name, _ in services) == ["cache", "web"]
    with steward.store.reader() as session:
        kinds = [(e.service, e.kind) for e in session.scalars(select(Event).order_by(Event.id))]
    assert kinds[-3:] == [("cache", "added"), ("web", "updated"), ("db", "removed")]


def test_enabled_in_the_file_applies_when_it_changes(steward: Steward,
                                                     desired_dir: Path) -> None:
    path = write_state(desired_dir, GOOD)
    steward.reconciler.load_desired()
    with steward.store.session() as session:
        session.get(RuntimeState, "web").enabled = False  # disabled through the API
    path.write_text(path.read_text() + "\n")  # an unrelated edit keeps the API's choice
    steward.reconciler.load_desired()
    assert dict(snapshot(steward)[1])["web"] is False
    path.write_text(path.read_text().replace('"web:1"', '"web:1", enabled: false'))
    steward.reconciler.load_desired()
    path.write_text(path.read_text().replace(", enabled: false", ", enabled: true"))
    steward.reconciler.load_desired()
    assert dict(snapshot(steward)[1])["web"] is True


def test_any_failure_while_loading_is_a_load_error_and_later_edits_still_load(
        steward: Steward, client, desired_dir: Path, monkeypatch) -> None:
    from app.reconcile import reconciler
    from app.telemetry import metrics

    write_state(desired_dir, "services:\n  a: {category: ai, image: x}\n")
    assert steward.reconciler.load_desired() is None
    before = metrics.LOAD_ERRORS._value.get()

    def explode(*args, **kwargs):
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(reconciler, "load_directory", explode)
    write_state(desired_dir, "services:\n  a: {category: ai, image: y}\n")
    error = steward.reconciler.load_desired()
    assert error == ("loading the desired state failed: RecursionError: maximum recursion "
                     "depth exceeded")
    assert metrics.LOAD_ERRORS._value.get() == before + 1
    assert client.get("/api/system/desired-state").get_json()["last_error"] == error
    monkeypatch.undo()
    write_state(desired_dir, "services:\n  a: {category: ai, image: z}\n")
    assert steward.reconciler.load_desired() is None, "the next edit loads again"
