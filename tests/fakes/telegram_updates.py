"""Telegram updates as the Bot API sends them (JSON-ready dicts), for the fake to serve.

Only the fields real updates carry; python-telegram-bot parses them exactly as it would
parse Telegram's own.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Any

Json = dict[str, Any]


def user(user_id: int, first_name: str = "Victim", **extra: Any) -> Json:
    return {"id": user_id, "is_bot": False, "first_name": first_name, **extra}


def private_chat(of: Json) -> Json:
    return {"id": of["id"], "type": "private", "first_name": of["first_name"]}


def group_chat(chat_id: int, title: str = "A group") -> Json:
    return {"id": chat_id, "type": "supergroup", "title": title}


def channel_chat(chat_id: int, title: str, username: str = "") -> Json:
    chat: Json = {"id": chat_id, "type": "channel", "title": title}
    if username:
        chat["username"] = username
    return chat


# ---- forward origins (Bot API 7.0+: `forward_origin` is the only forward field) ---------


def origin_user(sender: Json, date: int) -> Json:
    return {"type": "user", "date": date, "sender_user": sender}


def origin_hidden_user(name: str, date: int) -> Json:
    return {"type": "hidden_user", "date": date, "sender_user_name": name}


def origin_chat(chat: Json, date: int, signature: str = "") -> Json:
    origin: Json = {"type": "chat", "date": date, "sender_chat": chat}
    if signature:
        origin["author_signature"] = signature
    return origin


def origin_channel(chat: Json, message_id: int, date: int, signature: str = "") -> Json:
    origin: Json = {"type": "channel", "date": date, "chat": chat, "message_id": message_id}
    if signature:
        origin["author_signature"] = signature
    return origin


def photo_sizes(file_id: str, largest: tuple[int, int] = (1280, 960)) -> list[Json]:
    """The sizes Telegram makes of one photo, smallest first; only the last is full size."""
    width, height = largest
    return [
        {
            "file_id": f"{file_id}-{w}",
            "file_unique_id": f"u{file_id}-{w}",
            "width": w,
            "height": h,
            "file_size": w * h // 10,
        }
        for w, h in ((90, 67), (320, 240), (width, height))
    ]


@dataclass
class Updates:
    """Makes updates with increasing message ids and callback query ids."""

    _message_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _query_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def message(self, chat: Json, sender: Json, text: str | None = None, **content: Any) -> Json:
        return {"message": self.raw_message(chat, sender, text, **content)}

    def raw_message(
        self, chat: Json, sender: Json, text: str | None = None, **content: Any
    ) -> Json:
        message: Json = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": chat,
            "from": sender,
            **content,
        }
        if text is not None:
            message["text"] = text
            if text.startswith("/"):
                command = text.split()[0]
                message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        return message

    def forward(
        self, chat: Json, sender: Json, origin: Json, text: str = "", **content: Any
    ) -> Json:
        body = {"forward_origin": origin, **content}
        return self.message(chat, sender, text or None, **body)

    def photo(self, chat: Json, sender: Json, file_id: str, **content: Any) -> Json:
        return self.message(chat, sender, None, photo=photo_sizes(file_id), **content)

    def document(
        self, chat: Json, sender: Json, file_id: str, name: str, size: int, **content: Any
    ) -> Json:
        document = {
            "file_id": file_id,
            "file_unique_id": f"u{file_id}",
            "file_name": name,
            "mime_type": "application/pdf",
            "file_size": size,
        }
        return self.message(chat, sender, None, document=document, **content)

    def edited(self, original: Json, text: str) -> Json:
        edit = {**original, "text": text, "edit_date": original["date"] + 60}
        return {"edited_message": edit}

    def press(self, chat: Json, sender: Json, data: str, message_id: int = 1) -> Json:
        message = {"message_id": message_id, "date": int(time.time()), "chat": chat}
        query = {
            "id": f"q{next(self._query_ids)}",
            "from": sender,
            "chat_instance": f"ci{chat['id']}",
            "message": message,
            "data": data,
        }
        return {"callback_query": query}

    def joined(self, chat: Json, by: Json, bot: Json) -> Json:
        """The bot was added to a chat (a `my_chat_member` update)."""
        return {
            "my_chat_member": {
                "chat": chat,
                "from": by,
                "date": int(time.time()),
                "old_chat_member": {"status": "left", "user": bot},
                "new_chat_member": {"status": "member", "user": bot},
            }
        }
