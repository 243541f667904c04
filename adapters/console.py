"""The embedded default adapter: the victim's chat and the staff channel in one terminal.

Lines typed are the victim's messages. `/forward NAME | TEXT` stands for a message
forwarded from NAME; `/forward NAME @2025-11-03 14:30 | TEXT` for one NAME originally
sent at that time (in the deployment's time zone), as a platform's forward date would
say. `/attach PATH` stands for a file sent to the bot. A line beginning with `@staff ` is
typed into the staff channel by the console's staff user, and `@staff:NAME ` by the staff
member NAME (so a demo can show two people, as four-eyes approval needs). A button is
chosen by its number or its label; a staff button by `@staff N` (the numbers of the
latest staff message with buttons). `@dm:NAME TEXT` (or `@dm TEXT` for the console's
staff user) is typed by staff member NAME in their private chat with Haven, where a
victim's words reach whoever talks with them; what Haven sends there (those words, a
retrieval's bundle) is shown as `[staff:NAME] …`. A victim's words posted under their
case's alert in the staff channel are shown `[staff] ↳ …`. `@wait SECONDS` pauses a
scripted run so timers can be seen firing.
When standard input is not a terminal, the adapter reads to the end and then closes.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from adapters.console_files import AttachRefused, attachable, read_attachable
from bot.adapter import InboundHandler
from bot.events import (
    Attachment,
    Button,
    ChatKind,
    ChatRef,
    ForwardOrigin,
    Identity,
    Inbound,
    InboundKind,
    OriginKind,
    Outbound,
)

log = logging.getLogger(__name__)

PLATFORM = "console"
VICTIM_CHAT = "victim"
STAFF_CHAT = "staff"
STAFF_PREFIX = "@staff"
DM_PREFIX = "@dm"
WAIT_PREFIX = "@wait "
MAX_WAIT_SECONDS = 600.0
_DECORATIONS = ("✓ ", "★ ")
_CYAN, _YELLOW, _DIM, _RESET = "\033[36m", "\033[33m", "\033[2m", "\033[0m"
_UNDECODABLE = "\ufffd"
_UNDECODABLE_NOTE = "(part of that line was not UTF-8 text; it is kept with � in its place)"
_UNREADABLE_LINE = "(Haven could not read that line; please check it and try again.)"
_SENT_AT = re.compile(r"\s*@(\d{4}-\d{2}-\d{2})(?:[ T](\d{1,2}:\d{2}))?\s*$")


@dataclass(frozen=True)
class ConsoleSettings:
    victim_user: str = "victim"
    staff_user: str = "staff"
    color: str = "auto"
    timezone: str = "UTC"


class ConsoleAdapter:
    platform = PLATFORM
    uploads_files = False  # the person is shown the path of Haven's own copy

    def __init__(
        self,
        settings: ConsoleSettings,
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
    ) -> None:
        self.settings = settings
        self._stdin = stdin or sys.stdin
        self._stdout = stdout or sys.stdout
        self._buttons: tuple[Button, ...] = ()
        self._staff_buttons: tuple[Button, ...] = ()
        self._ids = itertools.count(1)
        self._closed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._color = settings.color == "always" or (
            settings.color == "auto" and self._stdout.isatty()
        )

    @property
    def interactive(self) -> bool:
        return self._stdin.isatty()

    async def start(self, handler: InboundHandler) -> None:
        self._task = asyncio.create_task(self._read_loop(handler))

    async def wait_closed(self) -> None:
        await self._closed.wait()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self._closed.set()

    async def send(self, message: Outbound) -> str:
        staff = message.chat.kind is ChatKind.STAFF
        private_to_staff = not staff and message.chat.chat_id != VICTIM_CHAT
        lines = message.text.splitlines() or [""]
        channel = "staff" if message.chat.chat_id == STAFF_CHAT else message.chat.chat_id
        if staff:
            edited = "(edited) " if message.edit_of else ""
            answer = "↳ " if message.reply_to else ""
            self._write("\n".join(f"[{channel}] {edited}{answer}{line}" for line in lines), _YELLOW)
        elif private_to_staff:
            who = message.chat.chat_id
            self._write("\n".join(f"[staff:{who}] {line}" for line in lines), _YELLOW)
        else:
            self._write("Haven › " + "\n        ".join(lines), _CYAN)
        flat = tuple(button for row in message.buttons for button in row)
        if flat:
            listing = "   ".join(f"[{n}] {b.label}" for n, b in enumerate(flat, start=1))
            self._write((f"[{channel}] " if staff else "        ") + listing, _DIM)
            if staff:
                self._staff_buttons = flat
            elif not private_to_staff:
                self._buttons = flat
        if message.file is not None:
            self._write(f"        📎 {message.file.path}", _DIM)
        self._write("", None)
        return str(next(self._ids))

    def _write(self, text: str, colour: str | None) -> None:
        if self._color and colour:
            text = f"{colour}{text}{_RESET}"
        print(text, file=self._stdout, flush=True)

    # ---- input --------------------------------------------------------------------

    async def _read_loop(self, handler: InboundHandler) -> None:
        lines: asyncio.Queue[str | None] = asyncio.Queue()
        loop = asyncio.get_running_loop()

        def pump() -> None:
            # A daemon thread, so a pending read never keeps the process alive at exit.
            try:
                for line in _decoded_lines(self._stdin):
                    loop.call_soon_threadsafe(lines.put_nowait, line)
            except (OSError, ValueError):
                log.exception("reading the console's input failed")
            finally:
                loop.call_soon_threadsafe(lines.put_nowait, None)

        threading.Thread(target=pump, name="console-stdin", daemon=True).start()
        try:
            while (line := await lines.get()) is not None:
                line = line.rstrip("\r\n")
                if not self.interactive:
                    self._write(f"you   › {line}", None)
                if line.startswith(WAIT_PREFIX):
                    await self._wait(line[len(WAIT_PREFIX) :])
                    continue
                if _UNDECODABLE in line:
                    self._write(_UNDECODABLE_NOTE, _DIM)
                try:
                    inbound = self.parse(line)
                except Exception:
                    # One odd line must never end the reading of the rest.
                    log.exception("a console line could not be read")
                    self._write(
                        "(Haven could not read that line; please check it and try again.)", _DIM
                    )
                    continue
                if inbound is not None:
                    await self._handle(handler, inbound)
        finally:
            self._closed.set()

    async def _wait(self, raw: str) -> None:
        try:
            seconds = float(raw.strip())
        except ValueError:
            self._write(f"(@wait needs a number of seconds, not {raw.strip()[:20]!r})", _DIM)
            return
        await asyncio.sleep(min(max(seconds, 0.0), MAX_WAIT_SECONDS))

    async def _handle(self, handler: InboundHandler, inbound: Inbound) -> None:
        try:
            await handler(inbound)
        except Exception:
            log.exception("the console message could not be handled")
            self._write("(Haven could not handle that message; it was logged.)", _DIM)

    def parse(self, line: str) -> Inbound | None:
        """Turn one typed line into an inbound event, as a platform adapter would."""
        direct = _prefixed(line, DM_PREFIX)
        if direct is not None:
            user, typed = direct
            return self._typed(typed, staff=user or self.settings.staff_user, privately=True)
        staff_line = _prefixed(line, STAFF_PREFIX)
        if staff_line is not None:
            user, typed = staff_line
            user = user or self.settings.staff_user
            staff_button = _chosen(typed, self._staff_buttons)
            if staff_button is not None:
                return self._inbound(InboundKind.BUTTON, staff=user, button_data=staff_button.data)
            return self._typed(typed, staff=user)
        button = self._button_for(line)
        if button is not None:
            return self._inbound(InboundKind.BUTTON, button_data=button.data)
        if line.startswith("/forward"):
            return self._forward(line[len("/forward") :])
        if line.startswith("/attach"):
            return self._attach(line[len("/attach") :].strip())
        return self._typed(line, staff="")

    def _forward(self, rest: str) -> Inbound | None:
        head, _, text = rest.partition("|")
        sent_at = None
        found = _SENT_AT.search(head)
        if found is not None:
            try:
                local = datetime.fromisoformat(f"{found.group(1)} {found.group(2) or '00:00'}")
                sent_at = local.replace(tzinfo=ZoneInfo(self.settings.timezone)).astimezone(UTC)
            except (ValueError, OverflowError):
                self._write(f"(not a date Haven can use: {found.group(0).strip()})", _DIM)
                return None
            head = head[: found.start()]
        origin = ForwardOrigin(
            kind=OriginKind.USER, sender_name=head.strip(), original_date=sent_at
        )
        return self._inbound(InboundKind.FORWARD, text=text.strip(), forward_origin=origin)

    def _typed(self, text: str, *, staff: str, privately: bool = False) -> Inbound:
        if text.startswith("/") and len(text) > 1:
            command, _, args = text[1:].partition(" ")
            return self._inbound(
                InboundKind.COMMAND,
                staff=staff,
                privately=privately,
                command=command,
                args=args.strip(),
            )
        return self._inbound(InboundKind.TEXT, staff=staff, privately=privately, text=text)

    def _inbound(
        self, kind: InboundKind, *, staff: str = "", privately: bool = False, **fields: Any
    ) -> Inbound:
        """An event from the victim, or (`staff` names who) from the staff channel or,
        `privately`, from that staff member's own private chat with Haven."""
        if staff and privately:
            identity = Identity(PLATFORM, staff, staff)
            chat = ChatRef(PLATFORM, staff, ChatKind.PRIVATE)
        elif staff:
            identity = Identity(PLATFORM, staff, staff)
            chat = ChatRef(PLATFORM, STAFF_CHAT, ChatKind.STAFF)
        else:
            identity = Identity(PLATFORM, self.settings.victim_user, "victim")
            chat = ChatRef(PLATFORM, VICTIM_CHAT, ChatKind.PRIVATE)
        return Inbound(
            kind=kind, identity=identity, chat=chat, received_at=datetime.now(UTC), **fields
        )

    def _button_for(self, line: str) -> Button | None:
        return _chosen(line, self._buttons)

    def _attach(self, raw_path: str) -> Inbound | None:
        if not raw_path:
            self._write("(/attach needs the path of a file)", _DIM)
            return None
        try:
            opened = attachable(Path(raw_path).expanduser())
        except AttachRefused as refused:
            self._write(f"({refused})", _DIM)
            return None
        path, info = opened

        async def fetch() -> bytes:
            return await asyncio.to_thread(read_attachable, path, info)

        attachment = Attachment(
            kind="document", fetch=fetch, file_name=path.name, size=info.st_size
        )
        return self._inbound(InboundKind.ATTACHMENT, attachments=(attachment,))


