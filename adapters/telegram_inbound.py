"""Telegram updates → `bot.events.Inbound`: the one place that reads python-telegram-bot's
message objects, so nothing platform-specific travels further.

A forward keeps its origin of every kind (user, hidden user, chat, channel) with the
original date and, for channel posts, the original message id and a public link. Files
become lazy handles: nothing is downloaded until the core decides to keep it. An edit is
a new event with its own id, linked to the message it edits, so evidence already kept is
never rewritten.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime

from telegram import (
    CallbackQuery,
    Chat,
    Message,
    MessageOrigin,
    MessageOriginChannel,
    MessageOriginChat,
    MessageOriginHiddenUser,
    MessageOriginUser,
    User,
)
from telegram.constants import ChatType

from adapters.downloads import FetchFactory
from bot.events import (
    Attachment,
    ChatKind,
    ChatRef,
    ForwardOrigin,
    Identity,
    Inbound,
    InboundKind,
    OriginKind,
)

_COMMAND = re.compile(r"/([A-Za-z0-9_]{1,64})(?:@([A-Za-z0-9_]+))?(?:\s+(.*))?", re.DOTALL)


class Translator:
    """Turns messages, edits, albums and button presses into `Inbound` values."""

    def __init__(self, platform: str, staff_chat_ids: frozenset[int], fetch: FetchFactory) -> None:
        self.platform = platform
        self.staff_chat_ids = staff_chat_ids
        self.fetch = fetch
        self.bot_username = ""

    def chat_kind(self, chat: Chat) -> ChatKind | None:
        """Private chats are victims; configured groups are staff; channels are not ours."""
        if chat.type == ChatType.PRIVATE:
            return ChatKind.PRIVATE
        if chat.id in self.staff_chat_ids:
            return ChatKind.STAFF
        if chat.type in (ChatType.GROUP, ChatType.SUPERGROUP):
            return ChatKind.GROUP
        return None

    def addressed_to_us(self, message: Message) -> bool:
        """In a group, /status@OtherBot is meant for another bot."""
        match = _COMMAND.fullmatch(message.text or "")
        if match is None or not match.group(2):
            return True
        return match.group(2).casefold() == self.bot_username.casefold()

    def message(self, message: Message) -> Inbound | None:
        return self._inbound(message, (message,), message_id=str(message.message_id))

    def edit(self, message: Message) -> Inbound | None:
        edited_at = message.edit_date or message.date
        return self._inbound(
            message,
            (message,),
            kind=InboundKind.EDIT,
            message_id=f"{message.message_id}:edit:{int(edited_at.timestamp())}",
            edited_message_id=str(message.message_id),
        )

    def album(self, messages: Sequence[Message]) -> Inbound | None:
        """One media group as one event: every item's files, the caption wherever it was."""
        ordered = sorted(messages, key=lambda m: m.message_id)
        first = ordered[0]
        return self._inbound(
            first,
            ordered,
            message_id=str(first.message_id),
            media_group_id=first.media_group_id or "",
        )

    def button(self, query: CallbackQuery) -> Inbound | None:
        message = query.message
        if message is None:  # a press on an inline-mode message: no chat of ours
            return None
        kind = self.chat_kind(message.chat)
        if kind not in (ChatKind.PRIVATE, ChatKind.STAFF):
            return None
        return Inbound(
            kind=InboundKind.BUTTON,
            identity=self._identity(query.from_user),
            chat=ChatRef(self.platform, str(message.chat.id), kind),
            received_at=datetime.now(UTC),
            message_id=f"cb:{query.id}",
            button_data=query.data or "",
            locale_hint=query.from_user.language_code or "",
        )

    # ---- the parts ----------------------------------------------------------------

    def _inbound(
        self,
        first: Message,
        messages: Sequence[Message],
        *,
        kind: InboundKind | None = None,
        **fields: str,
    ) -> Inbound | None:
        sender = first.from_user
        chat_kind = self.chat_kind(first.chat)
        if sender is None or chat_kind is None:
            return None
        origin = forward_origin(first.forward_origin)
        attachments = tuple(a for m in messages for a in self.attachments(m))
        text = next((m.text or m.caption for m in messages if m.text or m.caption), "") or ""
        command, args = "", ""
        if kind is None:
            kind, command, args = _classify(first, origin, attachments)
        if kind is InboundKind.UNSUPPORTED and chat_kind is ChatKind.STAFF:
            return None  # service messages in a staff group (joins, pins) are not for us
        answered = first.reply_to_message
        return Inbound(
            kind=kind,
            identity=self._identity(sender),
            chat=ChatRef(self.platform, str(first.chat.id), chat_kind),
            received_at=datetime.now(UTC),
            text=text,
            command=command,
            args=args,
            forward_origin=origin,
            attachments=attachments,
            locale_hint=sender.language_code or "",
            reply_to=str(answered.message_id) if answered is not None else "",
            **fields,
        )

    def _identity(self, user: User) -> Identity:
        return Identity(self.platform, str(user.id), user.full_name)

    def attachments(self, message: Message) -> tuple[Attachment, ...]:
        found: list[Attachment] = []
        if message.photo:
            # Telegram sends every size it made; the largest is the one worth keeping.
            photo = max(message.photo, key=lambda p: (p.width * p.height, p.file_size or 0))
            found.append(
                self._file("photo", photo.file_id, photo.file_size, "photo.jpg", "image/jpeg")
            )
        if message.animation is not None:  # an animation also fills `document`: keep one
            a = message.animation
            found.append(self._file("animation", a.file_id, a.file_size, a.file_name, a.mime_type))
        elif message.document is not None:
            d = message.document
            found.append(self._file("document", d.file_id, d.file_size, d.file_name, d.mime_type))
        if message.video is not None:
            v = message.video
            found.append(self._file("video", v.file_id, v.file_size, v.file_name, v.mime_type))
        if message.video_note is not None:
            n = message.video_note
            found.append(
                self._file("video_note", n.file_id, n.file_size, "video_note.mp4", "video/mp4")
            )
        if message.voice is not None:
            o = message.voice
            found.append(self._file("voice", o.file_id, o.file_size, "voice.ogg", o.mime_type))
        if message.audio is not None:
            u = message.audio
            found.append(self._file("audio", u.file_id, u.file_size, u.file_name, u.mime_type))
        if message.sticker is not None:
            s = message.sticker
            name, mime = _sticker_format(s.is_animated, s.is_video)
            found.append(self._file("sticker", s.file_id, s.file_size, name, mime))
        if message.location is not None:
            found.append(_location(message))
        return tuple(found)

    def _file(
        self, kind: str, file_id: str, size: int | None, name: str | None, mime: str | None
    ) -> Attachment:
        return Attachment(
            kind=kind,
            fetch=self.fetch(file_id, size),
            file_name=name or "",
            mime_type=mime or "",
            size=size,
            platform_file_id=file_id,
        )


