"""Benchmark: the danger-signal detector on the held-back split of its corpus.

The detector as the bot runs it — the curated phrases of bot/content/signals.toml, then
the classifier of bot/content/signals-model.json — reads every message of
bot/content/signals-corpus/test.tsv, a split that neither training nor the choice of
thresholds ever saw. Per class it prints

- recall: the share of the class's messages that get a response, either at once
  (clear) or through the direct question (uncertain), and the share that are clear;
- precision: of the messages given that class, the share that truly are of it;

then the false-alarm rate on ordinary messages (any class clear or asked; clear only),
the time per message (p50, p99, over --runs passes; CPU time of the reading thread,
which a busy machine does not inflate, and wall time beside it), and what loading the model costs
at start (seconds, and resident memory in MB). Targets from issue 15: self-harm recall
>= 0.97, threat / extortion / minor >= 0.92, false alarms <= 0.03, p99 <= 2 ms per
message, start-up <= 3 s and <= 60 MB more. It also times long messages (the held-back
messages pasted together into texts of up to 4,000 characters, the default
`max_text_chars`), since a forwarded chat log is read on the event loop like any
message; and reads the held-back messages told as part of longer accounts (each crisis
message among two to five ordinary ones, and accounts of ordinary messages only): recall
and false alarms of messages of several sentences. Ends with one JSON line whose
`ratio` is the overall crisis recall (every class label of every crisis message, caught
or not).

    .venv/bin/python bench/signals.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import time
from pathlib import Path

# The repository instead of bench/ itself, where a sibling such as bench/telegram.py
# would shadow the library of the same name.
sys.path.remove(str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.content.playbook import load_playbook
from bot.conversation.signal_corpus import CLASSES, Example, load_split
from bot.conversation.signal_model import SignalModel
from bot.conversation.signals import Reading, SignalDetector

# The longest text message Haven takes by default (`[limits] max_text_chars`).
LONG_CHARS = 4000
# Accounts of ordinary messages only, for the false alarms of longer messages.
STORIES = 600


def resident_mb() -> float:
    """Resident memory now (not the peak), from /proc where there is one."""
    statm = Path("/proc/self/statm")
    if statm.exists():
        pages = int(statm.read_text().split()[1])
        return pages * resource.getpagesize() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load_detector() -> tuple[SignalDetector, float, float]:
    """The detector as Haven builds it, with the seconds and MB its model costs."""
    signals = load_playbook().signals
    before_mb, started = resident_mb(), time.perf_counter()
    model = SignalModel.load()
    detector = SignalDetector(signals, model)
    detector.read("warm-up: 预热")  # the traditional→simplified table is built on first use
    return detector, time.perf_counter() - started, resident_mb() - before_mb


def read_all(
    detector: SignalDetector, examples: tuple[Example, ...], runs: int
) -> tuple[list[Reading], list[float], list[float]]:
    """Every message read `runs` times: the readings, and the CPU and wall time of each."""
    readings: list[Reading] = []
    cpu: list[float] = []
    wall: list[float] = []
    for run in range(runs):
        for example in examples:
            started, started_cpu = time.perf_counter(), time.thread_time()
            reading = detector.read(example.text)
            cpu.append(time.thread_time() - started_cpu)
            wall.append(time.perf_counter() - started)
            if run == 0:
                readings.append(reading)
    return readings, cpu, wall


def pastes(examples: tuple[Example, ...], limit: int = LONG_CHARS) -> list[str]:
    """The held-back messages joined, in order, into texts of up to ``limit`` characters:
    what a pasted or forwarded chat log looks like to the detector."""
    joined: list[str] = []
    current = ""
    for example in examples:
        if current and len(current) + 1 + len(example.text) > limit:
            joined.append(current)
            current = ""
        current = f"{current}\n{example.text}" if current else example.text
    return joined


def _sentence(example: Example) -> str:
    text = example.text.strip()
    if text[-1:] in "。！？!?.…":
        return text
    return text + ("。" if example.language.startswith("zh") else ".")


def _story(parts: list[Example]) -> str:
    space = "" if parts[0].language.startswith("zh") else " "
    return space.join(_sentence(part) for part in parts)


def stories(
    detector: SignalDetector, examples: tuple[Example, ...], seed: int = 1
) -> dict[str, object]:
    """Held-back messages told as part of a longer account, as people write: each crisis
    message among two to five ordinary ones of its script, in a random place (is it still
    caught?), and 600 accounts of three to six ordinary messages (are they left alone?)."""
    chance = random.Random(seed)
    plain = {
        script: [e for e in examples if e.ordinary and e.language[:2] == script]
        for script in ("zh", "en")
    }
    caught = dict.fromkeys(CLASSES, 0)
    total = dict.fromkeys(CLASSES, 0)
    for example in (e for e in examples if e.labels):
        parts = chance.sample(plain[example.language[:2]], chance.randint(2, 5))
        parts.insert(chance.randint(0, len(parts)), example)
        reading = detector.read(_story(parts))
        found = {signal.id for signal in reading.clear + reading.uncertain}
        for name in example.labels:
            total[name] += 1
            caught[name] += name in found
    alarms = clear = 0
    for _ in range(STORIES):
        script = chance.choice(("zh", "en"))
        reading = detector.read(_story(chance.sample(plain[script], chance.randint(3, 6))))
        alarms += bool(reading.clear or reading.uncertain)
        clear += bool(reading.clear)
    return {
        "recall": {name: round(caught[name] / total[name], 3) for name in CLASSES},
        "false_alarms": round(alarms / STORIES, 3),
        "false_alarms_clear": round(clear / STORIES, 3),
    }


def read_long(detector: SignalDetector, texts: list[str], runs: int) -> list[float]:
    """CPU time of each long text read as the person's own words, `runs` times over."""
    cpu: list[float] = []
    for _ in range(runs):
        for text in texts:
            started = time.thread_time()
            detector.read(text)
            cpu.append(time.thread_time() - started)
    return cpu


