"""One outbox sender per chat across Haven instances, with session advisory locks.

A chat's messages must arrive in order; with several instances sending, two of them could
each send a row of one chat at once. So a sender sends to a chat only while it holds the
chat's lock in its instance's coordination session (storage/coordinator.py): taken at
the start of a pass, let go at its end once the pass's "sent" marks are committed. An
instance that dies lets go of its chats with its session; another sends the rest, at
least once (see README: rows sent but not yet marked when it died are sent again).
"""

from __future__ import annotations

from collections.abc import Collection

from bot.cluster.wakeups import OUTBOX
from storage.coordination import Scope
from storage.coordinator import Coordinator, CoordinatorLost


class SessionChatLocks:
    def __init__(self, coordinator: Coordinator) -> None:
        self.coordinator = coordinator

    async def acquire(self, platform: str, chats: Collection[str]) -> set[str]:
        names = {f"{platform}:{chat}": chat for chat in chats}
        try:
            taken = await self.coordinator.try_locks(Scope.OUTBOX_CHAT, list(names))
        except CoordinatorLost:
            return set()  # no session, no chat: the rows wait for it to come back
        if len(taken) < len(names):
            # Rows for chats another instance is sending to: it may have read before
            # they were queued, so it is told to look again (bot/cluster/wakeups.py).
            self.coordinator.announce(OUTBOX)
        return {names[name] for name in taken}

    def holds(self, platform: str, chat: str) -> bool:
        return self.coordinator.holds(Scope.OUTBOX_CHAT, f"{platform}:{chat}")

    async def release(self, platform: str, chats: Collection[str]) -> None:
        await self.coordinator.unlock(Scope.OUTBOX_CHAT, [f"{platform}:{chat}" for chat in chats])
