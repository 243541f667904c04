"""Web Push on the page, in a real Chromium: the "notify me" control appears in the
conversation (in the page's language) where the browser has Push, nothing is asked and
no service worker is registered until the person taps it, and the tap registers
Haven's service worker under the strict Content-Security-Policy.

Chromium here cannot reach a real push service (and a Playwright context is incognito,
where Chromium has no Push API at all), so subscribing fails: the page says so kindly
and leaves no service worker behind. What a subscription then does is tested against a
fake push service in test_web_push.py.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext

from adapters.web.page import texts
from adapters.web.pusher import neutral_text
from tests.browser import CHROMIUM, Watched, chromium, phone
from tests.web_rig import WebRig, web_haven

if not Path(CHROMIUM).exists() and os.environ.get("CI") != "true":
    pytest.skip(
        f"no Chromium at {CHROMIUM}: apt-get install chromium to run the browser tests",
        allow_module_level=True,
    )

PUSH = '\n[adapters.web]\npush = true\npush_contact = "mailto:operator@example.org"\n'
REGISTERED = "navigator.serviceWorker.getRegistration('/').then((found) => !!found)"


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as browser:
        yield browser


async def in_conversation(
    browser: Browser, rig: WebRig, locale: str
) -> tuple[BrowserContext, Watched]:
    context, watched = await phone(browser, locale)
    page = watched.page
    await page.goto(f"{rig.url}/?lang={locale}")
    assert await page.is_hidden("#notify")  # not on the first screen
    await page.click("#start")
    await page.wait_for_selector("#code-value:not(:empty)")
    await page.click("#code-done")
    await page.wait_for_selector(".msg.haven")
    return context, watched


@pytest.mark.parametrize("locale", ["en", "zh-CN"])
async def test_the_notify_control_registers_the_service_worker_only_when_tapped(
    tmp_path: Path, browser: Browser, locale: str
) -> None:
    words = texts()[locale]
    async with web_haven(tmp_path / "data", PUSH) as rig:
        context, watched = await in_conversation(browser, rig, locale)
        page = watched.page
        await context.grant_permissions(["notifications"], origin=rig.url)
        workers: list[str] = []
        context.on("serviceworker", lambda worker: workers.append(worker.url))
        control = page.locator("#notify")
        await control.wait_for(state="visible")
        assert await control.inner_text() == words["notify"]
        assert await page.evaluate(REGISTERED) is False
        assert workers == [] and not any(url.endswith("/sw.js") for url in watched.requests)
        await watched.shot(f"chat-notify-{locale}")

        await control.click()
        note = page.locator("#notify-note")
        await page.wait_for_selector("#notify-note:not(:empty)")
        assert workers == [f"{rig.url}/sw.js"]
        assert await note.inner_text() == words["notify_failed"]
        assert await page.evaluate(REGISTERED) is False  # nothing left behind
        assert await watched.violations() == []
        ws = rig.url.replace("http://", "ws://")
        assert [url for url in watched.requests if not url.startswith((rig.url, ws))] == []
        await context.close()


async def test_without_push_the_control_stays_hidden(tmp_path: Path, browser: Browser) -> None:
    async with web_haven(tmp_path / "data") as rig:
        context, watched = await in_conversation(browser, rig, "en")
        # The page's own look for a registration has answered by the time this one has.
        assert await watched.page.evaluate(REGISTERED) is False
        assert await watched.page.is_hidden("#notify")
        assert await watched.violations() == []
        await context.close()


async def test_the_service_worker_shows_what_haven_sent_and_nothing_else(
    tmp_path: Path, browser: Browser
) -> None:
    """A push delivered to Haven's service worker (through Chromium's DevTools, as a push
    service would after decrypting it) becomes one notification, titled with exactly the
    text sent, tagged so the next one replaces it."""
    async with web_haven(tmp_path / "data", PUSH) as rig:
        context, watched = await in_conversation(browser, rig, "zh-CN")
        page = watched.page
        await context.grant_permissions(["notifications"], origin=rig.url)
        devtools = await context.new_cdp_session(page)
        registered: asyncio.Queue[str] = asyncio.Queue()

        def updated(event: dict[str, Any]) -> None:
            for registration in event["registrations"]:
                if not registration["isDeleted"]:
                    registered.put_nowait(registration["registrationId"])

        devtools.on("ServiceWorker.workerRegistrationUpdated", updated)
        await devtools.send("ServiceWorker.enable")
        # What the page runs when the person taps the control, up to subscribing.
        await page.evaluate(
            "navigator.serviceWorker.register('/sw.js', {scope: '/'})"
            ".then(() => navigator.serviceWorker.ready).then(() => true)"
        )
        registration = await asyncio.wait_for(registered.get(), 15)
        text = neutral_text("zh-CN")
        push = {"origin": rig.url + "/", "registrationId": registration, "data": text}
        shown = (
            "navigator.serviceWorker.ready.then((r) => r.getNotifications())"
            ".then((all) => all.map((n) => [n.title, n.body, n.tag]))"
        )
        # Two pushes, which must make one notification; pushed again while none shows, as a
        # push service would retry: a busy machine can be slow to wake the worker.
        deadline = time.monotonic() + 30
        while True:
            for _ in range(2):
                await devtools.send("ServiceWorker.deliverPushMessage", push)
            for _ in range(40):
                if notifications := await page.evaluate(shown):
                    break
                await asyncio.sleep(0.05)
            if notifications:
                break
            assert time.monotonic() < deadline, "no notification was shown"
        assert notifications == [[text, "", "haven"]]
        assert await watched.violations() == []
        await context.close()
