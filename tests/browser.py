"""Chromium (Debian's package) under Playwright, for the web chat tests.

Playwright's own driver talks to the system browser: nothing is downloaded. Every page
records the requests it makes and the Content-Security-Policy violations it reports, so
a test can fail on either.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from playwright.async_api import Browser, BrowserContext, Page, async_playwright

CHROMIUM = os.environ.get("HAVEN_CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 360, "height": 740}
# Runs before any script of the page (Playwright injects it, so the page's CSP does not
# apply to it): every violation the browser reports is kept for the test to read.
WATCH_CSP = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", function (event) {
  window.__csp.push(event.violatedDirective + " " + event.blockedURI);
});
"""
SCREENSHOTS = Path(
    os.environ.get("HAVEN_SCREENSHOTS", Path(__file__).resolve().parents[1] / "build/screenshots")
)


@dataclass
class Watched:
    """A page at phone size, with what it requested and what the console said."""

    page: Page
    requests: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)

    async def violations(self) -> list[str]:
        reported: list[str] = await self.page.evaluate("window.__csp || []")
        said = [line for line in self.console if "Content Security Policy" in line]
        return reported + said

    async def shot(self, name: str) -> Path:
        await asyncio.to_thread(SCREENSHOTS.mkdir, parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        await self.page.screenshot(path=str(path))
        return path


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield browser
        finally:
            await browser.close()


async def phone(browser: Browser, locale: str) -> tuple[BrowserContext, Watched]:
    """A fresh context (its own cookies, like another device) and one page in it."""
    context = await browser.new_context(
        viewport=PHONE, locale=locale, is_mobile=True, has_touch=True, device_scale_factor=1
    )
    context.set_default_timeout(15_000)
    await context.add_init_script(WATCH_CSP)
    page = await context.new_page()
    watched = Watched(page)
    page.on("request", lambda request: watched.requests.append(request.url))
    page.on("console", lambda message: watched.console.append(message.text))
    return context, watched
