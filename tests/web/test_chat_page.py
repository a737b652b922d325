"""The chat page at / in a real browser (headless chromium, selenium) against a real stack.

One stack (offline model with a latency, so "claw is typing…" has time to show; the scheduler
ticking every second, so a reminder fires within the test) and one browser for the module.
The tests run in file order and share the browser's tab: log in, talk, a reminder, an
injection, the layout, and last an API restart.

The layout is checked through the DOM (what is visible, within the screen's width, nothing
wider than it) at a phone's and a desktop's size, and a screenshot of each is saved in the
test's folder to look at: comparing pixels with a stored picture would break with each
chromium version and font update, while these facts hold for any of them.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from tests.support.redis_server import LocalRedis
from tests.support.stack import ClawStack, wait_until

try:
    import selenium  # noqa: F401
except ImportError:  # a skip on a laptop without the test extras; in CI the import error fails the run
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        raise
    pytest.skip("selenium is not installed: pip install -e '.[test]'", allow_module_level=True)

from selenium.common.exceptions import NoAlertPresentException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

LATENCY_MS = 1500
NAME = "max"
INJECTION = ('<img src="x" onerror="window.pwned=1;alert(1)"> <script>window.pwned=2</script> '
             '[click](javascript:window.pwned=3) and **bold**')


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, redis_server: LocalRedis) -> Iterator[ClawStack]:
    with ClawStack(
        tmp_path_factory.mktemp("claw"), redis_server.url, shards=1, cooldown=0,
        offline_latency_ms=LATENCY_MS, scheduler_interval=1,
    ) as claw:
        yield claw


@pytest.fixture(scope="module")
def page(browser: WebDriver, stack: ClawStack) -> WebDriver:
    browser.get(f"http://127.0.0.1:{stack.api_port}/")
    return browser


# ---- reading the page -------------------------------------------------------------------------


def wait_for(driver: WebDriver, condition: Callable[[WebDriver], Any], what: str, timeout: float = 30) -> Any:
    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(
        lambda d: condition(d), message=f"timed out after {timeout}s waiting for {what}")


def visible(driver: WebDriver, element_id: str) -> bool:
    return driver.find_element(By.ID, element_id).is_displayed()


def claw_lines(driver: WebDriver) -> list[str]:
    """The text of claw's messages in the open chat, as shown."""
    return driver.execute_script(
        "return [...document.querySelectorAll('#messages .from-claw .body')].map(e => e.innerText.trim())")


def my_lines(driver: WebDriver) -> list[str]:
    return driver.execute_script(
        "return [...document.querySelectorAll('#messages .from-me .body')].map(e => e.innerText.trim())")


def connection(driver: WebDriver) -> str:
    return driver.find_element(By.ID, "connection").get_attribute("data-state") or ""


def send(driver: WebDriver, text: str) -> None:
    box = driver.find_element(By.ID, "composer-text")
    box.send_keys(text)
    box.send_keys(Keys.ENTER)


def console_problems(driver: WebDriver) -> list[str]:
    """Script errors and Content-Security-Policy violations logged since the last call."""
    return [entry["message"] for entry in driver.get_log("browser")
            if "Content Security Policy" in entry["message"] or "Uncaught" in entry["message"]]


def at(seconds: float) -> str:
    moment = datetime.now(UTC) + timedelta(seconds=seconds)
    return f"at {moment.strftime('%Y-%m-%dT%H:%M:%S')}Z"


def log_in(driver: WebDriver, token: str, name: str = NAME) -> None:
    driver.find_element(By.ID, "login-token").clear()
    driver.find_element(By.ID, "login-token").send_keys(token)
    driver.find_element(By.ID, "login-name").clear()
    driver.find_element(By.ID, "login-name").send_keys(name)
    driver.find_element(By.ID, "login-submit").click()


# ---- the tests, in order ----------------------------------------------------------------------


