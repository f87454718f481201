"""The self-healing endpoints on a real database, without Docker: events, pauses, detail."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from flask.testing import FlaskClient

from app.steward import Steward
from app.store.events import record_event
from app.store.models import RuntimeState

pytestmark = pytest.mark.usefixtures("fleet")
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
#: Later than the "added" events loading the fleet wrote, so `since` can leave those out.
LATER = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(hours=1)


def at(minute: int) -> str:
    return (LATER + timedelta(minutes=minute)).strftime("%Y-%m-%dT%H:%M:%SZ")


def add_events(steward: Steward) -> None:
    with steward.store.session() as session:
        for minute, (service, kind) in enumerate([("postgres", "start"), ("rtdetr", "restart"),
                                                  ("postgres", "backoff"), (None, "engine-up")]):
            record_event(session, service=service, kind=kind, message=f"{kind} happened",
                         at=LATER + timedelta(minutes=minute))


class TestEvents:
    def test_events_are_listed_newest_first(self, steward: Steward,
                                            client: FlaskClient) -> None:
        add_events(steward)
        events = client.get("/api/system/events").get_json()["events"]
        assert [e["kind"] for e in events[:4]] == ["engine-up", "backoff", "restart", "start"]
        assert list(events[0]) == ["id", "at", "service", "kind", "message", "actor", "origin"]
        assert events[0]["at"] == at(3) and events[0]["service"] is None

    @pytest.mark.parametrize("query, kinds", [
        ({"service": "postgres"}, ["backoff", "start"]),
        ({"since": at(2)}, ["engine-up", "backoff"]),
        ({"service": "postgres", "since": at(1).replace("Z", "+00:00")}, ["backoff"]),
        ({"kind": "restart"}, ["restart"]),
        ({"limit": 2}, ["engine-up", "backoff"]),
    ])
    def test_filters(self, steward: Steward, client: FlaskClient, query: dict,
                     kinds: list[str]) -> None:
        add_events(steward)
        query.setdefault("since", at(0))
        events = client.get("/api/system/events", query_string=query).get_json()["events"]
        assert [e["kind"] for e in events] == kinds

    @pytest.mark.parametrize("query, detail", [
        ({"limit": 0}, "Invalid query parameter 'limit': Must be greater than or equal to 1 "
                       "and less than or equal to 1000."),
        ({"since": "yesterday"}, "Invalid query parameter 'since': Not a valid datetime."),
        ({"since": "2026-01-01T12:00:00"}, "Invalid query parameter 'since': "
                                          "Not a valid aware datetime."),
        ({"since": "0001-01-01T00:00:00+01:00"}, "Invalid query parameter 'since': "
                                                "Not a time Steward can store."),
    ])
    def test_bad_filters_are_rejected_with_a_reason(self, client: FlaskClient, query: dict,
                                                    detail: str) -> None:
        answer = client.get("/api/system/events", query_string=query)
        assert answer.status_code == 422 and answer.get_json()["detail"] == detail


class TestPauses:
    def test_a_service_pause_shows_in_its_detail_and_can_be_ended(
            self, client: FlaskClient) -> None:
        answer = client.post("/api/system/services/postgres/pause",
                             json={"duration": "30m", "reason": "vacuum"})
        assert answer.status_code == 200
        pause = answer.get_json()["pause"]
        assert (pause["scope"], pause["target"], pause["reason"], pause["actor"]) == \
            ("service", "postgres", "vacuum", "api")
        detail = client.get("/api/system/services/postgres").get_json()
        assert (detail["paused_until"], detail["pause_reason"]) == (pause["until"], "vacuum")
        assert detail["events"][0]["kind"] == "paused"
        assert client.post("/api/system/services/postgres/resume").get_json()["message"] == \
            "Self-healing of service 'postgres' resumed"
        assert client.get("/api/system/services/postgres").get_json()["paused_until"] is None

    def test_a_category_pause_covers_its_services_only(self, client: FlaskClient) -> None:
        until = (datetime.now(timezone.utc) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert client.post("/api/system/categories/ai/pause",
                           json={"until": until}).status_code == 200
        assert client.get("/api/system/services/rtdetr").get_json()["paused_until"] == until
        assert client.get("/api/system/services/postgres").get_json()["paused_until"] is None
        assert [p["target"] for p in client.get("/api/system/pauses").get_json()["pauses"]] \
            == ["ai"]

    @pytest.mark.parametrize("path, body, code, detail", [
        ("services/nope/pause", {"duration": "1m"}, 404, "Service 'nope' not found"),
        ("categories/gpu/pause", {"duration": "1m"}, 404,
         "Category 'gpu' not found; one of: infrastructure, ai, monitoring"),
        ("services/postgres/pause", {}, 422,
         "Invalid json parameter '_schema': give either until (a time) or duration (e.g. 30m)"),
        ("services/postgres/pause", {"duration": "1m", "until": "2030-01-01T00:00:00Z"}, 422,
         "Invalid json parameter '_schema': give either until (a time) or duration (e.g. 30m)"),
        ("services/postgres/pause", {"duration": "8d"}, 422,
         "Invalid json parameter 'duration': '8d' is not a duration; use e.g. 10s, 500ms, 2m "
         "or a number of seconds"),
        ("services/postgres/pause", {"duration": "200h"}, 422,
         "Invalid json parameter 'duration': must be more than 0s and at most 7 days"),
        ("services/postgres/pause", {"until": "2020-01-01T00:00:00Z"}, 400,
         "until must be in the future"),
        ("services/postgres/pause", {"until": "2099-01-01T00:00:00Z"}, 400,
         "a pause may last at most 7 days; pause again to extend it"),
        ("services/postgres/pause", {"until": "9999-12-31T23:59:59-01:00"}, 422,
         "Invalid json parameter 'until': Not a time Steward can store."),
        ("services/postgres/pause", {"duration": "1m", "docker": {"privileged": True}}, 422,
         "Invalid json parameter 'docker': Unknown field."),
    ])
    def test_bad_pauses_are_rejected_with_a_reason(self, client: FlaskClient, path: str,
                                                   body: dict, code: int, detail: str) -> None:
        answer = client.post(f"/api/system/{path}", json=body)
        assert (answer.status_code, answer.get_json()["detail"]) == (code, detail)


def test_the_detail_says_why_a_service_waits_and_when_it_restarts(
        steward: Steward, client: FlaskClient) -> None:
    with steward.store.session() as session:
        row = session.get(RuntimeState, "rtdetr")
        row.failure_count, row.last_failure, row.last_failure_at = 2, "exit code 137 (OOM killed)", T0
        row.wait_kind, row.wait_until = "backoff", T0 + timedelta(seconds=10)
        row.wait_reason = "backoff after 2 failure(s); last: exit code 137 (OOM killed)"
        row.flapping_at = datetime.now(timezone.utc)
    detail = client.get("/api/system/services/rtdetr").get_json()
    assert (detail["last_failure"], detail["last_failure_at"], detail["next_restart_at"]) == \
        ("exit code 137 (OOM killed)", "2026-01-01T12:00:00Z", "2026-01-01T12:00:10Z")
    assert (detail["waiting_for"], detail["flapping"]) == ("backoff", True)
