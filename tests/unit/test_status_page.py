"""The status page on a real database, without Docker or a browser: forms, CSRF, feed.

The same pages run in Chromium against a live server in tests/integration/test_status_page.py.
"""
from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.steward import Steward
from app.store.models import RuntimeState
from app.web.format import duration, spec_yaml

pytestmark = pytest.mark.usefixtures("fleet")


def token(client: FlaskClient, path: str = "/") -> str:
    html = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)


def test_the_fleet_page_lists_every_category_and_service(client: FlaskClient) -> None:
    html = client.get("/").get_data(as_text=True)
    assert [h for h in re.findall(r'<h2 id="heading-[a-z]+">([^<]+)</h2>', html)] == \
        ["Infrastructure", "AI", "Monitoring"]
    for name in ("postgres", "rtdetr", "nemotron"):
        assert f'id="service-{name}"' in html
    assert '<a href="/api/docs">API docs</a>' in html
    assert re.search(r'data-service="nemotron" data-status="stopped"', html)


def test_buttons_the_api_would_refuse_are_disabled(client: FlaskClient) -> None:
    html = client.get("/").get_data(as_text=True)
    start_postgres = re.search(r'<button[^>]*aria-label="Start postgres"[^>]*>', html).group(0)
    assert 'aria-disabled="true"' in start_postgres, "start on a running service answers 400"
    assert '<span class="why-not" id="why-postgres-start">Start is not possible: ' \
           'already running or starting</span>' in html
    start_nemotron = re.search(r'<button[^>]*aria-label="Start Nemotron LLM"[^>]*>', html)
    assert "aria-disabled" not in start_nemotron.group(0)


def test_a_post_without_the_csrf_token_is_rejected_and_changes_nothing(
        steward: Steward, client: FlaskClient) -> None:
    answer = client.post("/services/postgres/stop", data={"confirm": "yes"})
    assert answer.status_code == 400
    assert "CSRF check failed" in answer.get_data(as_text=True)
    with steward.store.reader() as session:
        assert not session.get(RuntimeState, "postgres").manually_stopped


@pytest.mark.parametrize("headers", [{"Origin": "https://evil.example"},
                                     {"Sec-Fetch-Site": "cross-site"}, {"Origin": "null"}])
def test_state_changes_from_another_site_are_refused_for_the_api_too(
        steward: Steward, client: FlaskClient, headers: dict) -> None:
    answer = client.post("/api/system/services/postgres/disable", headers=headers)
    assert (answer.status_code, answer.get_json()["detail"]) == (
        403, "Cross-site request refused: actions must come from Steward's own page or a "
             "client")
    with steward.store.reader() as session:
        assert session.get(RuntimeState, "postgres").enabled
    same_site = client.post("/api/system/services/postgres/disable",
                            headers={"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"})
    assert same_site.status_code == 200


def test_restart_stop_and_disable_ask_first(client: FlaskClient) -> None:
    csrf = token(client)
    answer = client.post("/services/postgres/restart", data={"csrf_token": csrf})
    assert answer.status_code == 200
    html = answer.get_data(as_text=True)
    assert "<h1>Restart postgres?</h1>" in html and 'name="confirm" value="yes"' in html


def test_a_confirmed_action_redirects_with_a_flash(steward: Steward,
                                                  client: FlaskClient) -> None:
    csrf = token(client)
    answer = client.post("/services/postgres/stop", data={"csrf_token": csrf, "confirm": "yes"})
    assert (answer.status_code, answer.headers["Location"]) == (303, "/")
    assert "Service &#39;postgres&#39; stop initiated" in client.get("/").get_data(as_text=True)
    with steward.store.reader() as session:
        assert session.get(RuntimeState, "postgres").manually_stopped


def test_the_script_gets_json_and_refusals_keep_their_reason(client: FlaskClient) -> None:
    csrf = token(client)
    headers = {"Accept": "application/json"}
    answer = client.post("/services/postgres/start", headers=headers,
                         data={"csrf_token": csrf, "confirm": "yes"})
    assert (answer.status_code, answer.get_json()) == (
        400, {"ok": False, "message": "Service 'postgres' is already running"})
    answer = client.post("/services/nope/enable", headers=headers, data={"csrf_token": csrf})
    assert (answer.status_code, answer.get_json()["message"]) == \
        (404, "Service 'nope' not found")


def test_no_confirmation_page_for_a_service_that_does_not_exist(client: FlaskClient) -> None:
    answer = client.post("/services/nope/restart", data={"csrf_token": token(client)},
                         headers={"Accept": "application/json"})
    assert (answer.status_code, answer.get_json()["message"]) == (404, "Service 'nope' not found")


