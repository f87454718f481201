"""Screenshots of the status page in each state an operator meets, at a phone's, a small
laptop's and a desktop's width, written to docs/screenshots/ for docs/page.md.

States: a healthy fleet, one service failing, the failure limit reached, a filter applied,
dark mode, and the Docker engine down. Each screenshot is checked for what it must show,
so a picture of a broken page fails the test.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import docker
from playwright.sync_api import Browser, Page, expect

from tests.conftest import ROOT
from tests.helpers import containers_of, kill_main_process, write_state
from tests.integration.conftest import LiveServer, free_port, wait_for

SCREENSHOTS = ROOT / "docs" / "screenshots"
WIDTHS = {"phone": 390, "laptop": 1024, "desktop": 1280}
HEALTHY_WEB = ('["sh", "-c", "mkdir -p /www && echo ok > /www/health '
               '&& exec httpd -f -p 8080 -h /www"]')


def service(name: str, image: str, command: str, category: str = "ai", **extra: str) -> str:
    lines = [f"  {name}:", f"    category: {category}", f"    image: {image}",
             "    init: true", f"    command: {command}", "    stop_grace_period: 1s"]
    return "\n".join(lines + [f"    {key}: {value}" for key, value in extra.items()]) + "\n"


def fleet(image: str) -> str:
    return ("services:\n"
            + service("postgres", image, '["sleep", "3600"]', category="infrastructure",
                      display_name="PostgreSQL")
            + service("redis", image, '["sleep", "3600"]', category="infrastructure",
                      display_name="Redis cache")
            + service("llm", image, HEALTHY_WEB, display_name="LLM server",
                      ports=f'["127.0.0.1:{free_port()}:8080"]',
                      healthcheck="{http: {path: /health}, interval: 1s, timeout: 1s}")
            + service("grafana", image, '["sleep", "3600"]', category="monitoring",
                      display_name="Grafana"))


def shoot(browser: Browser, url: str, state: str, check: Callable[[Page], None],
          scheme: str = "light") -> None:
    """One screenshot per width, each after `check` saw what the state must show."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for label, width in WIDTHS.items():
        context = browser.new_context(viewport={"width": width, "height": 900},
                                      color_scheme=scheme)
        try:
            page = context.new_page()
            page.goto(url)
            check(page)
            page.wait_for_timeout(300)  # let the live label settle
            path = SCREENSHOTS / f"{state}-{width}.png"
            page.screenshot(path=str(path), full_page=True)
            assert path.stat().st_size > 10_000, f"{path.name} looks empty"
        finally:
            context.close()


def live(page: Page) -> None:
    expect(page.locator("#live")).to_have_attribute("data-state", "on")


def test_screenshots_of_each_state(make_server: Callable[..., LiveServer], desired_dir: Path,
                                   test_image: str, docker_client: docker.DockerClient,
                                   instance: str, browser: Browser) -> None:
    write_state(desired_dir, fleet(test_image))
    server = make_server(STEWARD_STATS_INTERVAL="1")
    wait_for(lambda: all(s["status"] == "running" for s in
                         server.get("/api/system/services").json()["services"]),
             timeout=40, what="every service running")
    wait_for(lambda: server.service("llm")["stats"], timeout=20, what="a stats sample")

    def healthy(page: Page) -> None:
        live(page)
        expect(page.locator(".headline")).to_contain_text("4 of 4 healthy")
        expect(page).to_have_title("4/4 healthy · Steward")
    shoot(browser, server.url, "healthy", healthy)

    server.post("/api/system/services/redis/pause", json={"duration": "10m",
                                                          "reason": "screenshot"})
    kill_main_process(containers_of(docker_client, instance)["redis"])
    wait_for(lambda: server.service("redis")["status"] == "stopped", what="redis stopped")
    server.post("/api/system/services/grafana/stop")
    wait_for(lambda: server.service("grafana")["status"] == "stopped", what="grafana off")

    def one_failing(page: Page) -> None:
        live(page)
        expect(page.locator(".headline")).to_contain_text("2 of 3 healthy, 1 off")
        expect(page.locator(".headline__attention")).to_contain_text("Redis cache")
        expect(page).to_have_title("(1) 2/3 healthy · Steward")
    shoot(browser, server.url, "one-failing", one_failing)

    write_state(desired_dir, fleet(test_image) + service(
        "detector", test_image, '["sh", "-c", "exit 137"]', display_name="Object detection",
        restart_policy="{max_failures: 2, backoff_base: 0.2s, backoff_max: 0.2s}"))
    wait_for(lambda: server.service("detector")["status"] == "disabled", timeout=30,
             what="the failure limit")

    def failure_limit(page: Page) -> None:
        live(page)
        expect(page.locator(".banner--failure-limit")).to_be_visible()
        expect(page.locator("#service-detector")).to_have_attribute("data-status", "failed")
    shoot(browser, server.url, "failure-limit", failure_limit)

    def filtered(page: Page) -> None:
        expect(page.locator("#filter-count")).to_have_text("2 of 5 services shown")
        expect(page.locator("#service-postgres")).to_be_hidden()
    shoot(browser, f"{server.url}/?status=attention", "filter-applied", filtered)
    shoot(browser, server.url, "dark-mode", failure_limit, scheme="dark")
    for width in WIDTHS.values():
        assert (SCREENSHOTS / f"dark-mode-{width}.png").exists()


def test_screenshots_with_the_engine_down(make_server: Callable[..., LiveServer],
                                          desired_dir: Path, tmp_path: Path, test_image: str,
                                          browser: Browser) -> None:
    write_state(desired_dir, fleet(test_image))
    server = make_server(DOCKER_HOST=f"unix://{tmp_path / 'no-docker.sock'}")

    def engine_down(page: Page) -> None:
        expect(page.locator(".banner--engine")).to_contain_text("Docker engine unreachable")
    shoot(browser, server.url, "engine-down", engine_down)
