"""CPU work on a large item leaves the event loop; on a small one it does not.

Hashing or sealing a forwarded text takes microseconds, less than a hop to a worker thread
costs (and on a busy machine a hop can cost milliseconds). Hashing a 20 MB video takes
tens of milliseconds, which would stall every other chat: that goes to a thread. Several
passes over the same large item go to a thread each, so that they run side by side on
the machine's cores (hashlib and AES-GCM leave the GIL for large buffers).
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


async def offload_each(size: int, *works: Callable[[], T]) -> list[T]:
    """Each of ``works``, in threads of their own at once when ``size`` bytes are at
    stake, else one after another inline; their results in order."""
    if size > LARGE_BYTES:
        return list(await asyncio.gather(*(asyncio.to_thread(work) for work in works)))
    return [work() for work in works]
