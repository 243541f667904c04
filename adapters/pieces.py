"""Where a split message got to: a text too long for one platform message goes out in
pieces, and when a piece fails the outbox retries the whole message. Remembering how many
pieces were delivered lets the retry resume at the first missing one instead of repeating
what the person already has."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable

_KEPT = 1024  # messages in progress remembered; the oldest is forgotten first


class PieceProgress:
    def __init__(self, kept: int = _KEPT) -> None:
        self._kept = kept
        self._progress: OrderedDict[Hashable, tuple[int, str]] = OrderedDict()

    def resume(self, key: Hashable, first_id: str) -> tuple[int, str]:
        """Pieces already delivered for `key`, and the id of the last one (`first_id` when
        none was)."""
        return self._progress.get(key, (0, first_id))

    def delivered(self, key: Hashable, done: int, last_id: str) -> None:
        self._progress[key] = (done, last_id)
        self._progress.move_to_end(key)
        while len(self._progress) > self._kept:
            self._progress.popitem(last=False)

    def finished(self, key: Hashable) -> None:
        self._progress.pop(key, None)