def _decoded_lines(stream: TextIO) -> Iterator[str]:
    """The lines of ``stream``; bytes that are not UTF-8 become U+FFFD instead of ending
    the reading (a text stream without bytes underneath is read as it is)."""
    binary = getattr(stream, "buffer", None)
    if binary is None:
        yield from stream
        return
    for raw in binary:
        yield raw.decode("utf-8", errors="replace")


def _prefixed(line: str, prefix: str) -> tuple[str, str] | None:
    """`@staff TEXT` → ("", TEXT); `@staff:NAME TEXT` → (NAME, TEXT); otherwise None
    (likewise for `@dm`)."""
    if not line.startswith(prefix):
        return None
    head, _, text = line.partition(" ")
    rest = head[len(prefix) :]
    if rest == "":
        return "", text
    if rest.startswith(":") and len(rest) > 1:
        return rest[1:], text
    return None


def _chosen(line: str, buttons: tuple[Button, ...]) -> Button | None:
    """The button a typed line picks, by its number or its label."""
    typed = line.strip()
    if typed.isdigit() and 1 <= int(typed) <= len(buttons):
        return buttons[int(typed) - 1]
    folded = typed.casefold()
    for button in buttons:
        if folded and _plain_label(button.label).casefold() == folded:
            return button
    return None


def _plain_label(label: str) -> str:
    for decoration in _DECORATIONS:
        label = label.removeprefix(decoration)
    return label.strip()
