"""Fixtures of the chat page's tests: Debian's headless chromium, driven by selenium through
chromium-driver (both from apt: scripts/install-system-deps.sh)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

CHROMIUM = "chromium"
CHROMEDRIVER = "chromedriver"


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="module")
def chromium_paths() -> tuple[str, str]:
    """Where chromium and its driver are; skipped where they are not installed, but a failure in
    CI, which must test the page (as the PostgreSQL fixture does for the database)."""
    browser, driver = shutil.which(CHROMIUM), shutil.which(CHROMEDRIVER)
    if browser is None or driver is None:
        message = ("chromium or chromedriver is not installed: run scripts/install-system-deps.sh"
                   " or apt-get install chromium chromium-driver")
        if _in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return browser, driver


@pytest.fixture(scope="module")
def browser(chromium_paths: tuple[str, str]) -> Iterator[object]:
    """One headless chromium for the module. Its console is kept (goog:loggingPrefs) so a test
    can see a script error or a Content-Security-Policy violation."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver_path = chromium_paths
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1280,800", "--no-first-run", "--disable-extensions"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # the driver named: selenium's own manager would otherwise look for one to download
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
