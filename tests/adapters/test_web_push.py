"""Web Push for the web chat, against a fake push service on 127.0.0.1 that checks the
VAPID signature against the key Haven serves to its page and decrypts each notification
with the subscribing browser's own keys (tests/fakes/push_service.py).

A notification is sent for a message nobody is there to see, and says only the neutral
sentence; none while the page is open; a subscription the push service has forgotten
(404, 410) or whose case is erased is deleted; failures are tried again, across a
restart; only the page itself (CSRF) may subscribe, and only to endpoints Haven may call.
"""

from __future__ import annotations

import asyncio
import re
import stat
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from adapters.web import WebOptions
from adapters.web.endpoints import PublicOnlyResolver, endpoint_allowed
from adapters.web.pusher import neutral_text
from bot.config import ConfigError, load_config
from storage import schema
from tests.backends import Backend
from tests.chat_rig import until_outbox_empty
from tests.fakes.push_service import Browser, PushService
from tests.test_log_privacy import logged, verbose_log  # noqa: F401 (a fixture)
from tests.web_rig import Page, WebRig, web_haven

NEUTRAL = {"en": "Haven has a message for you", "zh-CN": "Haven 有一条新消息给你"}
CONTACT = "mailto:operator@example.org"
WAIT = 10.0


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def service(backend: Backend) -> AsyncIterator[PushService]:
    """The fake push service, for a Haven on each database backend."""
    async with PushService() as service:
        yield service


def push_config(service: PushService) -> str:
    return (
        f'\n[adapters.web]\npush = true\npush_contact = "{CONTACT}"\n'
        f'push_http_origins = ["{service.origin}"]\n'
    )


def quick(**changes: Any) -> Callable[[WebOptions], WebOptions]:
    """No grace after a page leaves, retries in milliseconds, unless said otherwise."""
    settings = {"grace_seconds": 0.0, "backoff_seconds": 0.02, **changes}

    def tune(options: WebOptions) -> WebOptions:
        assert options.push is not None
        return replace(options, push=replace(options.push, **settings))

    return tune


async def opened(http: aiohttp.ClientSession, rig: WebRig, locale: str = "en") -> tuple[Page, str]:
    """A page with a new chat in it, as a person who tapped "start"; and the chat's id."""
    page = Page(http, rig.url)
    await page.open()
    status, answer = await page.post("/api/start", {"locale": locale})
    assert status == 200, answer
    await until_outbox_empty(rig.haven)  # Haven's welcome is in the mailbox
    return page, str(answer["chat"])


async def served_key(page: Page) -> str:
    html = await page.open()
    found = re.search(r'"pushKey": "([^"]*)"', html)
    assert found is not None
    return found.group(1)


async def subscribed(page: Page, service: PushService, locale: str = "en") -> dict[str, object]:
    service.expected_key = await served_key(page)
    subscription = service.subscribe()
    status, answer = await page.post("/api/push", {"subscription": subscription, "locale": locale})
    assert status == 200, answer
    return subscription


async def rows(rig: WebRig) -> list[dict[str, Any]]:
    table = schema.web_push_subscriptions
    async with rig.haven.db.transaction() as conn:
        found = (await conn.execute(select(table))).mappings().all()
    return [dict(row) for row in found]


async def until_rows(rig: WebRig, check: Callable[[list[dict[str, Any]]], bool]) -> None:
    """Until the subscriptions table passes `check`: the sender's own transaction is the
    only signal that it recorded an answer."""
    deadline = time.monotonic() + WAIT
    while not check(await rows(rig)):
        assert time.monotonic() < deadline, await rows(rig)
        await asyncio.sleep(0.01)


async def haven_says_something(page: Page) -> None:
    """The person answers the language question: Haven replies to the mailbox."""
    status, answer = await page.post("/api/button", {"data": "1:lang:en"})
    assert status == 200, answer


# ---- sending ----------------------------------------------------------------------


