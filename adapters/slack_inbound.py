"""Slack events, slash commands and button presses → `bot.events.Inbound`: the one place
that reads Slack's payloads, so nothing platform-specific travels further.

- A message shared into the direct message is a FORWARD whose origin keeps the original
  author, channel, permalink and timestamp.
- Files become lazy handles: nothing is downloaded until the core decides to keep one.
- An edit (`message_changed` with an `edited` mark) is a new EDIT event with its own id,
  linked to the message it edits; a `message_changed` without that mark is Slack adding a
  link preview, not a person changing anything, and is not reported.
- A deletion (`message_deleted`) is a DELETE event naming the deleted message in
  `edited_message_id`; it erases nothing.
- The slash command (`/haven status 12`) is a COMMAND: its first word is the command, the
  rest its arguments. `/haven` alone means "start" in a direct message and "help" in a
  staff channel.

Message ids are Slack's `ts` (unique within a channel), so a redelivered event carries
the same id and the core's message log recognises it, across restarts too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

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

Payload = Mapping[str, Any]

# Subtypes that are a person saying something; every other subtype (joins, topic changes,
# bot messages) is not reported.
_SPOKEN_SUBTYPES = frozenset({"", "file_share", "thread_broadcast", "me_message"})
# The id of the comment typed on a shared message: the message's ts with this after it.
_COMMENT_SUFFIX = ":comment"


@dataclass(frozen=True)
class Person:
    """What users.info told about someone; blank when it could not be asked."""

    user_id: str
    display_name: str = ""
    locale: str = ""


class Translator:
    def __init__(self, platform: str, staff_channels: frozenset[str], fetch: FetchFactory) -> None:
        self.platform = platform
        self.staff_channels = staff_channels
        self.fetch = fetch

    def chat_kind(self, channel_id: str, channel_type: str = "") -> ChatKind:
        """Configured channels are staff; direct messages are victims; the rest is not ours."""
        if channel_id in self.staff_channels:
            return ChatKind.STAFF
        if channel_type == "im" or channel_id.startswith("D"):
            return ChatKind.PRIVATE
        return ChatKind.GROUP

    @staticmethod
    def author(event: Payload) -> str:
        """Who an event is about: the writer, the editor or the deleter's own message."""
        subtype = event.get("subtype", "")
        if subtype == "message_changed":
            return str(event.get("message", {}).get("user", ""))
        if subtype == "message_deleted":
            return str(event.get("previous_message", {}).get("user", ""))
        return str(event.get("user", ""))

    def messages(self, event: Payload, person: Person) -> tuple[Inbound, ...]:
        """What a `message` event of any subtype says, in order; none when it is nothing a
        person said. A shared message with the person's own comment is two: the comment,
        as Telegram delivers a comment on a forward, then the share."""
        if event.get("bot_id") or not person.user_id:
            return ()
        subtype = str(event.get("subtype", ""))
        chat = self._chat(event)
        if subtype == "message_changed":
            return _one(self._edit(event, chat, person))
        if subtype == "message_deleted":
            return _one(self._deletion(event, chat, person))
        if subtype not in _SPOKEN_SUBTYPES:
            return ()
        ts = str(event.get("ts", ""))
        own_text = str(event.get("text", ""))
        origin, shared_text = _shared(event)
        attachments = tuple(self._file(f) for f in event.get("files", ()) if f.get("id"))
        if origin is None:
            kind = InboundKind.ATTACHMENT if attachments else InboundKind.TEXT
            return (
                self._inbound(
                    kind,
                    person,
                    chat,
                    message_id=ts,
                    text=own_text,
                    attachments=attachments,
                    reply_to=_thread_of(event, chat),
                ),
            )
        share = self._inbound(
            InboundKind.FORWARD,
            person,
            chat,
            message_id=ts,
            text=shared_text,
            forward_origin=origin,
            attachments=attachments,
        )
        if not own_text.strip():
            return (share,)
        comment = self._inbound(
            InboundKind.TEXT, person, chat, message_id=ts + _COMMENT_SUFFIX, text=own_text
        )
        return (comment, share)

    def command(self, payload: Payload, person: Person, chat: ChatRef) -> Inbound:
        words = str(payload.get("text", "")).strip().split(maxsplit=1)
        if words:
            command, args = words[0].lstrip("/").lower(), (words[1] if len(words) > 1 else "")
        else:
            command, args = ("help" if chat.kind is ChatKind.STAFF else "start"), ""
        return self._inbound(
            InboundKind.COMMAND,
            person,
            chat,
            message_id=f"cmd:{payload.get('trigger_id', '')}",
            command=command,
            args=args.strip(),
        )

    def button(self, body: Payload, action: Payload, person: Person) -> Inbound | None:
        channel = str((body.get("channel") or {}).get("id", ""))
        container = body.get("container") or {}
        kind = self.chat_kind(channel or str(container.get("channel_id", "")))
        if kind is ChatKind.GROUP or not channel:
            return None
        pressed_on = container.get("message_ts", "")
        return self._inbound(
            InboundKind.BUTTON,
            person,
            ChatRef(self.platform, channel, kind),
            message_id=f"act:{pressed_on}:{action.get('action_ts', '')}",
            button_data=str(action.get("value", "")),
        )

    # ---- the parts ----------------------------------------------------------------

    def _chat(self, event: Payload) -> ChatRef:
        channel = str(event.get("channel", ""))
        return ChatRef(
            self.platform, channel, self.chat_kind(channel, str(event.get("channel_type", "")))
        )

    def _edit(self, event: Payload, chat: ChatRef, person: Person) -> Inbound | None:
        changed = event.get("message") or {}
        edited = changed.get("edited")
        if not edited or changed.get("bot_id"):
            return None  # a link preview added by Slack, or our own message updated
        original = str(changed.get("ts", ""))
        if _shared(changed)[0] is not None:
            original += _COMMENT_SUFFIX  # only the comment can be edited, never the share
        return self._inbound(
            InboundKind.EDIT,
            person,
            chat,
            message_id=f"{original}:edit:{edited.get('ts', '')}",
            edited_message_id=original,
            text=str(changed.get("text", "")),
        )

    def _deletion(self, event: Payload, chat: ChatRef, person: Person) -> Inbound | None:
        if (event.get("previous_message") or {}).get("bot_id"):
            return None
        deleted = str(event.get("deleted_ts", ""))
        return self._inbound(
            InboundKind.DELETE,
            person,
            chat,
            message_id=f"{deleted}:delete",
            edited_message_id=deleted,
        )

    def _inbound(self, kind: InboundKind, person: Person, chat: ChatRef, **fields: Any) -> Inbound:
        return Inbound(
            kind=kind,
            identity=Identity(self.platform, person.user_id, person.display_name),
            chat=chat,
            received_at=datetime.now(UTC),
            locale_hint=person.locale,
            **fields,
        )

    def _file(self, file: Payload) -> Attachment:
        file_id = str(file["id"])
        size = file.get("size")
        mime = str(file.get("mimetype", ""))
        return Attachment(
            kind=_file_kind(mime),
            fetch=self.fetch(file_id, size if isinstance(size, int) else None),
            file_name=str(file.get("name", "")),
            mime_type=mime,
            size=size if isinstance(size, int) else None,
            platform_file_id=file_id,
        )


