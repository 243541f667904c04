"""Sending the Web Push notifications owed to subscribed browsers (pywebpush: RFC 8291
encryption, RFC 8292 VAPID signatures).

A notification is owed in the transaction that posts a message while no page of the
chat is open (adapters/web/records.py), so it survives a crash or a restart; this
sender claims what is due, calls the push services, and records each answer: taken
(nothing owed), gone (404 or 410: the subscription is deleted), or not now (network
trouble, 429, 5xx: tried again later, waiting twice as long each time, up to a cap and
a number of tries). The notification says only "Haven has a message for you", in the
language the page had: never the message, never the case. Endpoints and keys are
never logged.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from typing import Any

import aiohttp
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid
from pywebpush import WebPushException, webpush_async

from adapters.web.endpoints import PublicOnlyResolver, endpoint_allowed
from adapters.web.options import PushOptions
from adapters.web.page import texts
from adapters.web.records import ChatRecords, OwedPush

log = logging.getLogger(__name__)

GONE = (404, 410)
_IDLE_SECONDS = 60.0  # another instance's posts, or a lease run out, are seen this often
_BATCH = 50
_AT_ONCE = 8
# Push services replace a notification still waiting for the device by the next one of
# the same topic: an offline phone shows one, not one per message.
_TOPIC = "haven"


def public_key(private_pem: bytes) -> str:
    """The VAPID public key as the page's PushManager.subscribe takes it (base64url of
    the uncompressed P-256 point)."""
    key = serialization.load_pem_private_key(private_pem, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    raw = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def neutral_text(locale: str) -> str:
    """The only thing a notification ever says, in the page's language."""
    words = texts()
    return words.get(locale, words["en"])["new_message"]


class Pusher:
    def __init__(self, options: PushOptions, records: ChatRecords) -> None:
        self.options = options
        self.records = records
        self.public_key = public_key(options.private_key)
        self._vapid = Vapid.from_pem(options.private_key)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._http: aiohttp.ClientSession | None = None

    def start(self) -> None:
        connector = aiohttp.TCPConnector(resolver=PublicOnlyResolver(), limit=_AT_ONCE)
        timeout = aiohttp.ClientTimeout(total=self.options.timeout_seconds)
        self._http = aiohttp.ClientSession(connector=connector, timeout=timeout)
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._http is not None:
            await self._http.close()
            self._http = None

    def wake(self) -> None:
        """A notification was just owed: send it now rather than at the next look."""
        self._wake.set()

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                claimed = await self.send_due()
                wait = await self.records.next_push_in()
            except Exception as exc:  # the database is busy or gone: look again later
                log.error("web push: could not read what is owed (%s)", type(exc).__name__)
                claimed, wait = 0, _IDLE_SECONDS
            if wait is None:
                wait = _IDLE_SECONDS
            if wait <= 0 and not claimed:
                wait = 1.0  # due, but claimed by another instance: its lease will tell
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(max(wait, 0.0), _IDLE_SECONDS)):
                    await self._wake.wait()

    async def send_due(self) -> int:
        """One pass: send every notification due now; how many were claimed."""
        lease = 2 * self.options.timeout_seconds + 30.0
        owed = await self.records.claim_pushes(lease, _BATCH)
        gate = asyncio.Semaphore(_AT_ONCE)

        async def one(push: OwedPush) -> None:
            async with gate:
                try:
                    await self._send(push)
                except Exception as exc:  # its answer not recorded: the lease runs out
                    log.error(
                        "web push: a notification's outcome was lost (%s)", type(exc).__name__
                    )

        await asyncio.gather(*(one(push) for push in owed))
        return len(owed)

    async def _send(self, push: OwedPush) -> None:
        target = push.subscription
        if not endpoint_allowed(target.endpoint, self.options.http_origins):
            # Allowed when kept, no longer by the configuration: never called.
            log.warning("web push: a subscription's endpoint is no longer allowed; deleted")
            await self.records.push_gone(push.id)
            return
        status, retry_after = await self._post(push)
        if status is not None and status < 300:
            await self.records.push_done(push.id, push.claimed_until)
        elif status in GONE:
            log.info("web push: a subscription has ended (%d); deleted", status)
            await self.records.push_gone(push.id)
        elif status is not None and status < 500 and status != 429:
            log.warning("web push: a push service refused a notification (%d)", status)
            await self.records.push_done(push.id, push.claimed_until)
        elif push.attempts + 1 >= self.options.attempts:
            log.warning("web push: a notification was given up after %d tries", push.attempts + 1)
            await self.records.push_done(push.id, push.claimed_until)
        else:
            delay = self._backoff(push.attempts, retry_after)
            await self.records.push_later(push.id, push.claimed_until, push.attempts + 1, delay)

    async def _post(self, push: OwedPush) -> tuple[int | None, float | None]:
        """The push service's status (None: it could not be reached) and Retry-After."""
        target = push.subscription
        subscription: dict[str, Any] = {
            "endpoint": target.endpoint,
            "keys": {"p256dh": target.p256dh, "auth": target.auth},
        }
        try:
            response = await webpush_async(
                subscription_info=subscription,
                data=neutral_text(target.locale),
                vapid_private_key=self._vapid,
                vapid_claims={"sub": self.options.contact},
                ttl=self.options.ttl_seconds,
                headers={"Urgency": "high", "Topic": _TOPIC},
                timeout=self.options.timeout_seconds,
                aiohttp_session=self._http,
            )
        except WebPushException as exc:
            answer = exc.response
            if answer is None:  # the subscription's keys cannot be encrypted to
                log.warning("web push: a subscription cannot be used; deleted")
                return GONE[-1], None
            return int(answer.status), _seconds(answer.headers.get("Retry-After"))
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.info("web push: a push service could not be reached (%s)", type(exc).__name__)
            return None, None
        except Exception as exc:  # never let one subscription stop the others
            log.error("web push: sending failed (%s)", type(exc).__name__)
            return None, None
        return int(response.status), None

    def _backoff(self, attempts: int, retry_after: float | None) -> float:
        options = self.options
        delay = options.backoff_seconds * 2**attempts
        if retry_after is not None:
            delay = max(delay, retry_after)
        return float(min(delay, options.backoff_cap_seconds))


def _seconds(text: str | None) -> float | None:
    if text is None or not text.strip().isdigit():
        return None
    return float(text.strip())