def test_the_page_is_public_and_holds_no_data_while_data_needs_the_token(stack: ClawStack) -> None:
    with httpx.Client(base_url=str(stack.http.base_url), timeout=30) as anonymous:
        page = anonymous.get("/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        policy = page.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy
        script = anonymous.get("/web/app.js")
        assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
        # only the page's own files are public: anything else under /web/ is a 401, as elsewhere
        assert anonymous.get("/web/../claw.db").status_code in (401, 404)
        assert anonymous.get("/web/nothing.js").status_code == 401
        assert anonymous.get("/v1/groups").status_code == 401


def test_a_wrong_token_is_refused_with_a_clear_message(page: WebDriver) -> None:
    wait_for(page, lambda d: visible(d, "login-token"), "the log-in form")
    log_in(page, "not-the-token")
    wait_for(page, lambda d: visible(d, "login-error"), "the refusal")
    assert "That token was refused" in page.find_element(By.ID, "login-error").text
    assert not visible(page, "app")
    # and the refused token is kept nowhere
    assert page.execute_script("return sessionStorage.getItem('claw.token')") is None


def test_log_in_see_the_groups_start_a_web_chat_send_and_see_typing_then_the_reply(
    page: WebDriver, stack: ClawStack
) -> None:
    # Given a group with a conversation already
    assert stack.post("lobby", "hi from the api", sender="kim", wait=60).status_code == 200
    # When the right token is given
    log_in(page, stack.token)
    # Then the groups are listed with their last message, and the token is not in the URL
    wait_for(page, lambda d: "http:lobby" in d.find_element(By.ID, "groups").text, "the group list")
    assert "claw: kim: hi from the api" in page.find_element(By.ID, "groups").text
    assert stack.token not in page.current_url
    # When a new web chat is started and a message sent
    page.find_element(By.ID, "new-chat-name").send_keys("kitchen", Keys.ENTER)
    wait_for(page, lambda d: d.find_element(By.ID, "chat-title").text == "web:kitchen", "the new chat")
    send(page, "hello there")
    # Then the typing indicator shows while claw works, then its reply, live
    wait_for(page, lambda d: visible(d, "typing"), "claw is typing…")
    wait_for(page, lambda d: "max: hello there" in claw_lines(d), "the reply")
    assert not visible(page, "typing")
    assert my_lines(page) == ["hello there"]
    assert connection(page) == "live"
    # And the group exists, as a web group, and leads the list with its last message
    assert stack.replies("web:kitchen") == ["max: hello there"]
    wait_for(page, lambda d: d.find_element(By.CSS_SELECTOR, "#groups .group").get_attribute("data-group-id")
             == "web:kitchen", "the chat at the top of the list")
    assert "claw: max: hello there" in page.find_element(By.CSS_SELECTOR, "#groups .group").text


def test_a_reminder_arrives_unprompted(page: WebDriver, stack: ClawStack) -> None:
    # When a reminder falls due in the open chat, with nothing typed
    created = stack.http.post("/v1/schedules", json={"group_id": "web:kitchen", "spec": at(3),
                                                     "text": "take the bread out", "kind": "reminder"})
    assert created.status_code == 201, created.text
    # Then it shows up by itself, as claw's
    wait_for(page, lambda d: "Reminder: take the bread out" in claw_lines(d), "the reminder")


def test_html_in_a_message_is_shown_as_text_and_never_runs(page: WebDriver) -> None:
    console_problems(page)  # what came before
    # When a message with markup meant to run is sent (and echoed back by claw)
    send(page, INJECTION)
    wait_for(page, lambda d: any(line.startswith("max: <img") for line in claw_lines(d)), "the echo")
    # Then both the message and the reply show it as the text it is
    assert my_lines(page)[-1] == INJECTION
    reply = claw_lines(page)[-1]
    assert '<img src="x" onerror="window.pwned=1;alert(1)">' in reply
    assert "<script>window.pwned=2</script>" in reply
    # And nothing of it ran or became an element, while the Markdown around it was rendered
    with pytest.raises(NoAlertPresentException):
        page.switch_to.alert.text  # noqa: B018
    assert page.execute_script("return window.pwned") is None
    counts = page.execute_script(
        "const m = document.getElementById('messages');"
        "return {img: m.querySelectorAll('img').length, script: m.querySelectorAll('script').length,"
        " handlers: m.querySelectorAll('[onerror],[onclick],[onload]').length,"
        " scriptLinks: [...m.querySelectorAll('a')].filter(a => /javascript:/i.test(a.getAttribute('href') || '')).length,"
        " bold: [...m.querySelectorAll('.from-claw strong')].map(e => e.textContent)}")
    assert counts["img"] == counts["script"] == counts["handlers"] == counts["scriptLinks"] == 0, counts
    assert "bold" in counts["bold"]
    # (nor did anything need the Content-Security-Policy to stop it)
    assert console_problems(page) == []


def _layout(driver: WebDriver) -> dict[str, Any]:
    return driver.execute_script("""
        const box = (id) => { const e = document.getElementById(id); const r = e.getBoundingClientRect();
          return {shown: e.offsetParent !== null && r.width > 0 && r.height > 0,
                  left: r.left, right: r.right, top: r.top, bottom: r.bottom}; };
        return {width: window.innerWidth, height: window.innerHeight,
                scrollWidth: document.documentElement.scrollWidth,
                widest: Math.max(0, ...[...document.querySelectorAll('#messages > li')].map(e => e.getBoundingClientRect().right)),
                messages: box('messages'), text: box('composer-text'), send: box('composer-send'),
                sidebar: box('sidebar'), back: box('back')};
    """)


def _within_screen(layout: dict[str, Any], *names: str) -> None:
    for name in names:
        part = layout[name]
        assert part["shown"], f"{name} is not shown: {layout}"
        assert part["left"] >= 0 and part["right"] <= layout["width"] + 0.5, f"{name} is off screen: {layout}"
        assert part["bottom"] <= layout["height"] + 0.5, f"{name} is below the screen: {layout}"
    assert layout["scrollWidth"] <= layout["width"], f"the page scrolls sideways: {layout}"
    assert layout["widest"] <= layout["width"], f"a message is wider than the screen: {layout}"


def test_layout_on_a_phone_and_a_desktop_with_screenshots(page: WebDriver, tmp_path: Path) -> None:
    # Given a chat with a long unbroken word, as text and as code
    send(page, "x" * 400)
    send(page, "`" + "y" * 300 + "`")
    wait_for(page, lambda d: any(line.startswith("max: " + "x" * 50) for line in claw_lines(d)), "the long line")
    wait_for(page, lambda d: d.execute_script("return document.querySelectorAll('#messages .from-claw code').length"),
             "the long code")
    try:
        # When it is seen on a phone (a mobile viewport: only the viewport meta makes it 390 wide)
        page.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                             {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True})
        wait_for(page, lambda d: d.execute_script("return window.innerWidth") == 390, "the phone's width")
        page.save_screenshot(str(tmp_path / "phone-chat.png"))
        # Then the chat alone fills the screen: messages, the box to type in and send, a way back
        phone = _layout(page)
        _within_screen(phone, "messages", "text", "send", "back")
        assert not phone["sidebar"]["shown"]
        # And back shows the list of chats, alone
        page.find_element(By.ID, "back").click()
        wait_for(page, lambda d: visible(d, "sidebar"), "the chat list")
        page.save_screenshot(str(tmp_path / "phone-list.png"))
        listing = _layout(page)
        _within_screen(listing, "sidebar")
        assert not listing["messages"]["shown"]
        page.find_element(By.CSS_SELECTOR, '#groups .group[data-group-id="web:kitchen"]').click()
        wait_for(page, lambda d: visible(d, "messages") and connection(d) == "live", "the chat again")
    finally:
        page.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    # When it is seen on a desktop
    page.set_window_size(1280, 800)
    wait_for(page, lambda d: d.execute_script("return window.innerWidth") > 1000, "the desktop's width")
    page.save_screenshot(str(tmp_path / "desktop-chat.png"))
    # Then the list and the chat are side by side
    desktop = _layout(page)
    _within_screen(desktop, "messages", "text", "send", "sidebar")
    assert desktop["sidebar"]["right"] <= desktop["messages"]["left"]
    assert not desktop["back"]["shown"]
    for name in ("phone-chat.png", "phone-list.png", "desktop-chat.png"):
        assert (tmp_path / name).stat().st_size > 5000, name


