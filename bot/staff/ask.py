"""One staff command or button press as the staff desk's handlers receive it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.events import ChatRef
from bot.staff.access import StaffRef


@dataclass(frozen=True)
class Ask:
    """Who, in which channel, what they typed after the command, and when."""

    member: StaffRef
    chat: ChatRef
    args: str
    now: datetime


def case_number(args: str) -> int | None:
    """The leading number of a command's arguments ("12" or "#12"), if there is one."""
    first = args.split(maxsplit=1)[0] if args.strip() else ""
    first = first.removeprefix("#")
    return int(first) if first.isdigit() and len(first) < 10 else None
