"""Files people send, fetched lazily and never past a size limit: shared by the adapters.

An adapter hands the core an `Attachment` whose `fetch` downloads only when called; a
file known to be over the limit is refused before any request is made.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from bot.adapter import FileTooLarge

Fetch = Callable[[str, int | None], Awaitable[bytes]]
FetchFactory = Callable[[str, int | None], Callable[[], Awaitable[bytes]]]
"""Makes the lazy `Attachment.fetch` handle of a file, from its platform id and size."""


def refuse_over(size: int | None, limit: int) -> None:
    """Raise FileTooLarge when `size` is known and over `limit`."""
    if size is not None and size > limit:
        raise FileTooLarge(size, limit)


def lazy(fetch: Fetch) -> FetchFactory:
    """A factory of handles that download a file only when the core decides to keep it."""

    def handle(file_id: str, size: int | None) -> Callable[[], Awaitable[bytes]]:
        async def fetch_now() -> bytes:
            return await fetch(file_id, size)

        return fetch_now

    return handle