def test_unknown_pages_answer_404_in_html(client: FlaskClient) -> None:
    answer = client.get("/services/nope")
    assert answer.status_code == 404 and "Service &#39;nope&#39; not found" in \
        answer.get_data(as_text=True)
    csrf = token(client)
    assert client.post("/services/postgres/explode", data={"csrf_token": csrf}).status_code \
        == 404


def test_the_stream_needs_the_feed_running(client: FlaskClient) -> None:
    answer = client.get("/api/system/stream")
    assert (answer.status_code, answer.get_json()["detail"]) == \
        (503, "Live updates are not running here; the page refreshes instead")


def test_the_stream_is_bounded(app: Flask, client: FlaskClient) -> None:
    feed = app.extensions["steward_feed"]
    feed.start()
    taken = 0
    while feed.open_stream():
        taken += 1
    try:
        answer = client.get("/api/system/stream")
        assert answer.status_code == 503
        assert answer.get_json()["detail"] == "Too many live pages; this one refreshes instead"
    finally:
        for _ in range(taken):
            feed.close_stream()
        feed.stop()
    assert taken == app.config["MAX_STREAMS"]


def test_the_feed_sends_only_what_changed(app: Flask, steward: Steward) -> None:
    feed = app.extensions["steward_feed"]
    feed.refresh()
    first = feed.changes_since(0)
    assert set(first.rows) == {"postgres", "rtdetr", "nemotron"} and first.summary
    feed.refresh()
    assert feed.changes_since(first.version).rows == {}, "uptime ticking is not a change"
    with steward.store.session() as session:
        session.get(RuntimeState, "postgres").enabled = False
    feed.refresh()
    changes = feed.changes_since(first.version)
    assert set(changes.rows) == {"postgres"} and 'data-status="off"' in \
        changes.rows["postgres"], "an operator's disable shows as off, apart from failures"
    assert changes.summary is not None and changes.banners is None
    assert feed.seen_version(feed.position()) == changes.version
    assert feed.seen_version(f"0ther:{changes.version}") == 0, \
        "a page from before a restart of Steward gets everything"


@pytest.mark.parametrize("seconds, text", [(None, "—"), (0, "0s"), (59, "59s"), (61, "1m 1s"),
                                           (3600 * 5 + 120, "5h 2m"), (86400 * 3 + 7200, "3d 2h")])
def test_durations_read_at_a_glance(seconds: int | None, text: str) -> None:
    assert duration(seconds) == text


def test_secret_looking_values_are_masked() -> None:
    text = spec_yaml({"name": "x", "image": "i", "environment": [
        ["API_TOKEN", "t0k"], ["DB_PASSWORD", "pw1"], ["MODE", "fast"],
        ["DATABASE_URL", "postgres://app:s3cret@db/app"], ["SENTRY", "https://k3y@sentry/1"]],
        "command": ["serve", "--password=hunter2", "--port=80"], "ports": []})
    for secret in ("t0k", "pw1", "s3cret", "k3y", "hunter2"):
        assert secret not in text
    assert "API_TOKEN: '********'" in text and "MODE: fast" in text and "ports" not in text
    assert "postgres://app:********@db/app" in text and "--port=80" in text


def test_the_page_lists_pending_changes_from_the_latest_observation(
        steward: Steward, client: FlaskClient) -> None:
    assert "pending change" not in client.get("/").get_data(as_text=True)
    steward.reconciler.last_observed = ()  # Docker was looked at: no containers at all
    html = client.get("/").get_data(as_text=True)
    assert "3 pending change(s): what the next pass will do" in html
    assert "<code>+ create postgres: no container</code>" in html
    plan = client.get("/api/system/plan").get_json()
    assert (plan["changes"], plan["counts"]["create"]) == (True, 3)


def test_the_spec_is_shown_as_written_with_secrets_masked(steward: Steward, desired_dir,
                                                          client: FlaskClient) -> None:
    (desired_dir / "extra.yaml").write_text(
        "services:\n"
        "  # the search index\n"
        "  search:\n"
        "    category: ai\n"
        "    image: search:1\n"
        "    environment: {API_TOKEN: t0ken, MODE: fast}\n"
        "    command: [serve, --password=hunter2]\n"
        "    restart_policy: {backoff_base: 5s}\n"
        "  other:\n"
        "    category: ai\n"
        "    image: other:1\n"
        "    environment:\n"
        "      DB_PASSWORD: pw-123\n"
        "      URL: postgres://app:s3cret@db/app\n")
    assert steward.reconciler.load_desired() is None
    html = client.get("/services/search").get_data(as_text=True)
    for secret in ("t0ken", "hunter2"):
        assert secret not in html
    assert "restart_policy: {backoff_base: 5s}" in html, "as written: units and flow style"
    assert "MODE: fast" in html and "other:" not in html.split("Spec as written")[1] \
        .split("</pre>")[0], "only this service's block"
    html = client.get("/services/other").get_data(as_text=True)
    assert "pw-123" not in html and "s3cret" not in html and "DB_PASSWORD: ********" in html


