"""The page turning browser notifications on and off for its chat.

A subscription is what the browser's PushManager gave the page: the push service's
endpoint and the keys a notification is encrypted to. It is taken only through the
gate (same origin, device cookie, CSRF token, a fresh request id, a live session), only
for an endpoint Haven may call (adapters/web/endpoints.py), and only with keys that are
a real P-256 point and a 16-byte secret; anything else is refused with nothing kept.
Endpoints and keys are personal data: they are never logged.
"""

from __future__ import annotations

import base64
import binascii
import logging
from typing import Any

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import ec

from adapters.web.endpoints import MAX_ENDPOINT, endpoint_allowed
from adapters.web.gate import Gate, Refused
from adapters.web.intake import read_json
from adapters.web.options import PushOptions
from adapters.web.page import LOCALES
from adapters.web.records import ChatRecords

log = logging.getLogger(__name__)

_BODY_LIMIT = 4096
_AUTH_BYTES = 16
_POINT_BYTES = 65  # an uncompressed P-256 point, as browsers give it


class Subscriptions:
    def __init__(self, gate: Gate, records: ChatRecords, options: PushOptions | None) -> None:
        self.gate = gate
        self.records = records
        self.options = options

    def _push(self) -> PushOptions:
        if self.options is None:
            raise Refused(404, "not_found")
        return self.options

    async def subscribe(self, request: web.Request) -> web.Response:
        options = self._push()
        gate = self.gate
        _, request_id = gate.changing(request)
        session = await gate.session(request)
        gate.first_time(session.chat_id, request_id)
        try:
            await self._keep(request, session.chat_id, options)
        except BaseException:
            gate.seen_again(session.chat_id, request_id)  # not kept: it may come again
            raise
        log.info("web push: a browser turned notifications on")
        response = web.json_response({"ok": True})
        gate.renew(response, session)
        return response

    async def _keep(self, request: web.Request, chat_id: str, options: PushOptions) -> None:
        body = await read_json(request, _BODY_LIMIT)
        endpoint, p256dh, auth = _subscription(body.get("subscription"))
        if not endpoint_allowed(endpoint, options.http_origins):
            log.info("web push: a subscription to an endpoint Haven does not call was refused")
            raise Refused(400, "endpoint")
        locale = body.get("locale")
        if locale not in LOCALES:
            raise Refused(400, "malformed")
        kept = await self.records.subscribe(
            chat_id, endpoint, p256dh, auth, str(locale), options.per_chat
        )
        if not kept:
            # Not 409: the page takes a 409 for its own request arriving twice.
            raise Refused(403, "too_many_browsers")

    async def unsubscribe(self, request: web.Request) -> web.Response:
        self._push()
        gate = self.gate
        gate.changing(request)
        session = await gate.session(request)
        body = await read_json(request, _BODY_LIMIT)
        endpoint = body.get("endpoint")
        if not isinstance(endpoint, str) or len(endpoint) > MAX_ENDPOINT:
            raise Refused(400, "malformed")
        await self.records.unsubscribe(session.chat_id, endpoint)
        log.info("web push: a browser turned notifications off")
        response = web.json_response({"ok": True})
        gate.renew(response, session)
        return response


def _subscription(given: Any) -> tuple[str, str, str]:
    """Endpoint, p256dh and auth of a PushSubscription's JSON, checked."""
    if not isinstance(given, dict):
        raise Refused(400, "malformed")
    endpoint, keys = given.get("endpoint"), given.get("keys")
    if not isinstance(endpoint, str) or not isinstance(keys, dict):
        raise Refused(400, "malformed")
    p256dh, auth = keys.get("p256dh"), keys.get("auth")
    if not isinstance(p256dh, str) or not isinstance(auth, str):
        raise Refused(400, "malformed")
    point, secret = _unb64(p256dh, 128), _unb64(auth, 64)
    if point is None or secret is None or len(point) != _POINT_BYTES or len(secret) != _AUTH_BYTES:
        raise Refused(400, "keys")
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError:
        raise Refused(400, "keys") from None
    return endpoint, p256dh, auth


def _unb64(text: str, limit: int) -> bytes | None:
    if len(text) > limit:
        return None
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
