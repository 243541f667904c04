"""The web chat in a real Chromium at phone size: the whole journey in both languages,
buttons, an upload whose receipt's details carry the file's SHA-256, the forward form, reload
and resume, resume on another device with the recovery code, lock and quick exit.

Every test fails on a Content-Security-Policy violation reported by the browser, and
the journey fails on any request to anywhere but Haven itself. Screenshots of the main
screens go to build/screenshots (or $HAVEN_SCREENSHOTS); the path is printed.
"""

from __future__ import annotations

import hashlib
import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from playwright.async_api import Browser

from tests.browser import CHROMIUM, SCREENSHOTS, Watched, chromium, phone
from tests.chat_rig import TRIAGE
from tests.web_rig import WebRig, tuned, web_haven

# A newcomer's machine may have no Chromium: the browser half is left out with a reason
# (`apt-get install chromium`); CI installs it and never skips.
if not Path(CHROMIUM).exists() and os.environ.get("CI") != "true":
    pytest.skip(
        f"no Chromium at {CHROMIUM}: apt-get install chromium to run the browser tests",
        allow_module_level=True,
    )

PAGE_BUDGET = 150 * 1024
NEUTRAL = "<!doctype html><html lang='en'><title>Weather</title><p>Sunny, 24°C.</p></html>"


@pytest.fixture
async def neutral() -> AsyncIterator[str]:
    """An ordinary-looking site on 127.0.0.1, where quick exit leads."""

    async def weather(_request: web.Request) -> web.Response:
        return web.Response(text=NEUTRAL, content_type="text/html")

    app = web.Application()
    app.router.add_get("/weather", weather)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}/weather"
    await runner.cleanup()


@pytest.fixture
async def rig(tmp_path: Path, neutral: str) -> AsyncIterator[WebRig]:
    async with web_haven(tmp_path / "data", tune=tuned(quick_exit_url=neutral)) as rig:
        yield rig


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    print(f"\nscreenshots: {SCREENSHOTS}")
    async with chromium() as browser:
        yield browser


# ---- acting as the person ---------------------------------------------------------


async def haven_said(watched: Watched) -> int:
    count: int = await watched.page.locator(".msg.haven").count()
    return count


async def more_than(watched: Watched, count: int) -> None:
    """Until Haven has said more than `count` messages on the page. A function, not a
    string: a string would be evaluated inside the page, which its CSP forbids."""
    await watched.page.wait_for_function(
        "(n) => document.querySelectorAll('.msg.haven').length > n", arg=count
    )


async def said_on_page(watched: Watched, text: str) -> None:
    """Until the conversation shows `text` (an answer may come in several messages)."""
    await watched.page.wait_for_function(
        "(text) => document.getElementById('log').innerText.includes(text)", arg=text
    )


async def press(watched: Watched, key: str) -> None:
    """Tap the newest button whose answer is `key`, and wait for Haven's answer."""
    before = await haven_said(watched)
    button = watched.page.locator(f'.buttons button[data-value$=":{key}"]:enabled').last
    await button.click()
    await more_than(watched, before)


async def type_and_send(watched: Watched, text: str) -> None:
    before = await haven_said(watched)
    await watched.page.fill("#text", text)
    await watched.page.click("#compose button[type=submit]")
    await more_than(watched, before)


async def transcript(watched: Watched) -> str:
    text: str = await watched.page.locator("#log").inner_text()
    return text


async def start_chat(watched: Watched, url: str) -> str:
    """Open the page, start a conversation, note the code, enter the chat."""
    page = watched.page
    await page.goto(url)
    await page.click("#start")
    await page.wait_for_selector("#code-value:not(:empty)")
    code: str = await page.inner_text("#code-value")
    await page.click("#code-done")
    await page.wait_for_selector(".msg.haven")
    return code


async def no_violations(watched: Watched) -> None:
    assert await watched.violations() == []


def only_haven(watched: Watched, rig: WebRig, *also: str) -> None:
    ws = rig.url.replace("http://", "ws://")
    allowed = (rig.url, ws, *also)
    strangers = [url for url in watched.requests if not url.startswith(allowed)]
    assert strangers == [], strangers


# ---- the journey ------------------------------------------------------------------


