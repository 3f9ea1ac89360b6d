"""A real server as `make run` starts it and Debian's Chromium driven by Playwright.

Playwright's own browser download cannot work here, so the tests launch the system Chromium
(``apt-get install chromium``; ``D2L_CHROMIUM`` names another). Where it is missing the browser
tests are skipped with the reason, unless ``D2L_REQUIRE_FRONTEND=1`` (CI sets it) makes that a
failure.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest


def chromium_path() -> str | None:
    named = os.environ.get("D2L_CHROMIUM")
    return named or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def chromium() -> str:
    path = chromium_path()
    if path is None:
        message = "Chromium is not installed (apt-get install chromium, or set D2L_CHROMIUM)"
        if os.environ.get("D2L_REQUIRE_FRONTEND") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def browser(chromium: str):
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium)
        yield browser
        browser.close()


@dataclass
class WatchedPage:
    """A page and what it did: every request's URL, console errors and uncaught exceptions."""

    page: object
    origin: str
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def foreign_requests(self) -> list[str]:
        return [
            url
            for url in self.requests
            if urlsplit(url).scheme not in {"data", "blob"}
            and f"{urlsplit(url).scheme}://{urlsplit(url).netloc}" != self.origin
        ]


@contextmanager
def watched_page(browser, origin: str, height: int = 900, timeout_ms: int = 120_000):
    """A page of ``origin`` whose requests and errors are recorded."""
    context = browser.new_context(viewport={"width": 1200, "height": height})
    page = context.new_page()
    # Generous: a busy CI machine; the tests wait on what the page shows, never on a clock.
    page.set_default_timeout(timeout_ms)
    seen = WatchedPage(page, origin)
    page.on("request", lambda request: seen.requests.append(request.url))
    page.on("console", lambda m: m.type == "error" and seen.errors.append(m.text))
    page.on("pageerror", lambda error: seen.errors.append(str(error)))
    try:
        yield seen
    finally:
        context.close()


@pytest.fixture
def watched(browser, live_server: str) -> Iterator[WatchedPage]:
    with watched_page(browser, live_server) as seen:
        yield seen
