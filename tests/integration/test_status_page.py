"""The status page in Debian's headless Chromium, on a live server with real containers."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import docker
import pytest
import requests
from playwright.sync_api import Browser, Page, expect

from tests.conftest import ROOT
from tests.helpers import (
    containers_of,
    free_port,
    kill_main_process,
    service,
    write_state,
)
from tests.integration.conftest import LiveServer, wait_for

SCREENSHOTS = ROOT / "docs" / "screenshots"
SLOW_START = ('["sh", "-c", "sleep 2; mkdir -p /www && echo ok > /www/health '
              '&& exec httpd -f -p 8080 -h /www"]')


@pytest.fixture
def page(desk: Page) -> Page:
    return desk


def web_service(name: str, image: str, port: int, **extra: str) -> str:
    return service(name, image, SLOW_START, ports=f'["{port}:8080"]',
                   healthcheck="{http: {path: /health}, interval: 0.5s, timeout: 1s, "
                               "start_period: 5s}", **extra)


def badge_history(page: Page, name: str) -> list[str]:
    return page.evaluate("name => window.history_of[name]", name)


def watch_badges(page: Page) -> None:
    """Record every status a row shows, as the live updates swap it in."""
    page.evaluate("""() => {
        window.history_of = {};
        const note = () => document.querySelectorAll("tr[data-service]").forEach((row) => {
            const seen = (window.history_of[row.dataset.service] ||= []);
            if (seen.at(-1) !== row.dataset.status) seen.push(row.dataset.status);
        });
        note();
        new MutationObserver(note).observe(document.body, {subtree: true, childList: true});
        window.not_reloaded = true;
    }""")


def test_a_restart_shows_starting_then_running_without_a_reload(
        make_server: Callable[..., LiveServer], desired_dir: Path, test_image: str,
        page: Page) -> None:
    write_state(desired_dir, "services:\n" + web_service("web", test_image, free_port()))
    server = make_server()
    wait_for(lambda: server.service("web")["status"] == "running", what="web running")
    page.goto(server.url)
    expect(page.locator("#live")).to_be_visible()
    watch_badges(page)

    page.get_by_role("button", name="Restart web").click()
    expect(page.locator("#feedback-web")).to_have_text("Service 'web' restart initiated")
    expect(page.locator("#toast")).to_have_text("Service 'web' restart initiated")
    expect(page.locator("#service-web")).to_have_attribute("data-status", "starting")
    expect(page.locator("#service-web")).to_have_attribute("data-status", "running",
                                                           timeout=20_000)
    assert badge_history(page, "web")[-2:] == ["starting", "running"]
    assert page.evaluate("window.not_reloaded"), "the page updated in place"
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == "Restart web", \
        "keyboard focus stays on the button through live updates"
    expect(page.locator("#announcer")).to_have_text("web is now running")
    expect(page.locator("#service-web td.counts .num").nth(1)).to_have_text("1")


def test_a_container_killed_from_outside_changes_its_badge_live(
        make_server: Callable[..., LiveServer], desired_dir: Path, test_image: str,
        docker_client: docker.DockerClient, instance: str, page: Page) -> None:
    write_state(desired_dir, "services:\n" + service("db", test_image, '["sleep", "3600"]',
                                                      category="infrastructure"))
    server = make_server()
    wait_for(lambda: server.service("db")["status"] == "running", what="db running")
    server.post("/api/system/services/db/pause", json={"duration": "5m",
                                                        "reason": "browser test"})
    page.goto(server.url)
    expect(page.locator("#live")).to_be_visible()
    watch_badges(page)
    expect(page.locator("#summary [data-category=infrastructure] [data-count=healthy]")) \
        .to_have_text("1")

    kill_main_process(containers_of(docker_client, instance)["db"])
    expect(page.locator("#service-db")).to_have_attribute("data-status", "stopped")
    expect(page.locator("#summary [data-category=infrastructure] [data-count=attention]")) \
        .to_have_text("1")
    expect(page.locator("#service-db .why")).to_contain_text("self-healing paused")
    assert page.evaluate("window.not_reloaded")


def test_a_form_with_a_forged_csrf_token_is_rejected(
        make_server: Callable[..., LiveServer], desired_dir: Path, test_image: str,
        docker_client: docker.DockerClient, instance: str, page: Page) -> None:
    write_state(desired_dir, "services:\n" + service("worker", test_image, '["sleep", "3600"]'))
    server = make_server()
    wait_for(lambda: server.service("worker")["status"] == "running", what="worker running")
    page.goto(server.url)
    page.evaluate("""() => {
        const form = document.querySelector('form[action="/services/worker/stop"]');
        form.querySelector('input[name=csrf_token]').value = 'forged';
        form.insertAdjacentHTML('beforeend', '<input type=hidden name=confirm value=yes>');
        form.submit();  // a plain post, as another site would send it
    }""")
    expect(page.locator("[role=alert]")).to_contain_text("CSRF check failed")
    time.sleep(1)
    assert containers_of(docker_client, instance)["worker"].status == "running"
    assert "stop-requested" not in [e["kind"] for e in server.service("worker")["events"]]


def test_markup_in_a_display_name_is_shown_as_text(
        make_server: Callable[..., LiveServer], desired_dir: Path, test_image: str,
        page: Page) -> None:
    evil = "<script>window.pwned = 1</script><b>Evil</b>"
    write_state(desired_dir, "services:\n" + service(
        "evil", test_image, '["sleep", "3600"]', display_name=f"'{evil}'"))
    server = make_server()
    wait_for(lambda: server.service("evil")["status"] == "running", what="evil running")
    page.goto(server.url)
    expect(page.locator("#service-evil th a")).to_have_text(evil)
    server.post("/api/system/services/evil/restart")  # and again through a live update
    expect(page.locator("#service-evil td.counts .num").nth(1)).to_have_text("1")
    expect(page.locator("#service-evil th a")).to_have_text(evil)
    page.goto(f"{server.url}/services/evil")
    expect(page.locator("h1")).to_contain_text(evil)
    assert page.evaluate("window.pwned") is None


def test_without_javascript_forms_confirm_post_redirect_and_flash(
        make_server: Callable[..., LiveServer], desired_dir: Path, test_image: str,
        docker_client: docker.DockerClient, instance: str, browser: Browser) -> None:
    write_state(desired_dir, "services:\n" + service("worker", test_image, '["sleep", "3600"]'))
    server = make_server()
    wait_for(lambda: server.service("worker")["status"] == "running", what="worker running")
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(server.url)
        assert page.locator('meta[http-equiv=refresh]').count() == 1
        page.locator("#service-worker summary").click()  # the menu opens without a script
        expect(page.get_by_role("button", name="Start worker", exact=True)).to_be_disabled()
        page.get_by_role("button", name="Stop worker", exact=True).click()
        expect(page.locator("h1")).to_have_text("Stop worker?")
        page.get_by_role("button", name="Yes, stop worker").click()
        expect(page).to_have_url(f"{server.url}/")
        expect(page.locator(".flash--success")).to_have_text("Service 'worker' stop initiated")
        wait_for(lambda: containers_of(docker_client, instance)["worker"].status == "exited",
                 what="the worker to stop")
        page.goto(server.url)
        page.get_by_role("button", name="Start worker", exact=True).click()
        expect(page.locator(".flash--success")).to_have_text("Service 'worker' start initiated")
    finally:
        context.close()


def test_the_service_page_shows_spec_drift_events_and_escaped_logs(
        make_server: Callable[..., LiveServer], desired_dir: Path, test_image: str,
        page: Page) -> None:
    write_state(desired_dir, "services:\n" + service(
        "api", test_image, '["sh", "-c", "echo \'<b>ready</b>\'; exec sleep 3600"]',
        environment="{DB_PASSWORD: hunter2, MODE: fast}"))
    server = make_server()
    wait_for(lambda: server.service("api")["status"] == "running", what="api running")
    page.goto(f"{server.url}/services/api")
    spec = page.locator("pre.spec").first
    expect(spec).to_contain_text("DB_PASSWORD: ********, MODE: fast")  # as written
    page.get_by_text("Normalised, as Steward reads it").click()
    expect(page.locator("pre.spec").nth(1)).to_contain_text("DB_PASSWORD: '********'")
    expect(spec).to_contain_text("MODE: fast")
    assert "hunter2" not in page.content()
    expect(page.locator(".logs")).to_contain_text("<b>ready</b>")
    expect(page.locator(".events")).to_contain_text("create")
    expect(page.locator(".facts")).to_contain_text("none: the container matches the file")


def test_banners_for_an_unreachable_engine_and_invalid_files(
        make_server: Callable[..., LiveServer], desired_dir: Path, tmp_path: Path,
        test_image: str, page: Page) -> None:
    write_state(desired_dir, "services:\n" + service("worker", test_image, '["sleep", "3600"]'))
    server = make_server(DOCKER_HOST=f"unix://{tmp_path / 'no-docker.sock'}")
    page.goto(server.url)
    expect(page.locator(".banner--engine")).to_contain_text("Docker engine unreachable")
    write_state(desired_dir, "services:\n  worker:\n    category: gpu\n    image: x\n",
                name="broken.yaml")
    expect(page.locator(".banner--desired-state")).to_contain_text(
        "broken.yaml:3: services.worker.category: must be one of", timeout=15_000)
    expect(page.locator(".banner--desired-state h2")).to_contain_text("stays in force")


def test_screenshots_for_the_readme(make_server: Callable[..., LiveServer], desired_dir: Path,
                                    test_image: str, browser: Browser) -> None:
    """Desktop and phone screenshots of a fleet in several states (embedded in README)."""
    write_state(desired_dir, "services:\n"
                + service("postgres", test_image, '["sleep", "3600"]', category="infrastructure",
                          display_name="PostgreSQL")
                + service("redis", test_image, '["sleep", "3600"]', category="infrastructure",
                          display_name="Redis cache")
                + web_service("llm", test_image, free_port(), display_name="LLM server")
                + service("detector", test_image, '["sh", "-c", "exit 137"]',
                          display_name="Object detection",
                          restart_policy="{max_failures: 2, backoff_base: 0.2s, backoff_max: 0.2s}")
                + service("grafana", test_image, '["sleep", "3600"]', category="monitoring",
                          display_name="Grafana"))
    server = make_server()
    wait_for(lambda: server.service("detector")["status"] == "disabled"
             and server.service("llm")["status"] == "running", timeout=30,
             what="a fleet with a disabled service")
    server.post("/api/system/services/grafana/stop")
    wait_for(lambda: server.service("grafana")["status"] == "stopped", what="grafana stopped")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for name, viewport in (("desktop", {"width": 1280, "height": 800}),
                           ("phone", {"width": 390, "height": 844})):
        context = browser.new_context(viewport=viewport)
        page = context.new_page()
        page.goto(server.url)
        expect(page.locator("#live")).to_be_visible()
        page.screenshot(path=str(SCREENSHOTS / f"status-{name}.png"), full_page=True)
        context.close()
        assert (SCREENSHOTS / f"status-{name}.png").stat().st_size > 10_000


def test_live_streams_are_bounded_beat_and_end_cleanly_on_shutdown(
        make_server: Callable[..., LiveServer], desired_dir: Path, test_image: str) -> None:
    write_state(desired_dir, "services:\n" + service("worker", test_image, '["sleep", "3600"]'))
    server = make_server(STEWARD_MAX_STREAMS="2", STEWARD_STREAM_HEARTBEAT="0.5")
    streams = [requests.get(f"{server.url}/api/system/stream", stream=True, timeout=10)
               for _ in range(2)]
    try:
        assert [s.status_code for s in streams] == [200, 200]
        received = []
        for line in streams[0].iter_lines(decode_unicode=True):  # bounded by the read timeout
            received.append(line)
            if line == ": heartbeat":
                break
        assert received[:3] == ["retry: 1000", "", "event: fleet"]
        assert received[-1] == ": heartbeat", "an idle stream beats"
        extra = requests.get(f"{server.url}/api/system/stream", timeout=10)
        assert (extra.status_code, extra.json()["detail"]) == \
            (503, "Too many live pages; this one refreshes instead")
        assert server.get("/api/system/services").status_code == 200, \
            "the API still answers while every stream slot is taken"
        process = server.process
        server.stop()
        assert process.returncode == 0, "Steward stopped on SIGTERM without being killed"
    finally:
        for stream in streams:
            stream.close()
