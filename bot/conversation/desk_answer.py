"""What a desk answers when a command or button is handled outside the flow."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.content.prompts import Reply


@dataclass(frozen=True)
class DeskAnswer:
    """A reply given outside the flow; `armed` are the reminder times it set."""

    case_id: int | None
    replies: tuple[Reply, ...]
    armed: tuple[datetime, ...] = ()