def _thread_of(event: Payload, chat: ChatRef) -> str:
    """A reply in a thread answers the thread's first message, named as `send` names it."""
    thread = str(event.get("thread_ts", ""))
    if not thread or thread == str(event.get("ts", "")):
        return ""
    return f"{chat.chat_id}:{thread}"


def _one(inbound: Inbound | None) -> tuple[Inbound, ...]:
    return () if inbound is None else (inbound,)


def _shared(event: Payload) -> tuple[ForwardOrigin | None, str]:
    """The origin and text of a message shared into this one, if there is one."""
    share = next((a for a in event.get("attachments", ()) if a.get("is_share")), None)
    if share is None:
        return None, ""
    channel = str(share.get("channel_name", ""))
    origin = ForwardOrigin(
        OriginKind.USER,
        sender_name=str(share.get("author_subname") or share.get("author_name") or ""),
        sender_id=str(share.get("author_id", "")),
        chat_title=f"#{channel}" if channel else str(share.get("channel_id", "")),
        original_date=slack_time(str(share.get("ts", ""))),
        original_message_id=str(share.get("ts", "")),
        permalink=str(share.get("from_url", "")),
    )
    return origin, str(share.get("text") or share.get("fallback") or "")


def slack_time(ts: str) -> datetime | None:
    """Slack's "1545255478.858300" as an aware UTC datetime."""
    try:
        return datetime.fromtimestamp(float(ts), UTC)
    except ValueError:
        return None


def _file_kind(mime: str) -> str:
    family = mime.partition("/")[0]
    return {"image": "photo", "video": "video", "audio": "audio"}.get(family, "document")