async def test_the_whole_journey_in_english(rig: WebRig, browser: Browser, tmp_path: Path) -> None:
    context, watched = await phone(browser, "en-US")
    page = watched.page
    await page.goto(rig.url + "/?lang=en")
    assert await page.get_attribute("html", "lang") == "en"
    assert await page.title() == "Haven"
    await watched.shot("welcome-en")
    await page.click("#start")
    await page.wait_for_selector("#code-value:not(:empty)")
    code = await page.inner_text("#code-value")
    assert len(code.replace("-", "")) == 20
    await page.fill("#passphrase", "blue kite at noon")
    await page.click("#passphrase-form button[type=submit]")
    await page.wait_for_selector("#passphrase-note:has-text('Passphrase saved')")
    await watched.shot("code-en")
    await page.click("#code-done")
    await page.wait_for_selector(".msg.haven")
    for key in TRIAGE:
        await press(watched, key)
    words = rig.haven.playbook.texts
    await said_on_page(watched, words.get("en", "item.forward_evidence.title"))
    assert "your own earlier messages are not shown" not in await transcript(watched), (
        "a chat just started has no earlier messages to explain"
    )
    await type_and_send(watched, "They shared my chats in the company group.")
    # Large tap targets, and the page fits a 360 px screen without sideways scrolling.
    smallest = await page.evaluate(
        """() => Math.min(...[...document.querySelectorAll('button, .button, textarea')]
                 .filter((e) => e.offsetParent !== null)
                 .map((e) => e.getBoundingClientRect().height))"""
    )
    assert smallest >= 44
    assert await page.evaluate("document.documentElement.scrollWidth") <= 360

    # A file, streamed with a progress bar; its short receipt's "Details" show its SHA-256.
    picture = tmp_path / "screenshot-of-group.png"
    picture.write_bytes(os.urandom(300_000))
    digest = hashlib.sha256(picture.read_bytes()).hexdigest()
    before = await haven_said(watched)
    await page.set_input_files("#file", str(picture))
    await more_than(watched, before)
    await page.wait_for_selector("#log:has-text('Kept safely as evidence #1')")
    assert await page.get_attribute("#progress-bar", "value") == "100"
    before = await haven_said(watched)
    await page.locator('.buttons button[data-value^="evd:"]:enabled').last.click()
    await more_than(watched, before)
    await page.wait_for_selector(f"#log:has-text('{digest}')")
    await watched.shot("upload-receipt-en")

    # The forward form: who sent it, when, what it said.
    await page.click("#open-forward")
    await page.fill("#forward-who", "Zhang Wei")
    await page.fill("#forward-when", "2026-03-02T21:15")
    await page.fill("#forward-text", "Pay me or everyone sees these.")
    await watched.shot("forward-form-en")
    before = await haven_said(watched)
    await page.click("#forward button[type=submit]")
    await more_than(watched, before)
    await page.wait_for_selector("#log:has-text('evidence #2')")
    await watched.shot("chat-en")

    # Reload: the same conversation, Haven's side of it, and live again.
    said = await haven_said(watched)
    await page.reload()
    await more_than(watched, said - 1)
    assert digest in await transcript(watched)
    assert "your own earlier messages are not shown" in await transcript(watched)
    await type_and_send(watched, "/status")

    # Another device: the code and the passphrase open it; a wrong passphrase does not.
    other_context, other = await phone(browser, "en-US")
    await other.page.goto(rig.url + "/?lang=en")
    await other.page.click("#to-resume")
    await other.page.fill("#resume-code", code.lower().replace("-", " "))
    await other.page.fill("#resume-passphrase", "wrong guess")
    await other.page.click("#resume-form button[type=submit]")
    await other.page.wait_for_selector("#resume-error:has-text('do not open')")
    await other.shot("resume-en")
    await other.page.fill("#resume-passphrase", "blue kite at noon")
    await other.page.click("#resume-form button[type=submit]")
    await other.page.wait_for_selector(f"#log:has-text('{digest}')")
    await other.page.wait_for_url(f"{rig.url}/c/*")

    # Lock on the other device: every session of the chat ends, this one too.
    await other.page.click("#lock")
    await other.page.wait_for_selector("#locked-note:visible")
    assert await other.page.locator(".msg").count() == 0
    await page.wait_for_selector("#locked-note:visible")
    assert await page.locator(".msg").count() == 0
    await watched.shot("locked-en")
    await page.reload()
    await page.wait_for_selector("#resume:visible")

    # What the page weighs, and that it asked nothing of anyone else.
    weight = await page.evaluate(
        """() => performance.getEntriesByType('navigation').concat(
             performance.getEntriesByType('resource'))
             .reduce((sum, entry) => sum + entry.decodedBodySize, 0)"""
    )
    assert 0 < weight <= PAGE_BUDGET, weight
    for each in (watched, other):
        only_haven(each, rig)
        await no_violations(each)
    await other_context.close()
    await context.close()


