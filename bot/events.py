"""Plain types that cross the boundary between adapters and the core.

Adapters translate platform updates into `Inbound` values and render `Outbound` values;
nothing platform-specific travels further than the adapter that made it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class ChatKind(StrEnum):
    PRIVATE = "private"
    STAFF = "staff"
    GROUP = "group"


class InboundKind(StrEnum):
    TEXT = "text"
    COMMAND = "command"
    BUTTON = "button"
    FORWARD = "forward"
    ATTACHMENT = "attachment"
    EDIT = "edit"
    DELETE = "delete"
    UNSUPPORTED = "unsupported"


class OriginKind(StrEnum):
    USER = "user"
    HIDDEN_USER = "hidden_user"
    CHAT = "chat"
    CHANNEL = "channel"


@dataclass(frozen=True)
class Identity:
    """Who sent something, as the platform names them."""

    platform: str
    user_id: str
    display_name: str = ""


@dataclass(frozen=True)
class ChatRef:
    """Where a message came from or goes to."""

    platform: str
    chat_id: str
    kind: ChatKind = ChatKind.PRIVATE


@dataclass(frozen=True)
class ForwardOrigin:
    """Where a forwarded or shared message originally came from."""

    kind: OriginKind
    sender_name: str = ""
    sender_id: str = ""
    chat_title: str = ""
    original_date: datetime | None = None
    original_message_id: str = ""
    author_signature: str = ""
    permalink: str = ""


FetchBytes = Callable[[], Awaitable[bytes]]


@dataclass(frozen=True)
class Attachment:
    """A file sent to the bot. The bytes are fetched lazily, only when evidence is kept."""

    kind: str
    fetch: FetchBytes
    file_name: str = ""
    mime_type: str = ""
    size: int | None = None
    platform_file_id: str = ""


@dataclass(frozen=True)
class Inbound:
    """One thing a person did: typed, pressed, forwarded, attached, edited or deleted."""

    kind: InboundKind
    identity: Identity
    chat: ChatRef
    received_at: datetime
    message_id: str = ""
    text: str = ""
    command: str = ""
    args: str = ""
    button_data: str = ""
    forward_origin: ForwardOrigin | None = None
    attachments: tuple[Attachment, ...] = ()
    edited_message_id: str = ""  # the earlier message an EDIT replaces or a DELETE removes
    media_group_id: str = ""
    locale_hint: str = ""
    # The platform's id of the message this one answers (a reply, or a thread's first
    # message), as `Adapter.send` returned it for Haven's own messages; "" for none.
    reply_to: str = ""


@dataclass(frozen=True)
class Button:
    label: str
    data: str


@dataclass(frozen=True)
class OutboundFile:
    """A file the bot sends; `path` is a file Haven wrote under its data directory."""

    path: str
    file_name: str
    mime_type: str = "application/octet-stream"


@dataclass(frozen=True)
class Outbound:
    """One message for an adapter to deliver. Buttons are rows of buttons."""

    chat: ChatRef
    text: str
    buttons: tuple[tuple[Button, ...], ...] = ()
    file: OutboundFile | None = None
    edit_of: str = ""
    key: str = field(default="", compare=False)
    # Post as an answer to this message (a reply, or into its thread): an id `send`
    # returned earlier; "" posts on its own.
    reply_to: str = ""
