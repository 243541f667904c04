"""The web chat over plain HTTP, as a hostile or unlucky client would use it: every bad
request gets a clean refusal, nothing is stored for it, and others are still served.
Also what the page is promised: messages that came while it was closed, or while Haven
restarted, are there when it comes back."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import sys
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select

from adapters.web.gate import SESSION_COOKIE
from adapters.web.page import TEXTS
from storage import schema
from tests.chat_rig import dead_letters, outbox_texts, until_outbox_empty
from tests.web_rig import Page, WebRig, tuned, web_haven


class Clock:
    """The web chat's wall clock, moved by hand."""

    def __init__(self) -> None:
        self.at = 1_900_000_000.0

    def __call__(self) -> float:
        return self.at


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        yield session


async def stored(rig: WebRig) -> dict[str, int]:
    """What the database holds of web chats, evidence and handled messages."""
    tables = {
        "chats": schema.web_chats,
        "items": schema.evidence_items,
        "handled": schema.message_log,
    }
    counts = {}
    async with rig.haven.db.transaction() as conn:
        for name, table in tables.items():
            counts[name] = (await conn.execute(select(func.count()).select_from(table))).scalar()
    return counts


async def offered(page: Page, answer: str) -> str:
    """The data of the first button offered for `answer`, waiting (by long polling) for
    the message that offers it: replies reach the mailbox after the request returns."""
    after = 0
    while True:
        status, found = await page.get(f"/api/poll?after={after}")
        assert status == 200, found
        for message in found["messages"]:
            for row in message["buttons"]:
                for button in row:
                    if button["data"].endswith(answer):
                        return str(button["data"])
            after = message["id"]


async def started(http: aiohttp.ClientSession, rig: WebRig) -> tuple[Page, str]:
    page = Page(http, rig.url)
    await page.open()
    status, answer = await page.post("/api/start", {"locale": "en"})
    assert status == 200, answer
    return page, answer["code"]


