"""Train the danger-signal classifier from the corpus and keep its weights as plain data.

    .venv/bin/python -m bot.conversation.signal_training          # rewrite the model file
    .venv/bin/python -m bot.conversation.signal_training --check  # exit 1 if it is stale

(`make signals-model` runs the first; the file is bot/content/signals-model.json.) A
development tool: it needs scikit-learn, which the running bot never imports
(signal_model.py scores the weights in pure Python).

What it does, all deterministic, so the same corpus always gives the same file:

1. TF-IDF over what signal_text.py makes of each message — character n-grams, age marks
   and the short-message prior — with sublinear term frequency and the L2 norm (an
   n-gram must occur in at least two training messages), and one logistic regression per
   crisis class (one-vs-rest, the classes weighted by their size), on the train and
   validation splits together.
2. Prune: n-grams whose weights are all tiny are dropped and the model is fitted again
   on the n-grams kept, so the file stays small and the stored weights are exactly what
   was trained (the scorer's L2 norm runs over the same n-grams as the fit's).
3. Thresholds per class, chosen by cross-validation: the same fit on four fifths of
   those messages scores the fifth it never saw, five times over, so every message gets
   a score from a model that did not learn it (three draws of the five folds, each
   message's score the mean of its three). Thresholds are set on those scores, not on
   a split that examples were written against (which made them look better than they
   were). `ask` starts where recall reaches its target (the direct question catches what
   the model is unsure of); for threats, demands and minors it is raised, where needed,
   until at most a fixed share of ordinary messages reach it, and self-harm's is raised
   until at most a set share of ordinary messages would be asked about by any class;
   `clear` is where the messages above it are nearly all of the class, so a crisis reply
   is not given on a guess; `sentence`, between them, is where one sentence of a longer
   message read alone makes the message worth asking about (SENTENCE_LIFT).

The test split is never read here.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from bot.conversation.signal_corpus import CLASSES, Example, load_split
from bot.conversation.signal_model import MODEL_PATH
from bot.conversation.signal_text import NGRAM_RANGE, RECIPE, ngrams

# Regularisation: smaller is smoother. Chosen by cross-validation (16 to 1000 gave
# nearly the same recall).
C = 64.0
MIN_DF = 2
# An n-gram whose largest weight over the classes is below this is dropped.
PRUNE_BELOW = 0.08
DIGITS = 5
# Cross-validation folds the thresholds are chosen over, and how many times the split
# into folds is drawn anew: which messages share a fold moves one draw's thresholds a
# lot (an `ask` of 0.60 or 0.77 for the same class, the same corpus), so each message's
# score is its mean over the draws, and the thresholds follow the corpus, not the draw.
FOLDS = 5
FOLD_DRAWS = 3
# Cross-validated recall the `ask` threshold starts from, per class: self-harm highest, because
# a kind question asked once too often costs far less than a missed cry for help...
RECALL_TARGET = {"self_harm": 0.97, "threat": 0.92, "extortion": 0.92, "minor": 0.92}
# ...but at most this share of ordinary messages may be asked about (by any
# class: the person sees one question, whichever class asks it). Issue 15 asks for 0.03
# with recall 0.97 — more than this model can give at once (cross-validated: at 0.04
# self-harm recall is 0.81), so the budget leans towards catching a cry for help: a kind
# question asked once too often costs less than a crisis missed.
ORDINARY_ASK_BUDGET = 0.10
# Each of the other classes may ask about at most this share of ordinary messages (less
# when its recall target is met below it); self-harm has what the budget leaves. Fixed
# shares keep each threshold where its own class puts it: one shared budget given out a
# message at a time to the class that lost least moved extortion's `ask` from 0.71 to
# 0.80 for fourteen added examples, and its recall with it. Cross-validated over three
# corpora of this session, against that allocation: self-harm 0.934 -> 0.925, threats
# 0.907 -> 0.913, extortion 0.893 -> 0.920, minors 0.904 -> 0.920.
ASK_SHARE = {"threat": 0.025, "extortion": 0.012, "minor": 0.012}
# Above `clear`, at least this share of the messages must be of the class, and at
# most this share of ordinary ones may get there.
CLEAR_PRECISION = 0.97
ORDINARY_CLEAR_CAP = 0.005
# One sentence of a longer message, read on its own, makes the message *uncertain* (Haven
# asks) from this far between its class's `ask` (0) and `clear` (1). Self-harm halfway: in
# an account of several sentences a cry for help is diluted by the rest, and a question
# costs less than a missed cry for help. Cross-validated, with accounts of three to six
# messages: self-harm caught 0.72 -> 0.88, accounts of ordinary messages asked about
# 0.14 -> 0.22; one-sentence messages are not read by sentence, so nothing changes there.
SENTENCE_LIFT = {"self_harm": 0.5, "threat": 1.0, "extortion": 1.0, "minor": 1.0}


@dataclass(frozen=True)
class Fitted:
    vectorizer: TfidfVectorizer
    models: tuple[LogisticRegression, ...]


def _vectorizer(vocabulary: Sequence[str] | None = None) -> TfidfVectorizer:
    return TfidfVectorizer(
        analyzer=_grams,
        sublinear_tf=True,
        min_df=1 if vocabulary is not None else MIN_DF,
        norm="l2",
        smooth_idf=True,
        vocabulary=vocabulary,
        dtype=np.float64,
    )


@cache
def _grams(text: str) -> tuple[str, ...]:
    """signal_text.ngrams, made once per message: cross-validation fits each one six times."""
    return tuple(ngrams(text))


def _fit(texts: Sequence[str], labels: np.ndarray, vocabulary: Sequence[str] | None) -> Fitted:
    vectorizer = _vectorizer(vocabulary)
    matrix = vectorizer.fit_transform(texts)
    models = []
    for column in range(labels.shape[1]):
        model = LogisticRegression(
            C=C, class_weight="balanced", solver="liblinear", max_iter=1000, random_state=0
        )
        model.fit(matrix, labels[:, column])
        models.append(model)
    return Fitted(vectorizer, tuple(models))


def label_matrix(examples: Sequence[Example]) -> np.ndarray:
    return np.array([[c in e.labels for c in CLASSES] for e in examples], dtype=np.int8)


def fit(train: Sequence[Example]) -> Fitted:
    texts = [e.text for e in train]
    labels = label_matrix(train)
    first = _fit(texts, labels, None)
    weights = np.vstack([m.coef_[0] for m in first.models])
    names = first.vectorizer.get_feature_names_out()
    kept = sorted(str(names[i]) for i in np.flatnonzero(np.abs(weights).max(axis=0) >= PRUNE_BELOW))
    return _fit(texts, labels, kept)


def probabilities(fitted: Fitted, texts: Sequence[str]) -> np.ndarray:
    matrix = fitted.vectorizer.transform(texts)
    return np.column_stack([m.predict_proba(matrix)[:, 1] for m in fitted.models])


def choose_thresholds(
    scores: np.ndarray, examples: Sequence[Example]
) -> dict[str, dict[str, float]]:
    labels = label_matrix(examples).astype(bool)
    ordinary = np.array([e.ordinary for e in examples])
    asks = _asks(scores, labels, ordinary)
    chosen = {}
    for column, name in enumerate(CLASSES):
        plain = scores[ordinary, column]
        ask = asks[column]
        clear = _clear(scores[:, column], labels[:, column], plain, ask)
        chosen[name] = {
            "ask": round(ask, DIGITS),
            "clear": round(clear, DIGITS),
            "sentence": round(ask + SENTENCE_LIFT[name] * (clear - ask), DIGITS),
        }
    return chosen


def _asks(scores: np.ndarray, labels: np.ndarray, ordinary: np.ndarray) -> list[float]:
    """Each class's `ask`: where its recall target is met, raised for the classes of
    ASK_SHARE until no more than their share of ordinary messages reach it; self-harm's
    then raised until no more than ORDINARY_ASK_BUDGET of ordinary messages reach any."""
    plain = scores[ordinary]
    asks = []
    for column, name in enumerate(CLASSES):
        ranked = np.sort(scores[labels[:, column], column])
        ask = float(ranked[int(np.floor((1 - RECALL_TARGET[name]) * len(ranked)))])
        if name in ASK_SHARE:
            allowed = int(np.floor(ASK_SHARE[name] * len(plain)))
            ask = max(ask, _reached_by_at_most(plain[:, column], allowed))
        asks.append(ask)
    own = CLASSES.index("self_harm")
    others = [column for column in range(len(CLASSES)) if column != own]
    asked = (plain[:, others] >= np.array([asks[column] for column in others])).any(axis=1)
    left = int(np.floor(ORDINARY_ASK_BUDGET * len(plain))) - int(asked.sum())
    if left < 0:
        raise ValueError("ASK_SHARE gives out more than ORDINARY_ASK_BUDGET")
    asks[own] = max(asks[own], _reached_by_at_most(plain[~asked, own], left))
    return asks


def _reached_by_at_most(plain: np.ndarray, allowed: int) -> float:
    """The lowest threshold that at most ``allowed`` of these ordinary scores reach."""
    if allowed >= len(plain):
        return 0.0
    return float(np.nextafter(np.sort(plain)[::-1][allowed], 1.0))


def _clear(column: np.ndarray, positive: np.ndarray, plain: np.ndarray, ask: float) -> float:
    """The lowest threshold at or above `ask` whose messages are nearly all of the class."""
    for threshold in np.unique(column[column >= ask]):
        above = column >= threshold
        precision = positive[above].mean()
        ordinary_share = (plain >= threshold).mean()
        if precision >= CLEAR_PRECISION and ordinary_share <= ORDINARY_CLEAR_CAP:
            return float(threshold)
    return 1.0


def document(fitted: Fitted, thresholds: dict[str, dict[str, float]]) -> dict[str, Any]:
    vectorizer = fitted.vectorizer
    names = vectorizer.get_feature_names_out()
    weights = np.vstack([m.coef_[0] for m in fitted.models])
    features = {
        str(name): [round(float(vectorizer.idf_[i]), DIGITS)]
        + [round(float(w), DIGITS) for w in weights[:, i]]
        for i, name in enumerate(names)
    }
    return {
        "recipe": RECIPE,
        "ngram_range": list(NGRAM_RANGE),
        "classes": list(CLASSES),
        "intercepts": [round(float(m.intercept_[0]), DIGITS) for m in fitted.models],
        "thresholds": thresholds,
        "features": features,
    }


def train_document() -> dict[str, Any]:
    """The model file's content, trained afresh from the corpus."""
    examples = load_split("train") + load_split("validation")
    scores = out_of_fold(examples)
    return document(fit(examples), choose_thresholds(scores, examples))