@pytest.mark.parametrize("locale", ["en", "zh-CN"])
async def test_a_message_nobody_is_there_to_see_sends_only_the_neutral_sentence(
    tmp_path: Path, http: aiohttp.ClientSession, service: PushService, locale: str
) -> None:
    async with web_haven(tmp_path / "data", push_config(service), tune=quick()) as rig:
        page, _ = await opened(http, rig, locale)
        await subscribed(page, service, locale)
        await haven_says_something(page)
        delivered = await asyncio.wait_for(service.delivered.get(), WAIT)
        assert delivered.text == NEUTRAL[locale]
        assert delivered.contact == CONTACT
        assert delivered.ttl > 0 and delivered.urgency == "high" and delivered.topic
        assert service.refusals == []
        await until_outbox_empty(rig.haven)
        await until_rows(rig, lambda found: found[0]["due_at"] is None)


async def test_no_notification_while_the_page_is_connected(
    tmp_path: Path, http: aiohttp.ClientSession, service: PushService
) -> None:
    async with web_haven(tmp_path / "data", push_config(service), tune=quick()) as rig:
        page, chat = await opened(http, rig)
        await subscribed(page, service)
        pusher = rig.adapter.pusher
        assert pusher is not None
        await pusher.stop()  # what would be owed stays in the database, to be seen
        headers = {**page.headers(), "Origin": rig.url}
        async with http.ws_connect(rig.url + "/api/live?after=0", headers=headers) as ws:
            first = await ws.receive_json(timeout=WAIT)
            await haven_says_something(page)
            later = await ws.receive_json(timeout=WAIT)
            assert later["messages"][0]["id"] > first["messages"][-1]["id"]
            await until_outbox_empty(rig.haven)
            assert [row["due_at"] for row in await rows(rig)] == [None]
        pusher.start()
        assert await pusher.send_due() == 0
        assert service.answered.empty()
        # Once the page has gone, the next message is notified.
        deadline = time.monotonic() + WAIT
        while rig.adapter.hub.watched(chat, 0.0):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        status, _ = await page.post("/api/message", {"text": "are you there?"})
        assert status == 200
        delivered = await asyncio.wait_for(service.delivered.get(), WAIT)
        assert delivered.text == NEUTRAL["en"]


async def test_a_page_that_just_left_may_be_reconnecting_and_gets_no_notification(
    tmp_path: Path, http: aiohttp.ClientSession, service: PushService
) -> None:
    tune = quick(grace_seconds=3600.0)
    async with web_haven(tmp_path / "data", push_config(service), tune=tune) as rig:
        page, _ = await opened(http, rig)
        await subscribed(page, service)
        assert rig.adapter.pusher is not None
        await rig.adapter.pusher.stop()  # what would be owed stays in the database
        status, _ = await page.get("/api/poll?after=0")  # one long poll, answered at once
        assert status == 200
        await haven_says_something(page)
        await until_outbox_empty(rig.haven)
        assert [row["due_at"] for row in await rows(rig)] == [None]


@pytest.mark.parametrize("status", [404, 410])
async def test_a_subscription_the_push_service_forgot_is_deleted(
    tmp_path: Path, http: aiohttp.ClientSession, service: PushService, status: int
) -> None:
    async with web_haven(tmp_path / "data", push_config(service), tune=quick()) as rig:
        page, _ = await opened(http, rig)
        subscription = await subscribed(page, service)
        service.answer_next(subscription, status)
        await haven_says_something(page)
        assert (await asyncio.wait_for(service.answered.get(), WAIT))[1] == status
        await until_rows(rig, lambda found: found == [])
        assert service.delivered.empty()


