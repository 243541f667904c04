"""Getting into a chat and out of it, without an account: starting one (a recovery code
is shown once, and only its hash is kept), setting a passphrase, resuming with the code
on any device, locking, and keeping an active session from going idle.

Wrong codes cost time: after a few from one address, each further try waits twice as
long (adapters/web/limits.py), and every wrong try gets the same answer whether the
code, the passphrase or both were wrong.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from adapters.web.gate import Gate, Refused, too_many
from adapters.web.intake import Turns, event, read_json
from adapters.web.live import Hub
from adapters.web.records import ChatRecords
from adapters.web.tokens import (
    code_hash,
    hash_passphrase,
    new_chat_id,
    new_recovery_code,
    normal_code,
    passphrase_matches,
    shown_code,
)
from bot.events import InboundKind

log = logging.getLogger(__name__)

PASSPHRASE_MIN = 8
PASSPHRASE_MAX = 200


class Access:
    def __init__(self, gate: Gate, records: ChatRecords, hub: Hub, turns: Turns) -> None:
        self.gate = gate
        self.records = records
        self.hub = hub
        self.turns = turns

    async def start(self, request: web.Request) -> web.Response:
        """A new chat: its code is in this answer and nowhere else, ever."""
        gate = self.gate
        device, request_id = gate.changing(request)
        address = gate.address(request)
        wait = gate.new_chats.take(address)
        if wait:
            raise too_many(wait)
        gate.first_time(device, request_id)
        body = await self._body(request)
        chat_id, code = new_chat_id(), new_recovery_code()
        await self.records.create(chat_id, code_hash(code))
        log.info("web: a new chat was opened")
        response = web.json_response({"code": shown_code(code), "chat": chat_id})
        gate.issue(response, chat_id, 0, int(gate.now()))
        start = event(InboundKind.COMMAND, chat_id, request_id, _locale(body), command="start")
        await self.turns.take(start)
        return response

    async def resume(self, request: web.Request) -> web.Response:
        gate = self.gate
        gate.changing(request)
        address = gate.address(request)
        wait = gate.guesses.wait(address)
        if wait:
            raise Refused(429, "wait", seconds=max(1, round(wait)))
        body = await self._body(request)
        code = normal_code(_string(body, "code", 64))
        passphrase = _string(body, "passphrase", PASSPHRASE_MAX)
        chat = await self.records.by_code(code_hash(code)) if code else None
        matches = chat is not None and (
            not chat.passphrase
            or await asyncio.to_thread(passphrase_matches, passphrase, chat.passphrase)
        )
        if chat is None or not matches:
            penalty = gate.guesses.missed(address)
            log.info("web: a wrong recovery code or passphrase was refused")
            raise Refused(403, "wrong_code", seconds=round(penalty))
        gate.guesses.succeeded(address)
        gate.remember(chat.chat_id, chat)
        response = web.json_response({"chat": chat.chat_id})
        gate.issue(response, chat.chat_id, chat.epoch, int(gate.now()))
        return response

    async def passphrase(self, request: web.Request) -> web.Response:
        gate = self.gate
        gate.changing(request)
        session = await gate.session(request)
        body = await self._body(request)
        passphrase = _string(body, "passphrase", PASSPHRASE_MAX)
        if len(passphrase) < PASSPHRASE_MIN:
            raise Refused(400, "passphrase_short")
        stored = await asyncio.to_thread(hash_passphrase, passphrase)
        await self.records.set_passphrase(session.chat_id, stored)
        gate.forget(session.chat_id)
        response = web.json_response({"ok": True})
        gate.renew(response, session)
        return response

    async def lock(self, request: web.Request) -> web.Response:
        """End every session of this chat, on every device, and close its live pages."""
        gate = self.gate
        gate.changing(request)
        response = web.json_response({"ok": True})
        gate.end(response)
        try:
            session = await gate.session(request)
        except Refused:
            return response  # nothing open here: locked already
        await self.records.lock(session.chat_id)
        gate.forget(session.chat_id)
        self.hub.locked(session.chat_id)
        return response

    async def touch(self, request: web.Request) -> web.Response:
        """The person is active on the page: the idle time starts again."""
        gate = self.gate
        gate.changing(request)
        session = await gate.session(request)
        response = web.json_response({"chat": session.chat_id})
        gate.renew(response, session)
        return response

    @staticmethod
    async def _body(request: web.Request) -> dict[str, object]:
        return await read_json(request, 4096)


def _string(body: dict[str, object], key: str, limit: int) -> str:
    value = body.get(key, "")
    if not isinstance(value, str):
        raise Refused(400, "malformed")
    return value[:limit]


def _locale(body: dict[str, object]) -> str:
    value = body.get("locale", "")
    return value[:8] if isinstance(value, str) else ""
