"""axe-core (the npm package, installed by `scripts/setup.sh --test` into tests/browser)
finds no accessibility violation on the fleet page or a service page, in light and dark
mode, at desktop and phone width, with failing, off and disabled services on show."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest
from playwright.sync_api import Browser, expect

from tests.conftest import ROOT
from tests.helpers import write_state
from tests.integration.conftest import LiveServer, wait_for

AXE = ROOT / "tests" / "browser" / "node_modules" / "axe-core" / "axe.min.js"


def service(name: str, image: str, command: str, category: str = "ai", **extra: str) -> str:
    lines = [f"  {name}:", f"    category: {category}", f"    image: {image}",
             "    init: true", f"    command: {command}", "    stop_grace_period: 1s"]
    return "\n".join(lines + [f"    {key}: {value}" for key, value in extra.items()]) + "\n"


def violations(browser: Browser, url: str, width: int, scheme: str) -> list[str]:
    """axe's violations on the page, one line each (rule, impact, first element)."""
    # axe is injected as a script of its own: the page's CSP (script-src 'self') is
    # bypassed for that alone, in this test's browser context.
    context = browser.new_context(viewport={"width": width, "height": 900},
                                  color_scheme=scheme, bypass_csp=True)
    try:
        page = context.new_page()
        page.goto(url)
        expect(page.locator("#live")).to_have_attribute("data-state", "on")
        page.add_script_tag(path=str(AXE))
        result = page.evaluate("""async () => axe.run(document, {
            runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa",
                                            "best-practice"]}})""")
    finally:
        context.close()
    assert len(result["passes"]) > 20, "axe ran its rules"
    return [f"{v['id']} ({v['impact']}): {v['help']} at {v['nodes'][0]['target']}"
            for v in result["violations"]]


@pytest.fixture
def fleet(make_server: Callable[..., LiveServer], desired_dir: Path,
          test_image: str) -> LiveServer:
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing; run scripts/setup.sh --test", pytrace=False)
    write_state(desired_dir, "services:\n"
                + service("db", test_image, '["sleep", "3600"]', category="infrastructure",
                          display_name="PostgreSQL",
                          environment="{DB_PASSWORD: hunter2}")
                + service("crasher", test_image, '["sh", "-c", "exit 3"]',
                          restart_policy="{max_failures: 2, backoff_base: 0.2s, "
                                         "backoff_max: 0.2s}")
                + service("grafana", test_image, '["sleep", "3600"]', category="monitoring"))
    server = make_server(STEWARD_STATS_INTERVAL="1")
    wait_for(lambda: server.service("crasher")["status"] == "disabled", timeout=30,
             what="the failure limit")
    server.post("/api/system/services/grafana/stop")
    wait_for(lambda: server.service("db")["stats"], timeout=20, what="a stats sample")
    return server


@pytest.mark.parametrize("path", ["/", "/?status=attention&sort=restarts&dir=desc",
                                  "/services/db", "/services/crasher"])
@pytest.mark.parametrize("width, scheme", [(1280, "light"), (390, "dark")])
def test_no_axe_violations(fleet: LiveServer, browser: Browser, path: str, width: int,
                           scheme: str) -> None:
    assert violations(browser, f"{fleet.url}{path}", width, scheme) == []