async def test_a_failed_notification_is_tried_again_and_survives_a_restart(
    tmp_path: Path, http: aiohttp.ClientSession, service: PushService
) -> None:
    data = tmp_path / "data"
    async with web_haven(data, push_config(service), tune=quick(backoff_seconds=0.02)) as rig:
        page, _ = await opened(http, rig)
        subscription = await subscribed(page, service)
        service.answer_next(subscription, 503, 429)
        await haven_says_something(page)
        answers = [(await asyncio.wait_for(service.answered.get(), WAIT))[1] for _ in range(3)]
        assert answers == [503, 429, 201]
        assert (await service.delivered.get()).text == NEUTRAL["en"]
        await until_rows(rig, lambda found: found[0]["due_at"] is None)
        # Haven stops between keeping a message and calling the push service: the
        # notification is owed in the database, and the next run sends it.
        assert rig.adapter.pusher is not None
        await rig.adapter.pusher.stop()
        await haven_says_something(page)
        await until_outbox_empty(rig.haven)
        assert (await rows(rig))[0]["due_at"] is not None
    async with web_haven(data, push_config(service), tune=quick()) as rig:
        delivered = await asyncio.wait_for(service.delivered.get(), WAIT)
        assert delivered.text == NEUTRAL["en"]
        await until_rows(rig, lambda found: found[0]["due_at"] is None)
    assert service.refusals == []


async def test_a_notification_is_given_up_after_its_tries(
    tmp_path: Path, http: aiohttp.ClientSession, service: PushService
) -> None:
    async with web_haven(tmp_path / "data", push_config(service), tune=quick(attempts=2)) as rig:
        page, _ = await opened(http, rig)
        subscription = await subscribed(page, service)
        service.answer_next(subscription, 503, 503, 503)
        await haven_says_something(page)
        answers = [(await asyncio.wait_for(service.answered.get(), WAIT))[1] for _ in range(2)]
        assert answers == [503, 503]
        await until_rows(rig, lambda found: found[0]["due_at"] is None)
        assert (await rows(rig))[0]["attempts"] == 0  # the subscription stays, for the next
        assert service.answered.empty()


async def test_an_endpoint_no_longer_allowed_is_never_called(
    tmp_path: Path, http: aiohttp.ClientSession, service: PushService
) -> None:
    data = tmp_path / "data"
    async with web_haven(data, push_config(service), tune=quick()) as rig:
        page, _ = await opened(http, rig)
        await subscribed(page, service)
    # The operator removes the allow-listed origin: the kept subscription is dropped.
    config = f'\n[adapters.web]\npush = true\npush_contact = "{CONTACT}"\n'
    async with web_haven(data, config, tune=quick()) as rig:
        page.base = rig.url
        await haven_says_something(page)
        await until_rows(rig, lambda found: found == [])
    assert service.answered.empty()


async def test_erasing_the_case_deletes_its_subscriptions(
    tmp_path: Path, http: aiohttp.ClientSession, service: PushService
) -> None:
    async with web_haven(tmp_path / "data", push_config(service), tune=quick()) as rig:
        page, _ = await opened(http, rig)
        other, other_chat = await opened(http, rig)
        await subscribed(page, service)
        await subscribed(other, service)
        await haven_says_something(page)
        await page.post("/api/message", {"text": "/erase"})
        await until_outbox_empty(rig.haven)
        _, answer = await page.get("/api/poll?after=0")
        data = next(
            button["data"]
            for message in answer["messages"]
            for row in message["buttons"]
            for button in row
            if button["data"].endswith("erase:yes:1")
        )
        assert (await page.post("/api/button", {"data": data}))[0] == 200
        await until_outbox_empty(rig.haven)
        await until_rows(rig, lambda found: len(found) == 1)
        (left,) = await rows(rig)
        assert left["chat_id"] == other_chat


async def test_subscriptions_never_reach_the_log(
    tmp_path: Path,
    http: aiohttp.ClientSession,
    service: PushService,
    verbose_log: Path,  # noqa: F811
) -> None:
    """At DEBUG, with every library's own lines: subscribing, a notification, a retry and
    a subscription gone leave no endpoint or key in the log."""
    async with web_haven(tmp_path / "data", push_config(service), tune=quick()) as rig:
        page, _ = await opened(http, rig)
        subscription = await subscribed(page, service)
        service.answer_next(subscription, 500)
        await haven_says_something(page)
        await asyncio.wait_for(service.delivered.get(), WAIT)
        service.answer_next(subscription, 410)
        await page.post("/api/message", {"text": "hello"})
        await until_rows(rig, lambda found: found == [])
    text = logged(verbose_log)
    keys: dict[str, str] = subscription["keys"]  # type: ignore[assignment]
    endpoint = str(subscription["endpoint"])
    assert "web push" in text  # the sender did log, in its own words
    for secret in (endpoint.rsplit("/", 1)[-1], keys["p256dh"], keys["auth"]):
        assert secret not in text