def test_off_is_planned_and_a_restart_in_flight_is_starting_not_stopped(
        steward: Steward, client: FlaskClient) -> None:
    from app.domain.clock import utcnow
    from app.operations.read_model import get_service
    from app.web.view import headline, make_row, reasons, shown_status

    with steward.store.session() as session:
        session.get(RuntimeState, "nemotron").manually_stopped = True
        rtdetr = session.get(RuntimeState, "rtdetr")
        rtdetr.container_state = None  # just restarted: not yet looked at again
        rtdetr.last_failure = "exit code 143"
    with steward.store.reader() as session:
        nemotron, rtdetr, postgres = (get_service(session, n, utcnow())
                                      for n in ("nemotron", "rtdetr", "postgres"))
    assert (shown_status(nemotron), shown_status(rtdetr)) == ("off", "starting")
    assert not any("143" in line for line in reasons(rtdetr)), "no stale reason"
    head = headline([make_row(s, None) for s in (nemotron, rtdetr, postgres)])
    assert (head.title, head.level) == ("1/2 healthy · Steward", "wait")
    body = client.get("/api/system/services").get_json()
    assert body["by_category"]["ai"] == {"total": 2, "healthy": 0, "unhealthy": 2}, \
        "the contract's counts do not know about off"


def test_filters_come_from_the_url_and_never_fail(client: FlaskClient) -> None:
    html = client.get("/?q=NEMO&status=attention&sort=bogus&dir=up").get_data(as_text=True)
    assert re.search(r'<tr id="service-nemotron"[^>]*data-status="stopped"[^>]*>', html)
    assert '<tr hidden id="service-postgres"' in html
    assert "1 of 3 services shown" in html
    html = client.get("/?sort=status").get_data(as_text=True)
    order = re.findall(r'<tr id="service-([a-z]+)"', html)
    assert order.index("nemotron") < order.index("rtdetr"), "worst first"


def test_category_actions_ask_first_and_name_the_services(client: FlaskClient) -> None:
    csrf = token(client)
    html = client.post("/categories/ai/restart", data={"csrf_token": csrf}) \
        .get_data(as_text=True)
    assert "Restart all 2 enabled AI services?" in html
    assert "These restart: Nemotron LLM, RT-DETR Object Detection." in html
    refused = client.post("/categories/ai/pause", data={"csrf_token": csrf, "duration": "5"})
    assert refused.status_code == 400 and "Pause for how long?" in refused.get_data(as_text=True)
    assert client.post("/categories/gpu/restart", data={"csrf_token": csrf}).status_code == 404
    done = client.post("/categories/ai/pause", data={"csrf_token": csrf, "duration": "900",
                                                     "confirm": "yes"})
    assert done.status_code == 303
    assert client.get("/api/system/services/rtdetr").get_json()["paused_until"]


def test_the_api_document_has_real_examples_and_the_stream(client: FlaskClient) -> None:
    doc = client.get("/api/openapi.json").get_json()
    stream = doc["paths"]["/api/system/stream"]["get"]
    assert "event: fleet" in stream["responses"]["200"]["content"]["text/event-stream"][
        "example"]
    for path in ("/api/system/services/{name}", "/api/system/pauses", "/api/system/events",
                 "/api/system/services/{name}/pause", "/api/system/categories/{category}/pause"):
        for operation in doc["paths"][path].values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            for code, response in operation["responses"].items():
                content = response.get("content", {}).get("application/json")
                if content is not None:
                    assert "example" in content, f"{path} {code}"
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            assert body is None or "example" in body, path
    not_found = doc["paths"]["/api/system/services/{name}"]["get"]["responses"]["404"]
    assert not_found["content"]["application/json"]["example"]["detail"] == \
        "Service 'nope' not found", "real messages, not placeholders"
    detail = client.get("/api/system/services/rtdetr").get_json()
    example = doc["paths"]["/api/system/services/{name}"]["get"]["responses"]["200"][
        "content"]["application/json"]["example"]
    assert set(detail) - {"tasks"} <= set(example), "the example has the answer's fields"
