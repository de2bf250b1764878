"""Driving the console as a person would: open a page, sign in, read what is shown."""

from __future__ import annotations

import base64
from pathlib import Path

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.select import Select

from tests.browser.browser import wait_until

PAGE_TIMEOUT_S = 15.0


class Console:
    """The console in one browser tab."""

    def __init__(self, driver: WebDriver, url: str, artifacts: Path) -> None:
        self.driver = driver
        self.url = url
        self.artifacts = artifacts

    def open(self, route: str) -> None:
        """Go to ``#/{route}`` (a full load, as when a link is pasted)."""
        self.driver.get(f"{self.url}#/{route}")
        wait_until(
            lambda: self.driver.execute_script("return document.readyState") == "complete",
            PAGE_TIMEOUT_S,
            "page load",
        )

    def sign_in(self, key: str) -> None:
        """Fill the sign-in form and wait for the signed-in navigation."""
        field = self.find("input[name=api_key]")
        field.clear()
        field.send_keys(key)
        self.find("form[aria-labelledby=signin-title] button[type=submit]").click()
        wait_until(
            lambda: self.find("#nav").is_displayed(), PAGE_TIMEOUT_S, "the signed-in navigation"
        )

    def ensure_signed_in(self, key: str, route: str) -> None:
        """Open ``route``, signing in first if this tab has no key."""
        self.open(route)
        if self.driver.execute_script("return sessionStorage.length") == 0:
            wait_until(
                lambda: self.driver.find_elements(By.NAME, "api_key"),
                PAGE_TIMEOUT_S,
                "the sign-in form",
            )
            self.sign_in(key)

    def find(self, css: str) -> WebElement:
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def find_all(self, css: str) -> list[WebElement]:
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def wait_for(self, css: str, timeout_s: float = PAGE_TIMEOUT_S) -> WebElement:
        """The first visible element matching ``css``."""
        return wait_until(
            lambda: next((e for e in self.find_all(css) if e.is_displayed()), None), timeout_s, css
        )

    def read(self, css: str, timeout_s: float = PAGE_TIMEOUT_S) -> str:
        """The text of the first visible element matching ``css``, found and read in one try so
        that a redraw in between is retried rather than read as a stale element."""
        return wait_until(
            lambda: next((e.text for e in self.find_all(css) if e.is_displayed()), None),
            timeout_s,
            css,
        )

    def wait_for_text(self, css: str, text: str, timeout_s: float = PAGE_TIMEOUT_S) -> WebElement:
        """An element matching ``css`` whose text contains ``text``."""
        return wait_until(
            lambda: next((e for e in self.find_all(css) if text in e.text), None),
            timeout_s,
            f"{text!r} in {css}",
        )

    def click_text(self, css: str, text: str, timeout_s: float = PAGE_TIMEOUT_S) -> None:
        """Click the element matching ``css`` whose text contains ``text`` (again if the page
        redrew it between finding and clicking)."""

        def click() -> bool:
            element = next(e for e in self.find_all(css) if text in e.text)
            element.click()
            return True

        wait_until(click, timeout_s, f"a click on {text!r} in {css}")

    def choose(self, css: str, *, value: str) -> None:
        """Pick the option of a <select> by value, once the option is there."""
        wait_until(
            lambda: any(o.get_attribute("value") == value for o in self.find_all(f"{css} option")),
            PAGE_TIMEOUT_S,
            f"option {value} in {css}",
        )
        Select(self.find(css)).select_by_value(value)

    def screenshot(self, name: str) -> Path:
        """A full-page PNG (beyond the viewport) in the artefacts folder."""
        size = self.driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
        shot = self.driver.execute_cdp_cmd(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": True,
                "clip": {
                    "x": 0,
                    "y": 0,
                    "width": size["width"],
                    "height": size["height"],
                    "scale": 1,
                },
            },
        )
        path = self.artifacts / f"{name}.png"
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def horizontal_overflow_px(self) -> int:
        """How far the page is wider than the viewport (0 when nothing sticks out)."""
        return int(
            self.driver.execute_script(
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
        )

    def unlabelled_controls(self) -> list[str]:
        """Form controls a screen reader would announce without a name."""
        return list(
            self.driver.execute_script(
                "return [...document.querySelectorAll('input, select, textarea')]"
                ".filter((e) => e.type !== 'hidden' && e.labels.length === 0"
                " && !e.getAttribute('aria-label') && !e.getAttribute('aria-labelledby'))"
                ".map((e) => e.outerHTML)"
            )
        )

    def tab(self) -> dict[str, str]:
        """Press Tab; the newly focused element's tag and its focus outline."""
        ActionChains(self.driver).send_keys(Keys.TAB).perform()
        return dict(
            self.driver.execute_script(
                "const e = document.activeElement, style = getComputedStyle(e);"
                "return {tag: e.tagName.toLowerCase(), outline: style.outlineStyle,"
                " width: style.outlineWidth};"
            )
        )
