"""Headless Chromium for the console tests: Debian's ``chromium`` driven by its ``chromedriver``.

Nothing is downloaded: the driver path is given explicitly and ``SE_OFFLINE`` keeps Selenium
Manager from looking for browsers or drivers on the network.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver

# Debian's paths; other systems name theirs in these variables.
CHROMIUM = os.environ.get("FTAPI_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("FTAPI_TEST_CHROMEDRIVER", "/usr/bin/chromedriver")
MISSING = (
    "chromium and chromium-driver are not installed: the browser tests are SKIPPED. "
    "Install them with `scripts/bootstrap runner,dev` (apt: chromium chromium-driver)."
)
DESKTOP = (1280, 900)
PHONE = (390, 844)

T = TypeVar("T")


def chromium_available() -> bool:
    return Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()


def start_chromium(profile_dir: Path, size: tuple[int, int] = DESKTOP) -> WebDriver:
    """A fresh headless Chromium with its own profile, sized ``size`` (CSS pixels)."""
    os.environ["SE_OFFLINE"] = "true"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-extensions",
        "--hide-scrollbars",
        f"--user-data-dir={profile_dir}",
        f"--window-size={size[0]},{size[1]}",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    set_viewport(driver, size)
    return driver


def set_viewport(driver: WebDriver, size: tuple[int, int]) -> None:
    """Make the viewport (not the window) exactly ``size``, as a phone of that width has."""
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": size[0], "height": size[1], "deviceScaleFactor": 1, "mobile": size[0] < 600},
    )


def stop_chromium(driver: WebDriver, profile_dir: Path) -> None:
    driver.quit()
    shutil.rmtree(profile_dir, ignore_errors=True)


def wait_until(condition: Callable[[], T | None], timeout_s: float, what: str) -> T:
    """Poll ``condition`` until it returns something truthy (returned), or fail naming ``what``."""
    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except Exception as error:  # a stale element between two renders: try again
            last_error = error
        time.sleep(0.1)
    raise AssertionError(
        f"timed out after {timeout_s}s waiting for {what} (last error: {last_error})"
    )


def console_errors(driver: WebDriver) -> list[str]:
    """Severe browser console messages (script errors, CSP violations, failed loads)."""
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
