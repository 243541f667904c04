"""`haven outbox`: what waits to be sent and what became a dead letter; `retry` re-queues.

Runs against the database while Haven itself may be running: re-queued rows are plain
pending rows, which a running sender picks up on its next pass.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.config import Config
from storage import outbox
from storage.database import Database


@dataclass(frozen=True)
class OutboxCounts:
    pending: int
    dead: int
    sent: int
    dropped: int  # unsent when their case was erased

    def describe(self) -> str:
        hint = "  (`haven outbox retry` sends them again)" if self.dead else ""
        return (
            f"pending       {self.pending}\n"
            f"dead letters  {self.dead}{hint}\n"
            f"sent          {self.sent}\n"
            f"dropped       {self.dropped}  (unsent when their case was erased)"
        )


async def outbox_command(config: Config, *, retry: bool) -> str:
    """The text `haven outbox [retry]` prints."""
    db = Database.open(config.database_url, password=config.secrets.database_password)
    try:
        await db.migrate()
        async with db.transaction() as conn:
            requeued = await outbox.requeue_dead(conn) if retry else 0
            counts = await outbox.counts(conn)
    finally:
        await db.close()
    summary = OutboxCounts(
        *(counts.get(state, 0) for state in ("pending", "dead", "sent", "dropped"))
    )
    if not retry:
        return summary.describe()
    return (
        f"re-queued {requeued} dead letter(s); Haven sends them on its next pass\n"
        f"{summary.describe()}"
    )