def _classify(
    message: Message, origin: ForwardOrigin | None, attachments: tuple[Attachment, ...]
) -> tuple[InboundKind, str, str]:
    """The kind of a new message, with the command and its arguments when it is one."""
    if origin is not None:
        return InboundKind.FORWARD, "", ""
    if attachments:
        return InboundKind.ATTACHMENT, "", ""
    if message.text is None:
        return InboundKind.UNSUPPORTED, "", ""
    match = _COMMAND.fullmatch(message.text)
    if match is None:
        return InboundKind.TEXT, "", ""
    return InboundKind.COMMAND, match.group(1), (match.group(3) or "").strip()


def forward_origin(origin: MessageOrigin | None) -> ForwardOrigin | None:
    """Who first wrote a forwarded message, as much as Telegram tells."""
    if isinstance(origin, MessageOriginUser):
        user = origin.sender_user
        name = user.full_name + (f" (@{user.username})" if user.username else "")
        return ForwardOrigin(
            OriginKind.USER, sender_name=name, sender_id=str(user.id), original_date=origin.date
        )
    if isinstance(origin, MessageOriginHiddenUser):
        return ForwardOrigin(
            OriginKind.HIDDEN_USER, sender_name=origin.sender_user_name, original_date=origin.date
        )
    if isinstance(origin, MessageOriginChat):
        chat = origin.sender_chat
        return ForwardOrigin(
            OriginKind.CHAT,
            sender_id=str(chat.id),
            chat_title=chat.title or chat.effective_name or "",
            original_date=origin.date,
            author_signature=origin.author_signature or "",
        )
    if isinstance(origin, MessageOriginChannel):
        chat = origin.chat
        return ForwardOrigin(
            OriginKind.CHANNEL,
            sender_id=str(chat.id),
            chat_title=chat.title or "",
            original_date=origin.date,
            original_message_id=str(origin.message_id),
            author_signature=origin.author_signature or "",
            permalink=f"https://t.me/{chat.username}/{origin.message_id}" if chat.username else "",
        )
    return None


def _sticker_format(animated: bool, video: bool) -> tuple[str, str]:
    if animated:
        return "sticker.tgs", "application/x-tgsticker"
    if video:
        return "sticker.webm", "video/webm"
    return "sticker.webp", "image/webp"


def _location(message: Message) -> Attachment:
    """A shared location is evidence too; its 'file' is the coordinates as JSON."""
    location = message.location
    assert location is not None
    place: dict[str, object] = {"latitude": location.latitude, "longitude": location.longitude}
    if location.horizontal_accuracy is not None:
        place["horizontal_accuracy_m"] = location.horizontal_accuracy
    if message.venue is not None:
        place["venue"] = {"title": message.venue.title, "address": message.venue.address}
    data = json.dumps(place, ensure_ascii=False, sort_keys=True).encode()

    async def fetch() -> bytes:
        return data

    return Attachment(
        kind="location",
        fetch=fetch,
        file_name="location.json",
        mime_type="application/json",
        size=len(data),
    )
