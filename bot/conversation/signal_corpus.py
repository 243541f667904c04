"""The labelled messages the danger-signal classifier learns from and is measured on.

They live in bot/content/signals-corpus/ as three tab-separated files with a fixed split:
`train.tsv` and `validation.tsv` (what the model learns from, and where its thresholds
per class are chosen by cross-validation) and `test.tsv` (held back: only bench/signals.py
reads it, so the figures it prints are about messages the model and its thresholds never
saw). Each line is

    labels <TAB> language <TAB> message

`labels` is `ordinary` or one or more of the crisis classes joined by commas (a
16-year-old being blackmailed is `extortion,minor`); `language` is `zh` (simplified),
`zh-Hant` (traditional) or `en`, by the main script of the message. Lines starting with
`#` and empty lines are skipped.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from bot.content.playbook import CONTENT_DIR

CORPUS_DIR = CONTENT_DIR / "signals-corpus"
CLASSES = ("self_harm", "threat", "extortion", "minor")
ORDINARY = "ordinary"
LANGUAGES = ("zh", "zh-Hant", "en")
SPLITS = ("train", "validation", "test")


class CorpusError(Exception):
    """A corpus line that cannot be read; names the file and line."""


@dataclass(frozen=True)
class Example:
    text: str
    labels: frozenset[str]
    language: str

    @property
    def ordinary(self) -> bool:
        return not self.labels


def load_split(name: str, directory: Path = CORPUS_DIR) -> tuple[Example, ...]:
    if name not in SPLITS:
        raise ValueError(f"no split {name!r}; the splits are {SPLITS}")
    path = directory / f"{name}.tsv"
    return tuple(_examples(path, path.read_text(encoding="utf-8").splitlines()))


def _examples(path: Path, lines: Iterable[str]) -> Iterable[Example]:
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != 3 or not parts[2].strip():
            raise CorpusError(f"{path.name}:{number}: expected labels, language and message")
        raw_labels, language, text = parts
        labels = frozenset(raw_labels.split(","))
        if labels != {ORDINARY} and not labels <= set(CLASSES):
            raise CorpusError(f"{path.name}:{number}: unknown labels {raw_labels!r}")
        if language not in LANGUAGES:
            raise CorpusError(f"{path.name}:{number}: unknown language {language!r}")
        yield Example(text.strip(), labels - {ORDINARY}, language)


def format_line(example: Example) -> str:
    labels = ",".join(c for c in CLASSES if c in example.labels) or ORDINARY
    return f"{labels}\t{example.language}\t{example.text}"