async def test_the_journey_in_chinese(rig: WebRig, browser: Browser) -> None:
    context, watched = await phone(browser, "zh-CN")
    page = watched.page
    await page.goto(rig.url + "/")
    assert await page.get_attribute("html", "lang") == "zh-CN"
    assert await page.inner_text("#start") == "开始新的对话"
    await watched.shot("welcome-zh")
    # By keyboard: the skip link first, then quick exit, reachable before anything else.
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.className") == "skip"
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.id") == "exit"
    await start_chat(watched, rig.url + "/")
    await press(watched, "lang:zh-CN")
    for key in TRIAGE[1:]:
        await press(watched, key)
    words = rig.haven.playbook.texts
    assert words.get("zh-CN", "item.forward_evidence.title") in await transcript(watched)
    await type_and_send(watched, "他们把我的聊天记录发到了公司群里。")
    await watched.shot("chat-zh")
    # The language switch reloads in place: no history entry, the same conversation.
    said = await haven_said(watched)
    entries = await page.evaluate("history.length")
    await page.click("#switch")
    await page.wait_for_function("() => document.documentElement.lang === 'en'")
    await more_than(watched, said - 1)
    assert await page.evaluate("history.length") == entries
    only_haven(watched, rig)
    await no_violations(watched)
    await context.close()


async def test_quick_exit_leaves_no_way_back_to_the_chat(
    rig: WebRig, browser: Browser, neutral: str
) -> None:
    context, watched = await phone(browser, "en-US")
    page = watched.page
    await start_chat(watched, rig.url + "/?lang=en")
    chat_id = page.url.rsplit("/", 1)[-1]
    entries = await page.evaluate("history.length")
    await page.click("#exit")
    await page.wait_for_url(neutral)
    assert await page.title() == "Weather"
    assert await page.evaluate("history.length") == entries  # the chat's entry was replaced
    await page.go_back()  # to what was open before Haven (here the tab's blank page)
    assert not page.url.startswith(rig.url)
    # The session ended on the way out: whoever opens Haven on this phone finds only
    # the welcome page, and the chat's old session could not open it either.
    while (chat := await rig.records.get(chat_id)) is not None and chat.epoch == 0:
        await page.wait_for_timeout(20)  # the lock request is still on its way
    await page.goto(rig.url + "/")
    await page.wait_for_selector("#welcome:visible")
    assert await page.locator(".msg").count() == 0
    only_haven(watched, rig, neutral)
    await context.close()


async def test_the_policy_holds_and_its_violations_are_seen(rig: WebRig, browser: Browser) -> None:
    """The check every other test relies on: an inline script is refused by the browser
    and the refusal is reported to the test."""
    context, watched = await phone(browser, "en-US")
    await watched.page.goto(rig.url + "/?lang=en")
    await watched.page.wait_for_selector("#welcome:visible")
    await no_violations(watched)
    ran = await watched.page.evaluate(
        """() => { const s = document.createElement('script');
                   s.textContent = 'window.injected = true';
                   document.body.appendChild(s);
                   return window.injected === true; }"""
    )
    assert ran is False
    await watched.page.wait_for_function("() => window.__csp.length > 0")
    assert any("script-src" in line for line in await watched.violations())
    await context.close()


async def test_an_open_page_reconnects_after_a_restart_and_carries_on(
    tmp_path: Path, browser: Browser
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    fixed = tuned(listen=f"127.0.0.1:{port}")
    context, watched = await phone(browser, "en-US")
    page = watched.page
    async with web_haven(tmp_path / "data", tune=fixed) as rig:
        await start_chat(watched, rig.url + "/?lang=en")
        await press(watched, "lang:en")
    # Haven is down: the page says it lost the connection and keeps trying.
    await page.wait_for_selector("#status:has-text('Reconnecting')")
    async with web_haven(tmp_path / "data", tune=fixed) as rig:
        await page.wait_for_selector("#status:empty")
        await press(watched, "ok:")
        await no_violations(watched)
    await context.close()
