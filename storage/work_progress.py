"""How far a long operator command has got, for whoever shows it (a bar on a terminal:
bot/ops/progress.py). The work calls ``progress(stage, done, total)`` as it goes; by
default nobody is watching."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def __call__(self, stage: str, done: int, total: int) -> None:
        """``done`` of ``total`` units of ``stage`` (words an operator reads) are finished."""


def no_progress(stage: str, done: int, total: int) -> None:
    """Nobody is watching."""
