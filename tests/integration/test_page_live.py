"""The status page as an operator uses it, in Debian's Chromium against a live server:
feedback where the eye is, title and favicon, the live indicator, the live service page,
filter and sort, keyboard only, and no JavaScript at all."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import docker
from playwright.sync_api import Browser, Page, expect

from tests.helpers import containers_of, kill_main_process, write_state
from tests.integration.conftest import LiveServer, wait_for


def service(name: str, image: str, command: str = '["sleep", "3600"]', category: str = "ai",
            **extra: str) -> str:
    lines = [f"  {name}:", f"    category: {category}", f"    image: {image}",
             "    init: true", f"    command: {command}", "    stop_grace_period: 1s"]
    return "\n".join(lines + [f"    {key}: {value}" for key, value in extra.items()]) + "\n"


def serve(make_server: Callable[..., LiveServer], desired_dir: Path, text: str,
          **env: str) -> LiveServer:
    """Write the services, start Steward, and wait until every one runs."""
    write_state(desired_dir, "services:\n" + text)
    server = make_server(**env)
    wait_for(lambda: (listed := server.get("/api/system/services").json()["services"])
             and all(s["status"] == "running" for s in listed),
             timeout=40, what="every service running")
    return server


def in_viewport(page: Page, selector: str) -> bool:
    return page.evaluate("""(selector) => {
        const box = document.querySelector(selector).getBoundingClientRect();
        return box.height > 0 && box.top >= 0 && box.bottom <= window.innerHeight;
    }""", selector)


def test_a_refused_action_is_answered_beside_the_button_after_scrolling(
        make_server: Callable[..., LiveServer], desired_dir: Path, test_image: str,
        phone: Page) -> None:
    server = serve(make_server, desired_dir, "".join(
        service(f"svc{i}", test_image, display_name=f"Service {i}") for i in range(5)))
    phone.goto(server.url)
    expect(phone.locator("#live")).to_have_attribute("data-state", "on")
    row = phone.locator("#service-svc3")
    row.scroll_into_view_if_needed()
    assert phone.evaluate("window.scrollY") > 600, "the third card is far down the page"
    phone.locator("#service-svc3 details.menu summary").click()
    start = phone.get_by_role("button", name="Start Service 3", exact=True)
    start.focus()
    expect(phone.locator("#why-svc3-start")).to_be_visible()  # the reason shows on focus
    start.click(force=True)  # a tap on a button marked aria-disabled
    feedback = phone.locator("#feedback-svc3")
    expect(feedback).to_have_text("Start is not possible: already running or starting")
    assert in_viewport(phone, "#feedback-svc3"), "the answer is where the operator looks"
    expect(phone.locator("#toast")).to_contain_text("Start is not possible")
    assert in_viewport(phone, "#toast")

    phone.get_by_role("button", name="Restart Service 3", exact=True).click()
    expect(feedback).to_have_text("Service Service 3 (svc3) restart initiated")
    expect(phone.locator("#service-svc3")).to_have_attribute("data-status", "running",
                                                             timeout=20_000)
    expect(feedback).to_be_visible(), "the answer survives the row's live update"


def test_title_and_favicon_follow_a_killed_container(
        make_server: Callable[..., LiveServer], desired_dir: Path, test_image: str,
        docker_client: docker.DockerClient, instance: str, desk: Page) -> None:
    server = serve(make_server, desired_dir, service("db", test_image, category="infrastructure")
                   + service("web", test_image))
    server.post("/api/system/services/db/pause", json={"duration": "5m", "reason": "test"})
    desk.goto(server.url)
    expect(desk).to_have_title("2/2 healthy · Steward")
    assert "%231a7f37" in desk.locator("#favicon").get_attribute("href")
    kill_main_process(containers_of(docker_client, instance)["db"])
    expect(desk).to_have_title("(1) 1/2 healthy · Steward")
    expect(desk.locator("#favicon")).to_have_attribute("href", lambda_contains("%23cf222e"))
    expect(desk.locator(".headline__attention")).to_contain_text("db")


def lambda_contains(text: str):
    import re
    return re.compile(".*" + re.escape(text) + ".*")


def test_the_live_indicator_warns_when_the_server_stops(
        make_server: Callable[..., LiveServer], desired_dir: Path, test_image: str,
        desk: Page) -> None:
    server = serve(make_server, desired_dir, service("web", test_image))
    desk.goto(server.url)
    expect(desk.locator("#live")).to_have_attribute("data-state", "on")
    expect(desk.locator("#live-text")).to_contain_text("live — updated")
    server.stop()
    expect(desk.locator("#live")).to_have_attribute("data-state", "lost", timeout=15_000)
    expect(desk.locator("#live-text")).to_contain_text("reconnecting")
    server.start()
    expect(desk.locator("#live")).to_have_attribute("data-state", "on", timeout=20_000)


def test_the_service_page_follows_events_and_logs_without_a_reload(
        make_server: Callable[..., LiveServer], desired_dir: Path, test_image: str,
        desk: Page) -> None:
    talker = '["sh", "-c", "while true; do echo \'<b>tick</b>\'; date; sleep 0.5; done"]'
    server = serve(make_server, desired_dir, service("talker", test_image, talker))
    desk.goto(f"{server.url}/services/talker")
    desk.evaluate("window.not_reloaded = true")
    logs = desk.locator("#logs")
    first = logs.text_content()
    expect(logs).not_to_have_text(first, timeout=10_000)
    assert "<b>" in logs.text_content() and desk.locator("#logs b").count() == 0, \
        "log lines are text, never markup"
    desk.get_by_role("button", name="Pause").click()
    expect(desk.locator("#log-state")).to_have_text("paused")
    paused = logs.text_content()
    desk.wait_for_timeout(2500)
    assert logs.text_content() == paused, "a paused tail stays still"
    desk.get_by_role("button", name="Resume").click()
    expect(logs).not_to_have_text(paused, timeout=10_000)

    server.post("/api/system/services/talker/restart")
    expect(desk.locator("#events")).to_contain_text("restart-requested", timeout=10_000)
    expect(desk.locator("#events li").first).to_contain_text("ago")
    assert "UTC" in desk.locator("#events time").first.get_attribute("title")
    assert desk.evaluate("window.not_reloaded")


def test_refused_requests_are_hidden_from_events_until_asked_for(
        make_server: Callable[..., LiveServer], desired_dir: Path, test_image: str,
        desk: Page) -> None:
    server = serve(make_server, desired_dir, service("web", test_image))
    assert server.post("/api/system/services/web/start").status_code == 400
    desk.goto(f"{server.url}/services/web")
    expect(desk.locator("#events")).not_to_contain_text("start-refused")
    desk.get_by_label("refused requests").check()
    desk.get_by_role("button", name="Apply").click()
    expect(desk).to_have_url(f"{server.url}/services/web?kinds=all&refused=1")
    expect(desk.locator("#events")).to_contain_text("start-refused")
    desk.get_by_label("Show").select_option("operator")
    desk.get_by_label("refused requests").uncheck()
    desk.get_by_role("button", name="Apply").click()
    expect(desk.locator("#events li")).to_have_count(0)


def test_search_filter_and_sort_live_in_the_url(
        make_server: Callable[..., LiveServer], desired_dir: Path, test_image: str,
        desk: Page) -> None:
    server = serve(make_server, desired_dir, service("alpha", test_image, display_name="Vector DB")
                   + service("beta", test_image) + service("gamma", test_image))
    server.post("/api/system/services/gamma/stop")
    server.post("/api/system/services/beta/restart")
    wait_for(lambda: server.service("gamma")["status"] == "stopped", what="gamma stopped")
    desk.goto(server.url)
    desk.get_by_label("Search").fill("vector")
    expect(desk.locator("tr[data-service]:visible")).to_have_count(1)
    expect(desk).to_have_url(f"{server.url}/?q=vector")
    expect(desk.locator("#filter-count")).to_have_text("1 of 3 services shown")
    desk.get_by_label("Search").fill("")
    desk.get_by_label("Show").select_option("off")
    expect(desk.locator("tr[data-service]:visible")).to_have_count(1)
    expect(desk.locator("#service-gamma")).to_be_visible()

    desk.goto(f"{server.url}/?sort=restarts&dir=desc")
    names = desk.locator("tbody tr[data-service]").evaluate_all(
        "rows => rows.map(r => r.dataset.service)")
    assert names[0] == "beta"
    header = desk.locator("th[aria-sort]")
    expect(header).to_have_attribute("aria-sort", "descending")
    header.get_by_role("link", name="restarts").click()
    expect(desk).to_have_url(f"{server.url}/?sort=restarts")
    assert desk.locator("tbody tr[data-service]").last.get_attribute("data-service") == "beta"


def test_keyboard_only(make_server: Callable[..., LiveServer], desired_dir: Path,
                       test_image: str, desk: Page) -> None:
    server = serve(make_server, desired_dir, service("web", test_image))
    desk.goto(server.url)
    desk.keyboard.press("Tab")
    expect(desk.locator(".skip")).to_be_focused()
    desk.keyboard.press("Enter")
    for _ in range(40):  # to the row's action menu, by Tab alone
        desk.keyboard.press("Tab")
        if desk.evaluate("document.activeElement.getAttribute('aria-label')") == \
                "More actions for web":
            break
    desk.keyboard.press("Enter")
    expect(desk.locator("#service-web details.menu")).to_have_attribute("open", "")
    desk.keyboard.press("Tab")
    desk.keyboard.press("Tab")  # past the disabled Start, whose reason shows on focus
    assert desk.evaluate("document.activeElement.getAttribute('aria-label')") == "Stop web"
    desk.keyboard.press("Enter")
    expect(desk.locator("#feedback-web")).to_have_text("Service 'web' stop initiated")
    expect(desk.locator("#service-web")).to_have_attribute("data-status", "off",
                                                           timeout=15_000)
    desk.goto(f"{server.url}/services/web")
    desk.locator("pre.spec").first.focus()
    expect(desk.locator("pre.spec").first).to_be_focused()


def test_without_javascript_filters_and_category_actions_work(
        make_server: Callable[..., LiveServer], desired_dir: Path, test_image: str,
        browser: Browser) -> None:
    server = serve(make_server, desired_dir, service("one", test_image) + service(
        "two", test_image) + service("db", test_image, category="infrastructure"))
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(server.url)
        page.get_by_label("Search").fill("two")
        page.get_by_label("Show").select_option("running")
        page.get_by_role("button", name="Apply").click()
        expect(page).to_have_url(f"{server.url}/?q=two&status=running&sort=name")
        expect(page.locator("tr[data-service]:visible")).to_have_count(1)
        expect(page.locator("#filter-count")).to_have_text("1 of 3 services shown")

        page.goto(server.url)
        page.get_by_role("button", name="Restart all AI").click()
        expect(page.locator("h1")).to_have_text("Restart all 2 enabled AI services?")
        expect(page.locator(".consequences")).to_contain_text("These restart: one, two.")
        page.get_by_role("button", name="Yes, restart AI").click()
        expect(page.locator(".flash--success")).to_have_text(
            "Restart of 2 AI service(s) initiated")
        assert server.service("db")["restart_count"] == 0
        assert server.service("one")["restart_count"] == 1

        page.locator("#pause-infrastructure").select_option("3600")
        page.get_by_role("button", name="Pause", exact=True).first.click()
        expect(page.locator("h1")).to_have_text("Pause self-healing of Infrastructure for 1 hour?")
        page.get_by_role("button", name="Yes, pause Infrastructure").click()
        expect(page.locator(".flash--success")).to_have_text(
            "Self-healing of Infrastructure paused for 1 hour")
        assert server.service("db")["paused_until"]
        page.get_by_role("button", name="Resume healing").click()
        page.get_by_role("button", name="Yes, resume Infrastructure").click()
        expect(page.locator(".flash--success")).to_have_text("Self-healing of Infrastructure resumed")

        wait_for(lambda: server.service("one")["status"] == "running",
                 what="one running again after the restart of all AI services")
        page.reload()
        page.get_by_text("More", exact=True).and_(
            page.locator("#service-one summary")).click()  # the menu opens without a script
        page.get_by_role("button", name="Stop one", exact=True).click()
        expect(page.locator(".consequences")).to_contain_text("one (one) is running now")
        page.get_by_role("button", name="Yes, stop one").click()
        expect(page.locator("#feedback-one")).to_have_text("Service 'one' stop initiated")
    finally:
        context.close()