def out_of_fold(examples: Sequence[Example]) -> np.ndarray:
    """Each message's probabilities from the fits on folds that do not hold it, the mean
    over FOLD_DRAWS draws of the folds."""
    strata = [_stratum(e) for e in examples]
    scores = np.zeros((len(examples), len(CLASSES)))
    for draw in range(FOLD_DRAWS):
        folds = StratifiedKFold(FOLDS, shuffle=True, random_state=draw)
        for learnt, held in folds.split(strata, strata):
            fitted = fit([examples[i] for i in learnt])
            scores[held] += probabilities(fitted, [examples[i].text for i in held])
    return scores / FOLD_DRAWS


def _stratum(example: Example) -> str:
    """Class and script, so every fold holds its share of each (zh-Hant counts as zh)."""
    first = next((c for c in CLASSES if c in example.labels), "ordinary")
    return f"{first}/{example.language[:2]}"


# How far a stored model may be from what the corpus trains here and still be the same.
# The same corpus trained on another processor gives weights up to 0.002 apart (the
# solver reaches its tolerance by another path of floating-point sums: seen between two
# machines of this workplace) and thresholds 3e-5 apart, while taking one message out of
# the corpus moves some weight by 0.2 or more: a stale file is caught well inside the gap.
WEIGHT_TOLERANCE = 0.01
THRESHOLD_TOLERANCE = 1e-3