def percentile_ms(seconds: list[float], share: float) -> float:
    ranked = sorted(seconds)
    return round(ranked[min(len(ranked) - 1, int(share * len(ranked)))] * 1000, 3)


def figures(examples: tuple[Example, ...], readings: list[Reading]) -> dict[str, object]:
    per_class: dict[str, dict[str, float]] = {}
    caught_labels = clear_labels = total_labels = 0
    for name in CLASSES:
        truth = [name in e.labels for e in examples]
        clear = [name in {s.id for s in r.clear} for r in readings]
        asked = [name in {s.id for s in r.uncertain} for r in readings]
        caught = [c or a for c, a in zip(clear, asked, strict=True)]
        positives = sum(truth)
        hit = sum(t and c for t, c in zip(truth, caught, strict=True))
        hit_clear = sum(t and c for t, c in zip(truth, clear, strict=True))
        per_class[name] = {
            "messages": positives,
            "recall": round(hit / positives, 3),
            "recall_clear": round(hit_clear / positives, 3),
            "precision": round(hit / max(1, sum(caught)), 3),
            "precision_clear": round(hit_clear / max(1, sum(clear)), 3),
        }
        caught_labels, clear_labels, total_labels = (
            caught_labels + hit,
            clear_labels + hit_clear,
            total_labels + positives,
        )
    ordinary = [r for e, r in zip(examples, readings, strict=True) if e.ordinary]
    return {
        "classes": per_class,
        "ordinary_messages": len(ordinary),
        "false_alarms": round(
            sum(bool(r.clear or r.uncertain) for r in ordinary) / len(ordinary), 3
        ),
        "false_alarms_clear": round(sum(bool(r.clear) for r in ordinary) / len(ordinary), 3),
        "crisis_recall": round(caught_labels / total_labels, 3),
        "crisis_recall_clear": round(clear_labels / total_labels, 3),
    }


def main(runs: int) -> dict[str, object]:
    detector, load_seconds, load_mb = load_detector()
    examples = load_split("test")
    readings, cpu, wall = read_all(detector, examples, runs)
    long_texts = pastes(examples)
    long_cpu = read_long(detector, long_texts, runs)
    return {
        "stories": stories(detector, examples),
        "messages": len(examples),
        **figures(examples, readings),
        "p50_ms": percentile_ms(cpu, 0.5),
        "p99_ms": percentile_ms(cpu, 0.99),
        "wall_p50_ms": percentile_ms(wall, 0.5),
        "wall_p99_ms": percentile_ms(wall, 0.99),
        "long_messages": len(long_texts),
        "long_p50_ms": percentile_ms(long_cpu, 0.5),
        "long_p99_ms": percentile_ms(long_cpu, 0.99),
        "load_seconds": round(load_seconds, 2),
        "load_mb": round(load_mb, 1),
    }


def report(found: dict[str, object]) -> None:
    classes = found["classes"]
    assert isinstance(classes, dict)
    print(f"held-back split: {found['messages']} messages, {found['ordinary_messages']} ordinary")
    print(
        "caught = the crisis reply at once (clear) or the direct question (asked); "
        "(clear) columns count the crisis reply only"
    )
    print(f"{'class':<12}{'n':>5}{'recall':>9}{'(clear)':>9}{'precision':>11}{'(clear)':>9}")
    for name, row in classes.items():
        print(
            f"{name:<12}{row['messages']:>5}{row['recall']:>9}{row['recall_clear']:>9}"
            f"{row['precision']:>11}{row['precision_clear']:>9}"
        )
    print(f"{'overall crisis recall (clear or asked)':<44}{found['crisis_recall']:>8}")
    print(f"{'overall crisis recall (clear only)':<44}{found['crisis_recall_clear']:>8}")
    print(f"{'false alarms on ordinary (clear or asked)':<44}{found['false_alarms']:>8}")
    print(f"{'false alarms on ordinary (clear only)':<44}{found['false_alarms_clear']:>8}")
    print(f"{'CPU time per message p50 / p99 (ms)':<44}{found['p50_ms']:>8} / {found['p99_ms']}")
    print(
        f"{'wall time per message p50 / p99 (ms)':<44}{found['wall_p50_ms']:>8} / "
        f"{found['wall_p99_ms']}"
    )
    told = found["stories"]
    assert isinstance(told, dict)
    recall = ", ".join(f"{name} {value}" for name, value in told["recall"].items())
    print(f"{'in an account of 3-6 sentences: caught':<44}{recall}")
    print(
        f"{'  false alarms (clear or asked; clear only)':<44}{told['false_alarms']:>8} / "
        f"{told['false_alarms_clear']}"
    )
    print(
        f"{'long messages, CPU p50 / p99 (ms)':<44}{found['long_p50_ms']:>8} / "
        f"{found['long_p99_ms']} ({found['long_messages']} pastes of up to "
        f"{LONG_CHARS:,} characters)"
    )
    print(
        f"{'loading the model (s, MB resident)':<44}{found['load_seconds']:>8} / {found['load_mb']}"
    )
    print(json.dumps({"bench": "signals", **found, "ratio": found["crisis_recall"]}))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    report(main(args.runs))