# ---- subscribing ------------------------------------------------------------------


async def test_only_the_page_itself_may_subscribe(
    tmp_path: Path, http: aiohttp.ClientSession, service: PushService
) -> None:
    async with web_haven(tmp_path / "data", push_config(service), tune=quick()) as rig:
        page, _ = await opened(http, rig)
        service.expected_key = await served_key(page)
        body = {"subscription": service.subscribe(), "locale": "en"}
        forged = await page.post("/api/push", body, **{"X-Haven-CSRF": "forged"})
        assert forged == (403, {"error": "csrf"})
        elsewhere = await page.post("/api/push", body, Origin="https://evil.example")
        assert elsewhere == (403, {"error": "origin"})
        stranger = Page(http, rig.url)
        await stranger.open()  # a device of its own, but no session
        assert (await stranger.post("/api/push", body))[0] == 401
        assert await rows(rig) == []
        broken = {"subscription": "x", "locale": "en"}
        assert (await page.post("/api/push", broken, request_id="r" * 20))[0] == 400
        # Refused, so not taken: the same request id may come again, once.
        assert (await page.post("/api/push", body, request_id="r" * 20))[0] == 200
        assert (await page.post("/api/push", body, request_id="r" * 20))[0] == 409
        assert len(await rows(rig)) == 1


ENDPOINTS_REFUSED = [
    "http://push.example.org/send/abc",
    "https://127.0.0.1/send/abc",
    "https://10.0.0.8/send/abc",
    "https://[::1]/send/abc",
    "https://localhost/send/abc",
    "https://metadata.localhost/send/abc",
    "https://intranet/send/abc",
    "https://push.example.org:8443/send/abc",
    "https://user:pw@push.example.org/send/abc",
    "ftp://push.example.org/send/abc",
    "https://push.example.org/" + "a" * 1000,
    "javascript:alert(1)",
]


@pytest.mark.parametrize("endpoint", ENDPOINTS_REFUSED)
def test_endpoints_haven_will_not_call(endpoint: str) -> None:
    assert not endpoint_allowed(endpoint, frozenset({"http://127.0.0.1:9"}))


def test_push_services_endpoints_are_allowed() -> None:
    for endpoint in (
        "https://fcm.googleapis.com/fcm/send/dGVzdA:APA91b",
        "https://updates.push.services.mozilla.com/wpush/v2/gAAAAA",
        "https://web.push.apple.com/QGx1c2VyX2lk",
        "https://push.example.org:443/x",
    ):
        assert endpoint_allowed(endpoint, frozenset())
    assert endpoint_allowed("http://127.0.0.1:9/push/x", frozenset({"http://127.0.0.1:9"}))
    assert not endpoint_allowed("http://127.0.0.1:10/push/x", frozenset({"http://127.0.0.1:9"}))


async def test_a_subscription_to_an_endpoint_haven_will_not_call_is_refused(
    tmp_path: Path, http: aiohttp.ClientSession, service: PushService
) -> None:
    # The fake's http origin is not allow-listed here: it counts as any other http URL.
    config = f'\n[adapters.web]\npush = true\npush_contact = "{CONTACT}"\n'
    async with web_haven(tmp_path / "data", config, tune=quick()) as rig:
        page, _ = await opened(http, rig)
        browser = Browser.new()
        for endpoint in (service.subscribe()["endpoint"], *ENDPOINTS_REFUSED[:4]):
            body = {"subscription": browser.subscription(str(endpoint)), "locale": "en"}
            assert await page.post("/api/push", body) == (400, {"error": "endpoint"})
        good = browser.subscription("https://fcm.googleapis.com/fcm/send/abc")
        keys: dict[str, str] = good["keys"]  # type: ignore[assignment]
        for broken in ({**keys, "p256dh": keys["auth"]}, {**keys, "auth": keys["p256dh"]}):
            body = {"subscription": {**good, "keys": broken}, "locale": "en"}
            assert await page.post("/api/push", body) == (400, {"error": "keys"})
        assert (await page.post("/api/push", {"subscription": "x", "locale": "en"}))[0] == 400
        assert await rows(rig) == []
        assert (await page.post("/api/push", {"subscription": good, "locale": "en"}))[0] == 200