def _api_process(stack: ClawStack) -> psutil.Process:
    assert stack.process is not None
    for child in psutil.Process(stack.process.pid).children(recursive=True):
        if "uvicorn" in " ".join(child.cmdline()):
            return child
    raise AssertionError("no API process")


def test_the_page_recovers_after_the_api_restarts_and_shows_what_was_missed(
    page: WebDriver, stack: ClawStack
) -> None:
    # (the fork server starts the API again when it exits: claw/runtime/forkserver.py)
    supervisor = stack.forkserver_process()
    # Given a reminder due in a few seconds
    created = stack.http.post("/v1/schedules", json={"group_id": "web:kitchen", "spec": at(6),
                                                     "text": "water the plants", "kind": "reminder"})
    assert created.status_code == 201, created.text
    # When the API stops, and stays down (the fork server is paused so it does not restart it yet)
    # while the reminder is delivered and a message is typed
    supervisor.suspend()
    try:
        api = _api_process(stack)
        api.send_signal(signal.SIGTERM)
        # (a zombie once it exits: its parent, paused, cannot reap it)
        wait_until(lambda: not api.is_running() or api.status() == psutil.STATUS_ZOMBIE, 30, "the API to stop")
        wait_for(page, lambda d: connection(d) == "reconnecting", "the page to see the API gone")
        wait_until(lambda: stack.sql("SELECT id FROM outbox WHERE group_id = 'web:kitchen' AND "
                                     "text = 'Reminder: water the plants' AND status = 'sent'"),
                   60, "the reminder delivered while the API is down")
        send(page, "sent while down")
        wait_for(page, lambda d: "trying again" in d.find_element(By.ID, "messages").text, "the send retrying")
        assert "Reminder: water the plants" not in claw_lines(page)
    finally:
        supervisor.resume()  # and the fork server starts the API again
    # Then the page reconnects by itself, shows the reminder it missed, and the message goes through
    wait_for(page, lambda d: connection(d) == "live", "the page to reconnect", timeout=60)
    wait_for(page, lambda d: "Reminder: water the plants" in claw_lines(d), "the missed reminder")
    wait_for(page, lambda d: "max: sent while down" in claw_lines(d), "the answer to the retried send", timeout=60)
    # And everything is shown once, in the order claw delivered it
    lines = claw_lines(page)
    assert lines.count("Reminder: water the plants") == 1 and lines.count("max: sent while down") == 1
    assert lines.index("Reminder: water the plants") < lines.index("max: sent while down")
    # And talking goes on as before, typing indicator included
    send(page, "after the restart")
    wait_for(page, lambda d: visible(d, "typing"), "claw is typing… after the restart")
    wait_for(page, lambda d: "max: after the restart" in claw_lines(d), "the reply after the restart")
