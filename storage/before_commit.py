"""Work a transaction does last, just before it commits.

Appending to the evidence log serialises writers: on PostgreSQL the append takes an
advisory lock that lasts until its transaction ends (storage/ledger.py), so whatever the
transaction does after the append, every other append waits for, on every instance. A
turn that keeps evidence does much more after choosing the item's number (its replies,
reminders, escalation, the case itself), so its append is put off to here: the lock is
then held for the append, the rows that name the leaf, and the commit, nothing else. It
is still the same transaction: the leaf and its rows commit with the turn, or none does.

:class:`storage.database.Database` opens the list for each of its transactions. Work put
off on a connection it did not open runs at once, in place.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncConnection

Work = Callable[[AsyncConnection], Awaitable[None]]

_PENDING: dict[AsyncConnection, list[Work]] = {}


@asynccontextmanager
async def collected(conn: AsyncConnection) -> AsyncIterator[None]:
    """Around a transaction's statements: afterwards, the work put off meanwhile, in
    the order it was put off. Nothing of it runs when the statements raised."""
    work: list[Work] = []
    _PENDING[conn] = work
    try:
        yield
        done = 0
        while done < len(work):  # work may put off more work
            await work[done](conn)
            done += 1
    finally:
        del _PENDING[conn]


async def at_end(conn: AsyncConnection, work: Work) -> None:
    """Run ``work`` in ``conn``'s transaction, as late as it can be (see above)."""
    pending = _PENDING.get(conn)
    if pending is None:
        await work(conn)
        return
    pending.append(work)
