"""CPU work on a large item leaves the event loop; on a small one it does not.

Hashing or sealing a forwarded text takes microseconds, less than a hop to a worker thread
costs (and on a busy machine a hop can cost milliseconds). Hashing a 20 MB video takes
tens of milliseconds, which would stall every other chat: that goes to a thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

LARGE_BYTES = 1 << 20

T = TypeVar("T")


async def offload(size: int, work: Callable[..., T], *args: object) -> T:
    """``work(*args)`` in a worker thread when ``size`` bytes are at stake, else inline."""
    if size > LARGE_BYTES:
        return await asyncio.to_thread(work, *args)
    return work(*args)
