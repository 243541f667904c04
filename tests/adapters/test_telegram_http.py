"""The Telegram adapter's transport: python-telegram-bot's Bot over aiohttp, against the
fake Bot API and a deliberately slow server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import traceback
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from aiohttp import web
from telegram import Bot
from telegram.error import BadRequest, NetworkError, RetryAfter, TimedOut

from adapters.telegram import TelegramAdapter, TelegramOptions
from adapters.telegram_http import AiohttpRequest
from tests.fakes.telegram_api import FakeBotAPI

pytestmark = pytest.mark.asyncio


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotAPI]:
    api = FakeBotAPI()
    await api.start()
    yield api
    await api.close()


def bot_at(base_url: str, **timeouts: float) -> Bot:
    return Bot("123456:TEST-fake-token", base_url=base_url, request=AiohttpRequest(**timeouts))


async def test_the_adapter_talks_through_aiohttp(fake: FakeBotAPI) -> None:
    adapter = TelegramAdapter(TelegramOptions(token=fake.token, api_base_url=fake.api_base_url))
    assert isinstance(adapter.app.bot.request, AiohttpRequest)


async def test_messages_and_their_buttons_arrive_as_sent(fake: FakeBotAPI) -> None:
    async with bot_at(fake.api_base_url) as bot:
        sent = await bot.send_message(42, "第一步：保存证据 & <stop> the spread")
    [call] = fake.sent("sendMessage")
    assert call.params["text"] == "第一步：保存证据 & <stop> the spread"
    assert sent.message_id and sent.chat.id == 42


async def test_a_document_arrives_whole_with_its_name(fake: FakeBotAPI) -> None:
    data = bytes(range(256)) * 4000
    async with bot_at(fake.api_base_url) as bot:
        await bot.send_document(42, data, filename="证据包 1.zip", caption="bundle")
    [call] = fake.sent("sendDocument")
    assert call.params["document"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert call.params["document"]["filename"] == "证据包 1.zip"
    assert call.params["caption"] == "bundle"


# python-telegram-bot's own RetryAfter warns, in v22, that retry_after will change type.
@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_api_errors_are_python_telegram_bots_own(fake: FakeBotAPI) -> None:
    fake.fail("sendMessage", retry_after=7)
    async with bot_at(fake.api_base_url) as bot:
        with pytest.raises(RetryAfter) as limited:
            await bot.send_message(42, "hello")
        with pytest.raises(BadRequest):
            await bot.send_message(42, "")
    assert limited.value._retry_after == timedelta(seconds=7)  # the public one warns in v22


async def test_a_dropped_connection_is_a_network_error(fake: FakeBotAPI) -> None:
    fake.fail("sendMessage", drop=True)
    async with bot_at(fake.api_base_url) as bot:
        with pytest.raises(NetworkError):
            await bot.send_message(42, "hello")
        await bot.send_message(42, "again")
    assert [c.params["text"] for c in fake.sent("sendMessage")] == ["again"]


async def test_a_refused_connection_is_a_network_error() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    request = AiohttpRequest()
    await request.initialize()
    try:
        with pytest.raises(NetworkError):
            await request.post(f"http://127.0.0.1:{port}/bot123:x/getMe")
    finally:
        await request.shutdown()


async def test_a_network_error_never_carries_the_token() -> None:
    """aiohttp quotes the address in some errors (here TooManyRedirects), and the Bot
    API's address holds the token; the error, its text and its chain must not."""

    async def loop_back(request: web.Request) -> web.Response:
        raise web.HTTPFound(str(request.url))

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", loop_back)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    address = f"http://127.0.0.1:{runner.addresses[0][1]}/bot123456:SECRET-token/getMe"
    request = AiohttpRequest()
    await request.initialize()
    try:
        with pytest.raises(NetworkError) as failed:
            await request.post(address)
    finally:
        await request.shutdown()
        await runner.cleanup()
    told = "".join(traceback.format_exception(failed.value))
    assert "TooManyRedirects" in told
    assert "SECRET-token" not in told


async def test_an_answer_slower_than_the_read_timeout_times_out() -> None:
    async def slow(_request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.json_response({"ok": True, "result": True})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", slow)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    request = AiohttpRequest(read_timeout=0.1)
    await request.initialize()
    try:
        with pytest.raises(TimedOut):
            await request.post(f"http://127.0.0.1:{port}/bot123:x/getMe")
    finally:
        await request.shutdown()
        await runner.cleanup()


async def test_a_download_slower_than_all_timeouts_together_completes_while_it_flows() -> None:
    """Each piece arrives within the read timeout; the whole takes longer than every
    timeout added up, as a large file on a slow link does."""
    chunk = b"x" * 1000

    async def trickle(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        for _ in range(30):  # 1.5 s in all, each piece 20 times faster than the timeout
            await asyncio.sleep(0.05)
            await response.write(chunk)
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/file/{tail:.*}", trickle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    request = AiohttpRequest(
        read_timeout=1.0, write_timeout=0.05, connect_timeout=0.05, pool_timeout=0.05
    )
    await request.initialize()
    try:
        data = await request.retrieve(f"http://127.0.0.1:{port}/file/bot123:x/doc.bin")
    finally:
        await request.shutdown()
        await runner.cleanup()
    assert data == chunk * 30


async def test_a_request_before_initialize_is_refused() -> None:
    with pytest.raises(NetworkError, match="not initialized"):
        await AiohttpRequest().post("http://127.0.0.1:1/bot123:x/getMe")