async def test_cookies_are_private_and_the_page_carries_its_policy(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    async with web_haven(tmp_path / "data") as rig:
        async with http.get(rig.url + "/") as response:
            cookie = response.headers["Set-Cookie"]
            policy = response.headers["Content-Security-Policy"]
        for flag in ("HttpOnly", "Secure", "SameSite=Strict", "Path=/"):
            assert flag in cookie
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy
        assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
        assert (tmp_path / "data" / "web.key").stat().st_mode & 0o777 == 0o600


async def test_oversized_uploads_are_refused_before_and_while_reading(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    async with web_haven(tmp_path / "data", tune=tuned(max_upload_bytes=10_000)) as rig:
        page, _ = await started(http, rig)
        before = await stored(rig)
        # Declared too big: refused on the header alone.
        status, answer = await page.post(
            "/api/upload", b"x" * 20_000, **{"Content-Type": "image/png"}
        )
        assert (status, answer["error"]) == (413, "too_big")

        # Not declared (chunked): refused once the count passes the limit.
        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(8):
                yield b"y" * 4096

        headers = page.headers(
            **{"X-Haven-CSRF": page.csrf, "X-Haven-Request": secrets.token_urlsafe(18)}
        )
        async with http.post(rig.url + "/api/upload", data=chunks(), headers=headers) as response:
            assert response.status == 413
        assert await stored(rig) == before
        # A file within the limit is kept.
        status, _ = await page.post("/api/upload", b"z" * 5_000, **{"X-Haven-Name": "ok.txt"})
        assert status == 200
        assert (await stored(rig))["items"] == before["items"] + 1


async def test_forged_and_idle_sessions_are_refused(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    clock = Clock()
    async with web_haven(tmp_path / "data", now=clock, tune=tuned(idle_minutes=10)) as rig:
        page, _ = await started(http, rig)
        assert (await page.post("/api/message", {"text": "hello"}))[0] == 200
        before = await stored(rig)
        genuine = page.cookies[SESSION_COOKIE]
        chat, epoch = genuine.split(".")[1:3]
        for forged in (
            genuine[:-2] + ("AA" if not genuine.endswith("AA") else "BB"),
            genuine.replace(f".{epoch}.", ".7."),
            f"1.{secrets.token_hex(16)}.0.0.0.{genuine.rsplit('.', 1)[1]}",
            "nonsense",
        ):
            page.cookies[SESSION_COOKIE] = forged
            status, answer = await page.post("/api/message", {"text": "let me in"})
            assert (status, answer["error"]) == (401, "no_session"), forged
        page.cookies[SESSION_COOKIE] = genuine
        clock.at += 11 * 60
        status, answer = await page.post("/api/message", {"text": "still there?"})
        assert (status, answer["error"]) == (401, "locked")
        assert await stored(rig) == before
        assert chat  # the cookie names the chat; the signature is what protects it


async def test_state_changes_need_the_csrf_token_the_device_and_the_origin(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    async with web_haven(tmp_path / "data") as rig:
        page, _ = await started(http, rig)
        before = await stored(rig)
        real = page.csrf
        page.csrf = ""
        assert await page.post("/api/message", {"text": "x"}) == (403, {"error": "csrf"})
        page.csrf = real[:-1] + ("A" if real[-1] != "A" else "B")
        assert await page.post("/api/message", {"text": "x"}) == (403, {"error": "csrf"})
        page.csrf = real
        assert (await page.post("/api/message", {"text": "x"}, Origin="https://evil.example"))[
            0
        ] == 403
        device = page.cookies.pop("__Host-haven-d")
        assert await page.post("/api/start", {}) == (403, {"error": "no_device"})
        page.cookies["__Host-haven-d"] = device
        assert (await page.post("/api/message", {"text": "x"}, request_id="short"))[0] == 400
        # A WebSocket is not protected by CORS: it must come from the page's own origin.
        async with http.get(rig.url + "/api/live", headers=page.headers()) as response:
            assert response.status == 403
        assert await stored(rig) == before


async def test_a_replayed_request_is_refused_and_handled_once(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    async with web_haven(tmp_path / "data") as rig:
        page, _ = await started(http, rig)
        before = await stored(rig)
        request_id = secrets.token_urlsafe(18)
        assert (await page.post("/api/message", {"text": "once"}, request_id=request_id))[0] == 200
        status, answer = await page.post("/api/message", {"text": "once"}, request_id=request_id)
        assert (status, answer["error"]) == (409, "replayed")
        assert (await stored(rig))["handled"] == before["handled"] + 1


async def test_wrong_recovery_codes_back_off_per_address(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    clock = Clock()
    options = tuned(free_guesses=3, guess_backoff_seconds=10, guess_backoff_cap_seconds=300)
    async with web_haven(tmp_path / "data", now=clock, tune=options) as rig:
        _, code = await started(http, rig)
        guesser = Page(http, rig.url, forwarded_for="203.0.113.9")
        await guesser.open()
        misses, waits, cost = 0, [], 0
        while misses < 6:
            status, answer = await guesser.post("/api/resume", {"code": "ZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZ"})
            if status == 429:
                waits.append(answer["seconds"])
                clock.at += answer["seconds"]
                continue
            assert (status, answer["error"]) == (403, "wrong_code")
            misses, cost = misses + 1, answer["seconds"]
        assert waits == [10, 20] and cost == 40  # three free, then 10 s doubling
        # Even the right code waits its turn from this address...
        status, answer = await guesser.post("/api/resume", {"code": code})
        assert (status, answer["error"]) == (429, "wait")
        # ...while the owner, elsewhere, is not held up.
        owner = Page(http, rig.url, forwarded_for="198.51.100.4")
        await owner.open()
        assert (await owner.post("/api/resume", {"code": code}))[0] == 200


async def test_a_thousand_connections_from_one_address(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    async with web_haven(tmp_path / "data") as rig:
        limit = rig.adapter.options.connections_per_address
        flood = Page(http, rig.url, forwarded_for="203.0.113.66")
        await flood.open()
        await flood.post("/api/start", {})
        before = await stored(rig)

        async def one() -> int:
            async with http.get(rig.url + "/api/poll?after=999999", headers=flood.headers()) as r:
                await r.read()
                return r.status

        polls = [asyncio.ensure_future(one()) for _ in range(1000)]
        # All but the few let in are refused at once; those few are held open.
        refused = []
        for finished in asyncio.as_completed(polls):
            refused.append(await finished)
            if len(refused) == 1000 - limit:
                break
        assert set(refused) == {429}
        assert rig.adapter.gate.connections.count() == limit
        # Someone else, meanwhile, starts a chat and hears from Haven.
        other, _ = await started(http, rig)
        other.forwarded_for = "198.51.100.20"
        status, answer = await other.get("/api/poll?after=0")
        assert status == 200 and answer["messages"]
        # Locking the flooding chat (from elsewhere: this address is out of requests)
        # ends the polls it held.
        flood.forwarded_for = "198.51.100.21"
        assert (await flood.post("/api/lock", {}))[0] == 200
        held = await asyncio.gather(*polls)
        assert held.count(429) == 1000 - limit and held.count(401) == limit
        after = await stored(rig)
        assert after["chats"] == before["chats"] + 1  # the other person's, nothing more
        assert rig.adapter.gate.connections.count() == 0


async def test_messages_sent_while_nobody_is_connected_wait_in_the_mailbox(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    async with web_haven(tmp_path / "data") as rig:
        page, _ = await started(http, rig)
        await page.post("/api/button", {"data": "1:lang:en"})
        await until_outbox_empty(rig.haven)
        assert await dead_letters(rig.haven) == 0
        status, answer = await page.get("/api/poll?after=0")
        texts = [message["text"] for message in answer["messages"]]
        assert status == 200 and len(texts) >= 2
        assert rig.haven.playbook.texts.get("en", "ui.welcome") in texts[1]


async def test_a_restart_keeps_the_session_and_what_came_meanwhile(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    data = tmp_path / "data"
    async with web_haven(data) as rig:
        page, _ = await started(http, rig)
        status, answer = await page.get("/api/poll?after=0")
        seen = answer["messages"][-1]["id"]
    # Haven is down; the page keeps its cookie and its place, and comes back to a new run.
    async with web_haven(data) as rig:
        page.base = rig.url
        assert (await page.post("/api/button", {"data": "1:lang:en"}))[0] == 200
        status, answer = await page.get(f"/api/poll?after={seen}")
        assert status == 200 and answer["messages"]
        assert all(message["id"] > seen for message in answer["messages"])


async def test_a_live_socket_gets_the_backlog_then_new_messages(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    async with web_haven(tmp_path / "data") as rig:
        page, _ = await started(http, rig)
        headers = {**page.headers(), "Origin": rig.url}
        async with http.ws_connect(rig.url + "/api/live?after=0", headers=headers) as ws:
            first: dict[str, Any] = await ws.receive_json(timeout=5)
            assert first["messages"][0]["buttons"]
            await page.post("/api/button", {"data": "1:lang:en"})
            later: dict[str, Any] = await ws.receive_json(timeout=5)
            assert later["messages"][0]["id"] > first["messages"][-1]["id"]
            await page.post("/api/lock", {})
            closing = await ws.receive(timeout=5)
            assert closing.data == 4001  # locked: the page shows the locked screen


def test_every_page_text_exists_in_every_locale() -> None:
    with TEXTS.open("rb") as handle:
        texts = tomllib.load(handle)
    assert set(texts) == {"zh-CN", "en"}
    assert set(texts["zh-CN"]) == set(texts["en"])


async def test_staff_see_a_web_case_like_any_other_marked_as_web(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    async with web_haven(tmp_path / "data") as rig:
        page, _ = await started(http, rig)
        for data in ("1:lang:en", "2:ok:"):
            assert (await page.post("/api/button", {"data": data}))[0] == 200
        for answer in ("safety=no", "extortion=yes"):
            assert (await page.post("/api/button", {"data": await offered(page, answer)}))[0] == 200
        (alert,) = await outbox_texts(rig.haven, "staff")
        words = rig.haven.playbook.texts
        assert words.get(rig.haven.config.default_locale, "platform.web") in alert


async def test_haven_run_serves_the_web_chat(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    """`haven run` serving the web chat: a real process, stopped as an operator would. The
    staff sit at its console (the web chat has no staff side), whose stdin stays open."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = tmp_path / "haven.toml"
    config.write_text(
        '[adapters]\nenabled = ["web", "console"]\n\n'
        f'[adapters.web]\nlisten = "127.0.0.1:{port}"\n',
        encoding="utf-8",
    )
    environment = {k: v for k, v in os.environ.items() if not k.startswith("HAVEN_")}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        "--config",
        str(config),
        "--data-dir",
        str(tmp_path / "data"),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=environment,
    )
    try:
        log = tmp_path / "data" / "haven.log"
        while "serving the chat page" not in (log.read_text() if log.exists() else ""):
            assert process.returncode is None, await process.stderr.read()  # type: ignore[union-attr]
            await asyncio.sleep(0.05)  # another process: its log is the only signal
        page = Page(http, f"http://127.0.0.1:{port}")
        await page.open()
        assert (await page.post("/api/start", {}))[0] == 200
        status, answer = await page.get("/api/poll?after=0")
        assert status == 200 and answer["messages"][0]["buttons"]
    finally:
        process.send_signal(signal.SIGINT)
        await asyncio.wait_for(process.wait(), 30)
    assert process.returncode == 130


async def test_erasing_the_case_empties_what_the_page_would_show_again(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    async with web_haven(tmp_path / "data") as rig:
        page, _ = await started(http, rig)
        assert (await page.post("/api/button", {"data": await offered(page, "lang:en")}))[0] == 200
        await page.post("/api/message", {"text": "/erase"})
        assert (await page.post("/api/button", {"data": await offered(page, "erase:yes:1")}))[
            0
        ] == 200
        await until_outbox_empty(rig.haven)
        status, answer = await page.get("/api/poll?after=0")
        assert status == 200
        shown = "\n".join(message["text"] for message in answer["messages"])
        assert "can never be read again" in shown
        assert rig.haven.playbook.texts.get("en", "ui.welcome") not in shown
