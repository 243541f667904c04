"""Who the staff are and what each role may do.

Staff are configured by platform identity (`[[staff]]`); the console's own staff user
counts as staff with `adapters.console.staff_role` when the console is enabled. Operators
handle cases; admins also approve retrievals and manage holds; auditors see custody logs
and briefings but never a case's content or personal details.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bot.config import Config

OPERATOR = "operator"
ADMIN = "admin"
AUDITOR = "auditor"

# Each staff command and button, by the action it is checked as.
_OPERATOR_ACTIONS = frozenset(
    {
        "help",
        "cases",
        "case",
        "note",
        "assign",
        "resolve",
        "brief",
        "ack",
        "take",
        "retrieve",
        # talking with the victim (bot/staff/talk.py); "talk" is a plain message in it
        "reply",
        "release",
        "name",
        "talk",
        "start",
    }
)
_PERMISSIONS: dict[str, frozenset[str]] = {
    OPERATOR: _OPERATOR_ACTIONS | {"fetch", "search"},
    ADMIN: _OPERATOR_ACTIONS | {"fetch", "search", "approve", "deny", "hold", "unhold", "custody"},
    AUDITOR: frozenset({"help", "brief", "custody", "start"}),
}


@dataclass(frozen=True)
class StaffRef:
    platform: str
    user_id: str
    role: str
    name: str = ""
    totp_secret_env: str = ""
    # What victims see when this person talks with them (`display_name` in [[staff]]).
    display_name: str = ""

    @property
    def actor(self) -> str:
        """How custody events and case rows name this person."""
        return f"{self.platform}:{self.user_id}"

    @property
    def label(self) -> str:
        return self.name or self.user_id

    def may(self, action: str) -> bool:
        return action in _PERMISSIONS.get(self.role, frozenset())


class Roster:
    def __init__(self, members: Iterable[StaffRef]) -> None:
        self._by_id = {(m.platform, m.user_id): m for m in members}

    @classmethod
    def from_config(cls, config: Config) -> Roster:
        members = [
            StaffRef(m.platform, m.user_id, m.role, m.name, m.totp_secret_env, m.display_name)
            for m in config.staff
        ]
        console = config.adapters.console
        known = {(m.platform, m.user_id) for m in members}
        if "console" in config.adapters.enabled and ("console", console.staff_user) not in known:
            members.append(StaffRef("console", console.staff_user, console.staff_role))
        return cls(members)

    def __len__(self) -> int:
        return len(self._by_id)

    def find(self, platform: str, user_id: str) -> StaffRef | None:
        return self._by_id.get((platform, user_id))

    def is_member(self, platform: str, user_id: str) -> bool:
        return (platform, user_id) in self._by_id

    def by_actor(self, actor: str) -> StaffRef | None:
        platform, _, user_id = actor.partition(":")
        return self.find(platform, user_id)

    def lookup(self, handle: str, platform: str) -> StaffRef | None:
        """`@alice`, `alice` or a user id: someone on the staff of that platform."""
        wanted = handle.strip().removeprefix("@").casefold()
        if not wanted:
            return None
        for member in self._by_id.values():
            if member.platform != platform:
                continue
            if wanted in (member.user_id.casefold(), member.name.casefold()):
                return member
        return None

    def label(self, actor: str) -> str:
        """A person's display name; a former member keeps their raw id."""
        member = self.by_actor(actor)
        return member.label if member is not None else actor