async def test_a_name_that_resolves_inside_cannot_be_connected_to() -> None:
    resolver = PublicOnlyResolver()
    try:
        with pytest.raises(OSError, match="no public address"):
            await resolver.resolve("localhost", 443)
    finally:
        await resolver.close()


async def test_one_chat_may_subscribe_a_few_browsers_only(
    tmp_path: Path, http: aiohttp.ClientSession, service: PushService
) -> None:
    async with web_haven(tmp_path / "data", push_config(service), tune=quick(per_chat=2)) as rig:
        page, _ = await opened(http, rig)
        first = await subscribed(page, service)
        await subscribed(page, service)
        again = {"subscription": first, "locale": "zh-CN"}  # the same browser: replaced
        assert (await page.post("/api/push", again))[0] == 200
        third = {"subscription": service.subscribe(), "locale": "en"}
        assert await page.post("/api/push", third) == (403, {"error": "too_many_browsers"})
        assert sorted(row["locale"] for row in await rows(rig)) == ["en", "zh-CN"]
        off = await page.post("/api/push/off", {"endpoint": first["endpoint"]})
        assert off == (200, {"ok": True})
        assert len(await rows(rig)) == 1


# ---- the key and the switch -------------------------------------------------------


async def test_the_vapid_key_is_made_once_private_and_served_to_the_page(
    tmp_path: Path, http: aiohttp.ClientSession, service: PushService
) -> None:
    data = tmp_path / "data"
    async with web_haven(data, push_config(service)) as rig:
        key = await served_key(Page(http, rig.url))
        async with http.get(rig.url + "/sw.js") as worker:
            assert worker.status == 200
            assert worker.headers["Content-Type"].startswith("text/javascript")
            assert "worker-src 'self'" in worker.headers["Content-Security-Policy"]
            assert "showNotification" in await worker.text()
        async with http.get(rig.url + "/manifest.webmanifest") as manifest:
            # iOS offers notifications only to a page added to the home screen as an app.
            assert (await manifest.json(content_type=None))["display"] == "standalone"
    path = data / "web-push.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(key) == 87  # a 65-byte P-256 point in base64url
    assert b"PRIVATE KEY" in path.read_bytes()
    async with web_haven(data, push_config(service)) as rig:
        assert await served_key(Page(http, rig.url)) == key


async def test_with_push_off_nothing_of_it_is_offered(
    tmp_path: Path, http: aiohttp.ClientSession, service: PushService
) -> None:
    async with web_haven(tmp_path / "data") as rig:
        page, _ = await opened(http, rig)
        assert await served_key(page) == ""
        async with http.get(rig.url + "/sw.js") as worker:
            assert worker.status == 404
        body = {"subscription": service.subscribe(), "locale": "en"}
        assert (await page.post("/api/push", body))[0] == 404
        assert not (tmp_path / "data" / "web-push.key").exists()


def test_push_needs_the_operators_contact(tmp_path: Path) -> None:
    config = tmp_path / "haven.toml"
    for contact, accepted in (
        ("", False),
        ("operator@example.org", False),
        ("https://example.org/contact", False),
        ("mailto:operator@example.org", True),
        ("https://example.org", True),
    ):
        config.write_text(
            f'[adapters.web]\npush = true\npush_contact = "{contact}"\n', encoding="utf-8"
        )
        if accepted:
            assert load_config(config).adapters.web.push_contact == contact
            continue
        with pytest.raises(ConfigError, match="push_contact"):
            load_config(config)


def test_the_notification_says_the_neutral_sentence_in_each_locale() -> None:
    assert {locale: neutral_text(locale) for locale in NEUTRAL} == NEUTRAL