def stale_parts(stored: dict[str, Any], trained: dict[str, Any]) -> list[str]:
    """Where ``stored`` differs from ``trained`` by more than another processor would
    make it differ; empty when it is what the corpus trains."""
    found = [key for key in ("recipe", "classes") if stored.get(key) != trained[key]]
    if stored.get("features", {}).keys() != trained["features"].keys():
        return [*found, "features: another set of n-grams"]
    found += [
        f"features[{gram!r}]"
        for gram, weights in trained["features"].items()
        if not _close(stored["features"][gram], weights, WEIGHT_TOLERANCE)
    ]
    if not _close(stored["intercepts"], trained["intercepts"], WEIGHT_TOLERANCE):
        found.append("intercepts")
    found += [
        f"thresholds[{name!r}]"
        for name, edges in trained["thresholds"].items()
        if edges.keys() != stored["thresholds"].get(name, {}).keys()
        or not _close(
            [stored["thresholds"][name][edge] for edge in edges],
            list(edges.values()),
            THRESHOLD_TOLERANCE,
        )
    ]
    return found


def _close(got: Sequence[float], expected: Sequence[float], tolerance: float) -> bool:
    return len(got) == len(expected) and all(
        abs(a - b) <= tolerance for a, b in zip(got, expected, strict=True)
    )


def serialise(model: dict[str, Any]) -> str:
    return json.dumps(model, ensure_ascii=False, sort_keys=True, separators=(",", ":")) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.conversation.signal_training")
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    parser.add_argument("--out", type=Path, default=MODEL_PATH)
    args = parser.parse_args(argv)
    model = train_document()
    if args.check:
        stored = json.loads(args.out.read_text(encoding="utf-8"))
        stale = stale_parts(stored, json.loads(serialise(model)))
        if stale:
            shown = ", ".join(stale[:5]) + (" …" if len(stale) > 5 else "")
            print(f"{args.out} is stale ({shown}): run `make signals-model`", file=sys.stderr)
            return 1
        return 0
    args.out.write_text(serialise(model), encoding="utf-8")
    print(f"wrote {args.out}: {len(model['features'])} n-grams, thresholds {model['thresholds']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
