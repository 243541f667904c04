"""Progress bars for the long operator commands (audit, export, verify, keys rotate,
retention), drawn with rich on stderr only when stderr is a terminal: a log file or a
pipe gets the same output as before, with no control characters in it."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)

from storage.work_progress import Progress as ProgressReport
from storage.work_progress import no_progress


class _Bars:
    """One bar per stage, in the order the stages begin; gone from the screen when done."""

    def __init__(self, stream: TextIO) -> None:
        self.bars = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=Console(file=stream),
            transient=True,
        )
        self.tasks: dict[str, TaskID] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        task = self.tasks.get(stage)
        if task is None:
            task = self.tasks[stage] = self.bars.add_task(stage, total=total)
        self.bars.update(task, completed=done, total=total)


@contextmanager
def terminal_progress(stream: TextIO | None = None) -> Iterator[ProgressReport]:
    """Bars while the block runs if ``stream`` (default stderr) is a terminal; else a
    report that shows nothing."""
    stream = stream or sys.stderr
    if not stream.isatty():
        yield no_progress
        return
    bars = _Bars(stream)
    with bars.bars:
        yield bars
