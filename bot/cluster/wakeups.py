"""LISTEN/NOTIFY between instances: work queued on one wakes the others at once.

An instance whose sender finds rows for a chat another instance is sending to tells the
others (bot/cluster/chat_locks.py): the one holding the chat may have read the outbox
before those rows were queued. Rows an instance queues for chats nobody else holds it
sends itself, so those need no notice. One that set reminders or an escalation step
arms its own timer and tells the others when, so that if it dies before then another
fires them on time (claiming each row once: storage/reminders.py, bot/staff/escalation.py).
A timer that wakes reads the next moment due from the database, so a moment later than
one already told and still to come needs no notice: the others wake by then and find it.
Nothing depends on a notification arriving: the senders poll and the timers sweep.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from bot.clock import Clock
from storage.coordinator import Coordinator

OUTBOX = "haven_outbox"
TIMER = "haven_timer"


class Wakeups:
    def __init__(
        self, coordinator: Coordinator, wake_sender: Callable[[], None], clock: Clock
    ) -> None:
        self.coordinator = coordinator
        self.wake_sender = wake_sender
        self.clock = clock
        self._told: datetime | None = None  # the earliest moment told the others
        self.arm_timer: Callable[[Iterable[datetime]], None] = lambda _moments: None

    async def listen(self, arm_timer: Callable[[Iterable[datetime]], None]) -> None:
        """Wake this instance's sender and timer when the others say so."""
        self.arm_timer = arm_timer
        await self.coordinator.listen(OUTBOX, lambda _payload: self.wake_sender())
        await self.coordinator.listen(TIMER, self._timer_set_elsewhere)

    def outbox_queued(self) -> None:
        """Rows were queued here: this instance's sender takes them (see above)."""
        self.wake_sender()

    def timers_set(self, moments: Iterable[datetime]) -> None:
        earliest = min(moments, default=None)
        if earliest is None:
            return
        self.arm_timer([earliest])
        told = self._told
        if told is not None and self.clock.now() < told <= earliest:
            return
        self._told = earliest
        self.coordinator.announce(TIMER, earliest.isoformat())

    def _timer_set_elsewhere(self, payload: str) -> None:
        self.arm_timer([datetime.fromisoformat(payload)])
