"""The Services API on a real database, without Docker: fields, rules and error bodies.

The store is filled the way the reconciler fills it; the same endpoints are exercised against
a live server and real containers in tests/integration.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Iterator

import pytest
from flask.testing import FlaskClient
from jsonschema import Draft4Validator

from app.steward import Steward
from app.store.models import RuntimeState
from app.store.runtime import set_engine_status

CONTRACT_FIELDS = ["name", "display_name", "category", "status", "enabled", "container_id",
                   "image", "port", "failure_count", "restart_count", "last_restart_at",
                   "uptime_seconds"]
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def test_list_has_exactly_the_contract_fields(fleet: Steward, client: FlaskClient) -> None:
    body = client.get("/api/system/services").get_json()
    assert list(body) == ["services", "by_category", "timestamp"]
    assert [s["name"] for s in body["services"]] == ["postgres", "nemotron", "rtdetr"]
    rtdetr = body["services"][2]
    assert list(rtdetr) == CONTRACT_FIELDS
    assert rtdetr["display_name"] == "RT-DETR Object Detection"
    assert rtdetr["status"] == "running" and rtdetr["container_id"] == "rtdetr012345"
    assert rtdetr["port"] == 8001 and 99 <= rtdetr["uptime_seconds"] <= 120
    assert body["services"][1]["status"] == "stopped"
    assert body["services"][1]["uptime_seconds"] is None
    assert body["timestamp"].endswith("Z")


def test_by_category_always_holds_all_three(fleet: Steward, client: FlaskClient) -> None:
    body = client.get("/api/system/services", query_string={"category": "ai"}).get_json()
    assert [s["category"] for s in body["services"]] == ["ai", "ai"]
    assert body["by_category"] == {
        "infrastructure": {"total": 1, "healthy": 1, "unhealthy": 0},
        "ai": {"total": 2, "healthy": 1, "unhealthy": 1},
        "monitoring": {"total": 0, "healthy": 0, "unhealthy": 0},
    }


def test_unknown_category_is_a_clear_422(fleet: Steward, client: FlaskClient) -> None:
    response = client.get("/api/system/services", query_string={"category": "gpu"})
    assert response.status_code == 422
    assert response.get_json()["detail"] == (
        "Invalid query parameter 'category': must be one of: infrastructure, ai, monitoring")


def test_restart_resets_failures_and_answers_starting(fleet: Steward,
                                                      client: FlaskClient) -> None:
    with fleet.store.session() as session:
        session.get(RuntimeState, "rtdetr").failure_count = 3
    response = client.post("/api/system/services/rtdetr/restart")
    body = response.get_json()
    assert response.status_code == 200
    assert body["success"] is True
    assert body["message"] == "Service 'rtdetr' restart initiated"
    service = body["service"]
    assert (service["status"], service["failure_count"], service["restart_count"]) == \
        ("starting", 0, 1)
    assert service["last_restart_at"].endswith("Z") and service["uptime_seconds"] is None


@pytest.mark.parametrize("prepare, action, code, detail", [
    ("disable", "restart", 400, "Service 'rtdetr' is disabled; enable it before restarting"),
    (None, "start", 400, "Service 'rtdetr' is already running"),
    ("disable", "start", 400, "Service 'rtdetr' is disabled; enable it to start it"),
    (None, "frobnicate", 404, None),
])
def test_actions_that_do_not_fit_are_rejected(fleet: Steward, client: FlaskClient,
                                              prepare: str | None, action: str, code: int,
                                              detail: str | None) -> None:
    if prepare:
        assert client.post(f"/api/system/services/rtdetr/{prepare}").status_code == 200
    response = client.post(f"/api/system/services/rtdetr/{action}")
    assert response.status_code == code
    assert response.is_json and isinstance(response.get_json()["detail"], str)
    if detail:
        assert response.get_json()["detail"] == detail


@pytest.mark.parametrize("action", ["restart", "start", "stop", "enable", "disable"])
def test_unknown_service_is_404_with_detail(fleet: Steward, client: FlaskClient,
                                            action: str) -> None:
    response = client.post(f"/api/system/services/nope/{action}")
    assert response.status_code == 404
    assert response.get_json()["detail"] == "Service 'nope' not found"


def test_disable_then_enable(fleet: Steward, client: FlaskClient) -> None:
    with fleet.store.session() as session:
        session.get(RuntimeState, "nemotron").failure_count = 5
    disabled = client.post("/api/system/services/nemotron/disable").get_json()
    assert disabled["message"] == "Service 'nemotron' disabled"
    assert (disabled["service"]["status"], disabled["service"]["enabled"]) == ("disabled", False)
    enabled = client.post("/api/system/services/nemotron/enable").get_json()
    assert enabled["message"] == "Service 'nemotron' enabled"
    assert (enabled["service"]["status"], enabled["service"]["enabled"],
            enabled["service"]["failure_count"]) == ("stopped", True, 0)


@pytest.mark.parametrize("method, url", [
    ("get", "/api/system/services"),
    ("post", "/api/system/services/rtdetr/restart"),
    ("post", "/api/system/services/nemotron/start"),
    ("post", "/api/system/services/rtdetr/stop"),
    ("post", "/api/system/services/rtdetr/enable"),
    ("post", "/api/system/services/rtdetr/disable"),
])
def test_engine_unreachable_is_503_and_changes_nothing(fleet: Steward, client: FlaskClient,
                                                       method: str, url: str) -> None:
    with fleet.store.session() as session:
        set_engine_status(session, reachable=False, detail="Docker engine unreachable: refused",
                          now=datetime.now(timezone.utc))
    response = getattr(client, method)(url)
    assert response.status_code == 503
    assert response.get_json()["detail"] == (
        "Container orchestrator not available: Docker engine unreachable: refused; "
        "Steward retries on its own")
    with fleet.store.reader() as session:
        row = session.get(RuntimeState, "rtdetr")
        assert (row.restart_count, row.enabled, row.manually_stopped) == (0, True, False)


def test_one_service_shows_its_events(fleet: Steward, client: FlaskClient) -> None:
    client.post("/api/system/services/rtdetr/restart")
    body = client.get("/api/system/services/rtdetr").get_json()
    assert body["events"][0]["kind"] == "restart-requested"
    assert body["events"][0]["actor"] == "api"
    assert body["source_file"].endswith("services.yaml")
    assert client.get("/api/system/services/nope").status_code == 404


def test_openapi_documents_every_endpoint_and_error(app, client: FlaskClient) -> None:
    spec = client.get("/api/openapi.json").get_json()
    paths = spec["paths"]
    expected_errors = {"restart": {"400", "404", "503"}, "start": {"400", "404", "503"},
                       "enable": {"404", "503"}, "disable": {"404", "503"}}
    for action, codes in expected_errors.items():
        responses = paths[f"/api/system/services/{{name}}/{action}"]["post"]["responses"]
        assert codes <= set(responses), action
        assert "example" in responses["200"]["content"]["application/json"]
    listing = paths["/api/system/services"]["get"]
    assert listing["parameters"][0]["name"] == "category"
    assert "503" in listing["responses"]
    error = spec["components"]["schemas"]["Error"]
    assert "detail" in error["properties"] and "detail" in error["required"]
    for url in ("/api/docs", "/api/docs/assets/swagger-ui-bundle.js"):
        with client.get(url) as response:
            assert response.status_code == 200, url


def _documented(spec: dict) -> Iterator[tuple[str, dict]]:
    """Every media type of every response (but flask-smorest's generic `default`) and every
    request body in the document, named `METHOD path status type`."""
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method not in METHODS:  # path-level `parameters`
                continue
            where = f"{method.upper()} {path}"
            for status, response in operation["responses"].items():
                if status != "default":
                    response = _resolved(spec, response)
                    assert response.get("content"), f"{where} {status} documents no body"
                    for kind, media in response["content"].items():
                        yield f"{where} {status} {kind}", media
            for kind, media in operation.get("requestBody", {}).get("content", {}).items():
                yield f"{where} body {kind}", media


def _resolved(spec: dict, node: dict) -> dict:
    while "$ref" in node:
        section, name = node["$ref"].split("/")[-2:]
        node = spec["components"][section][name]
    return node


def _json_schema(spec: dict, node: object) -> object:
    """An OpenAPI 3.0 schema as JSON Schema: references inlined, and `nullable` spelt as
    a null type (apispec writes a nullable nested schema as `anyOf: [ref, {type: object,
    nullable}]`, whose second branch can only mean null)."""
    if isinstance(node, list):
        return [_json_schema(spec, item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {k: _json_schema(spec, v) for k, v in _resolved(spec, node).items()}
    if not node.pop("nullable", False):
        return node
    if node == {"type": "object"}:
        return {"type": "null"}
    return {**node, "type": [node["type"], "null"]} if "type" in node else \
        {"anyOf": [node, {"type": "null"}]}


def test_every_body_in_the_openapi_document_has_an_example(client: FlaskClient) -> None:
    """Success, error and request bodies alike: readers of /api/docs learn the API from them."""
    spec = client.get("/api/openapi.json").get_json()
    missing = [where for where, media in _documented(spec)
               if "example" not in media and "examples" not in media]
    assert missing == []


def test_every_example_in_the_openapi_document_fits_its_schema(client: FlaskClient) -> None:
    """An example with a renamed or missing field would teach the wrong API."""
    spec = client.get("/api/openapi.json").get_json()
    checked = 0
    for where, media in _documented(spec):
        examples = [e["value"] for e in media.get("examples", {}).values()]
        validator = Draft4Validator(_json_schema(spec, media.get("schema", {})),
                                    format_checker=Draft4Validator.FORMAT_CHECKER)
        for example in examples + ([media["example"]] if "example" in media else []):
            errors = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
                      for e in validator.iter_errors(example)]
            assert errors == [], where
            checked += 1
    assert checked > 60, "the walk above found the examples"


@pytest.mark.parametrize("method, url, code", [
    ("get", "/api/system/nothing-here", 404),
    ("delete", "/api/system/services", 405),
    ("get", "/api/system/services/rtdetr/restart", 405),
])
def test_every_api_error_is_json_with_detail(fleet: Steward, client: FlaskClient, method: str,
                                             url: str, code: int) -> None:
    response = getattr(client, method)(url)
    assert response.status_code == code
    assert response.is_json and response.get_json()["detail"]


def test_a_second_restart_before_the_first_is_carried_out_is_refused(
        fleet: Steward, client: FlaskClient) -> None:
    assert client.post("/api/system/services/rtdetr/restart").status_code == 200
    again = client.post("/api/system/services/rtdetr/restart")
    assert (again.status_code, again.get_json()["detail"]) == \
        (409, "A restart of 'rtdetr' is already in progress")
    with fleet.store.session() as session:  # the pass carried it out
        session.get(RuntimeState, "rtdetr").pending_action = None
    assert client.post("/api/system/services/rtdetr/restart").status_code == 200


def test_bodies_are_bounded(client: FlaskClient) -> None:
    answer = client.post("/api/system/apply", data="{" + " " * 70_000 + "}",
                         content_type="application/json")
    assert answer.status_code == 413 and answer.get_json()["detail"]


def test_unknown_query_parameters_are_ignored_and_unknown_body_fields_refused(
        client: FlaskClient) -> None:
    assert client.get("/api/system/services?category=ai&verbose=1").status_code == 200
    answer = client.post("/api/system/services/rtdetr/pause",
                         json={"duration": "1m", "privileged": True})
    assert (answer.status_code, answer.get_json()["detail"]) == \
        (422, "Invalid json parameter 'privileged': Unknown field.")
