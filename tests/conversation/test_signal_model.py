"""The classifier's weights: plain data the bot scores in pure Python, never stale.

Retraining from the corpus must give the file in the repository (so a corpus edit without
`make signals-model` fails here, in CI), and the pure-Python scorer must give exactly
what scikit-learn computes from the same fit.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bot.content.playbook import ContentError, load_playbook
from bot.conversation import signal_training
from bot.conversation.signal_corpus import CLASSES, load_split
from bot.conversation.signal_model import MODEL_PATH, SignalModel, Thresholds, Zone
from bot.conversation.signal_text import (
    ADULT_AGE,
    NGRAM_RANGE,
    PAIR_MARK,
    SHORT_PRIOR,
    UNDER_18,
    WORD_MARK,
    _Separators,
    clauses,
    consequences,
    fold,
    ngrams,
    sentences,
)
from bot.conversation.signals import SignalDetector


@pytest.fixture(scope="module")
def retrained() -> dict[str, Any]:
    return signal_training.train_document()


# Training fits the model over and over (five cross-validation folds drawn three times,
# then all of it): over a minute of CPU, more on a shared 2-core machine. Whichever test of
# the three runs first trains, so each has the time.
TRAINING_TIME = pytest.mark.timeout(600)


@TRAINING_TIME
def test_the_stored_model_is_what_the_corpus_trains(retrained: dict[str, Any]) -> None:
    stored = json.loads(MODEL_PATH.read_text(encoding="utf-8"))
    assert signal_training.stale_parts(stored, retrained) == [], "run `make signals-model`"


@TRAINING_TIME
def test_a_model_trained_without_one_message_is_stale(retrained: dict[str, Any]) -> None:
    stored = json.loads(json.dumps(retrained))
    gram = next(iter(stored["features"]))
    stored["features"][gram][0] += 0.2  # what one message fewer does to some weight
    assert signal_training.stale_parts(stored, retrained) == [f"features[{gram!r}]"]
    stored = json.loads(json.dumps(retrained))
    stored["thresholds"]["self_harm"]["ask"] -= 0.01
    assert signal_training.stale_parts(stored, retrained) == ["thresholds['self_harm']"]
    del stored["features"][gram]
    assert "features: another set of n-grams" in signal_training.stale_parts(stored, retrained)


@TRAINING_TIME
def test_another_processors_rounding_is_not_staleness(retrained: dict[str, Any]) -> None:
    stored = json.loads(json.dumps(retrained))
    for weights in stored["features"].values():
        weights[0] += 0.002
    stored["thresholds"]["minor"]["clear"] += 3e-5
    assert signal_training.stale_parts(stored, retrained) == []


def test_pure_python_scoring_equals_scikit_learn(tmp_path: Path) -> None:
    fitted = signal_training.fit(load_split("train")[::4])
    texts = [e.text for e in load_split("validation")[:80]] + ["", "🙏", "ＫＩＬＬ ＭＹＳＥＬＦ"]
    expected = signal_training.probabilities(fitted, texts)
    thresholds = {name: {"ask": 0.5, "clear": 0.9} for name in CLASSES}
    path = tmp_path / "signals-model.json"
    path.write_text(signal_training.serialise(signal_training.document(fitted, thresholds)))
    model = SignalModel.load(path)
    for text, row in zip(texts, expected, strict=True):
        found = model.probabilities(text)
        # the file keeps five decimals of each weight: agreement to a thousandth
        assert [found[name] for name in CLASSES] == pytest.approx(list(row), abs=1e-3), text


def test_asks_keep_each_share_and_self_harm_has_what_the_budget_leaves() -> None:
    """Scores made up per class: ordinary ones spread evenly, crisis ones in the top half
    (extortion's in the top hundredth, so its recall target is met before its share)."""
    rng = np.random.default_rng(7)
    plain = rng.random((4000, len(CLASSES)))
    crisis = 0.5 + 0.5 * rng.random((400, len(CLASSES)))
    extortion = CLASSES.index("extortion")
    crisis[:, extortion] = 0.99 + 0.01 * rng.random(400)
    scores = np.vstack([plain, crisis])
    ordinary = np.arange(len(scores)) < len(plain)
    labels = np.tile(~ordinary[:, None], (1, len(CLASSES)))
    asks = signal_training._asks(scores, labels, ordinary)

    asked = plain >= np.array(asks)
    for column, name in enumerate(CLASSES):
        # never lower than its recall target asks for
        assert recall_of(crisis, asks, column) <= signal_training.RECALL_TARGET[name] + 1 / 400
        if name in signal_training.ASK_SHARE:
            assert asked[:, column].mean() <= signal_training.ASK_SHARE[name], name
    assert recall_of(crisis, asks, extortion) >= signal_training.RECALL_TARGET["extortion"]
    assert asked.any(axis=1).mean() <= signal_training.ORDINARY_ASK_BUDGET
    # self-harm took the rest: the next ordinary score below its `ask` would overspend
    self_harm = CLASSES.index("self_harm")
    lower = list(asks)
    lower[self_harm] = plain[plain[:, self_harm] < asks[self_harm], self_harm].max()
    assert (plain >= np.array(lower)).any(axis=1).mean() > signal_training.ORDINARY_ASK_BUDGET


def recall_of(crisis: np.ndarray, asks: list[float], column: int) -> float:
    return float((crisis[:, column] >= asks[column]).mean())


def test_every_class_has_its_thresholds_in_order() -> None:
    model = SignalModel.load()
    assert set(model.thresholds) == set(CLASSES)
    for name, edges in model.thresholds.items():
        assert edges.sentence is not None, name
        assert 0 < edges.ask <= edges.sentence <= edges.clear <= 1, name
    # a sentence of a longer message counts below `clear` for self-harm only
    self_harm = model.thresholds["self_harm"]
    assert self_harm.sentence is not None and self_harm.sentence < self_harm.clear
    others = [model.thresholds[name] for name in CLASSES if name != "self_harm"]
    assert all(edges.sentence == edges.clear for edges in others)


class Scripted(SignalModel):
    """A model whose probabilities are set per text: what zones() makes of them."""

    def __init__(self, scores: dict[str, float], thresholds: dict[str, Thresholds]) -> None:
        super().__init__(tuple(thresholds), {}, (0.0,) * len(thresholds), thresholds)
        self._scores = scores

    def probabilities(self, text: str) -> dict[str, float]:
        return dict.fromkeys(self.classes, self._scores.get(text, 0.0))


@pytest.mark.parametrize(
    ("alone", "whole"),
    [
        (0.59, Zone.ORDINARY),  # below the sentence threshold
        (0.6, Zone.UNCERTAIN),  # at it: the message is asked about
        (0.85, Zone.UNCERTAIN),  # clear alone: still only asked about, never clear
    ],
)
def test_one_sentence_of_a_longer_message_lifts_it_from_its_sentence_threshold(
    alone: float, whole: Zone
) -> None:
    thresholds = {
        "low": Thresholds(ask=0.4, clear=0.8, sentence=0.6),
        "high": Thresholds(ask=0.4, clear=0.8),  # no sentence threshold: clear alone
    }
    text = "All is well. It is all too much. See you."
    model = Scripted({text: 0.1, "It is all too much": alone}, thresholds)
    zones = model.zones(text)
    assert zones["low"] is whole
    assert zones["high"] is (Zone.UNCERTAIN if alone >= 0.8 else Zone.ORDINARY)
    assert model.zones(text, by_sentence=False) == dict.fromkeys(thresholds, Zone.ORDINARY)


@pytest.mark.parametrize(
    ("text", "clause"),
    [
        ("我初三，截图被人发到了班群，好多人在评论", "我初三"),
        ("我初三 截图被人发到了班群 好多人在评论", "我初三"),  # spaces for commas
        ("im 15, they posted our chats and everyone saw", "im 15"),
        ("All is well. Only, it is all too much, really. See you.", "it is all too much"),
        ("he wants 20k and says he knows where I work", "he wants 20k"),
        ("他要我转三万还说知道我家住哪", "他要我转三万"),
    ],
)
@pytest.mark.parametrize(
    ("alone", "whole"),
    [
        (0.7, Zone.ORDINARY),  # past the sentence threshold, but a clause must be clear
        (0.8, Zone.UNCERTAIN),  # clear alone: the message is asked about, never clear
    ],
)
def test_a_clause_clear_on_its_own_lifts_its_message(
    text: str, clause: str, alone: float, whole: Zone
) -> None:
    thresholds = {"low": Thresholds(ask=0.4, clear=0.8, sentence=0.6)}
    model = Scripted({text: 0.1, clause: alone}, thresholds)
    assert model.zones(text)["low"] is whole
    assert model.zones(text, by_sentence=False)["low"] is Zone.ORDINARY


class ByClass(SignalModel):
    """A model whose probabilities are set per text and per class."""

    def __init__(
        self, scores: dict[str, dict[str, float]], thresholds: dict[str, Thresholds]
    ) -> None:
        super().__init__(tuple(thresholds), {}, (0.0,) * len(thresholds), thresholds)
        self._scores = scores

    def probabilities(self, text: str) -> dict[str, float]:
        return {name: self._scores.get(text, {}).get(name, 0.0) for name in self.classes}


@pytest.mark.parametrize(
    ("sentence", "cut"),
    [
        ("im 15, they posted it", ["im 15", "they posted it"]),
        ("我初三 截图被发了", ["我初三", "截图被发了"]),
        ("he wants 20k AND says he knows my address", ["he wants 20k", "says he knows my address"]),
        ("I'm fine but it is all too much", ["I'm fine", "it is all too much"]),
        ("他要钱还说知道我家在哪", ["他要钱", "知道我家在哪"]),
        ("我很难过，但是还撑得住", ["我很难过", "还撑得住"]),
        ("Sandy and Brandon butted in", ["Sandy", "Brandon butted in"]),
        ("they posted it in the group chat", []),
    ],
)
def test_a_sentence_is_cut_into_clauses_at_commas_and_joining_words(
    sentence: str, cut: list[str]
) -> None:
    assert clauses(sentence) == cut


@pytest.mark.parametrize(
    ("text", "after"),
    [
        ("he wants 3 lakhs, else he will kill me", ["he will kill me"]),
        ("pay or I come to your house", ["I come to your house"]),
        ("Pay up OR ELSE his friends visit", ["his friends visit"]),
        ("他说给八千块就算了，不给就打到我住院", ["打到我住院"]),
        ("要我撤诉，否则找人来我家", ["找人来我家"]),
        ("佢話唔俾錢就搵人打我", ["搵人打我"]),
        ("佢要我返埋一齊，唔係就放片", ["放片"]),
        ("they posted it in the group chat", []),
    ],
)
def test_what_follows_an_or_else_is_a_piece_of_its_own(text: str, after: list[str]) -> None:
    assert consequences(text) == after


THREAT_AND_DEMAND = {
    "threat": Thresholds(ask=0.5, clear=0.9),
    "extortion": Thresholds(ask=0.5, clear=0.9),
}


@pytest.mark.parametrize(
    ("demand", "whole", "threat"),
    [
        (0.95, 0.2, Zone.CLEAR),  # the message is clear already: its threat is clear too
        (0.95, 0.6, Zone.CLEAR),  # from a question to clear
        (0.6, 0.2, Zone.UNCERTAIN),  # not clear for anything: a piece only makes a question
        (0.1, 0.2, Zone.UNCERTAIN),
    ],
)
def test_a_piece_clear_on_its_own_is_clear_in_a_message_clear_already(
    demand: float, whole: float, threat: Zone
) -> None:
    text = "he wants 3 lakhs, else he will kill me"
    model = ByClass(
        {text: {"extortion": demand, "threat": whole}, "he will kill me": {"threat": 0.95}},
        THREAT_AND_DEMAND,
    )
    assert model.zones(text)["threat"] is threat
    assert model.zones(text, crisis=True)["threat"] is Zone.CLEAR  # a phrase said it
    alone = THREAT_AND_DEMAND["threat"].zone(whole)  # without pieces: the message's own
    assert model.zones(text, by_sentence=False, crisis=True)["threat"] is alone


@pytest.mark.parametrize(
    ("alone", "threat"),
    [
        (0.85, Zone.UNCERTAIN),  # would be asked about alone: named to staff, not asked
        (0.5, Zone.UNCERTAIN),
        (0.45, Zone.ORDINARY),
    ],
)
def test_a_piece_short_of_clear_is_at_most_uncertain_in_a_message_clear_already(
    alone: float, threat: Zone
) -> None:
    text = "he wants 3 lakhs, else he will kill me"
    model = ByClass(
        {text: {"extortion": 0.95}, "he will kill me": {"threat": alone}}, THREAT_AND_DEMAND
    )
    assert model.zones(text)["threat"] is threat
    assert model.zones(text, crisis=True)["threat"] is threat
    calm = ByClass({"he will kill me": {"threat": alone}}, THREAT_AND_DEMAND)
    assert calm.zones(text)["threat"] is Zone.ORDINARY  # no crisis: a clause must be clear


def test_a_demand_named_by_a_phrase_makes_the_threat_after_it_clear() -> None:
    text = "他在勒索我，不给就打到我住院"  # 勒索 is one of extortion's phrases
    model = ByClass({"打到我住院": {"threat": 0.95}}, THREAT_AND_DEMAND)
    reading = SignalDetector(load_playbook().signals, model).read(text)
    assert [s.id for s in reading.clear] == ["threat", "extortion"]


def test_forwarded_words_are_not_read_piece_by_piece() -> None:
    """Someone else's words count only as a whole: the rule above is for the person's own."""
    text = "pay 3 lakhs, else he will kill me"
    model = ByClass(
        {text: {"extortion": 0.95}, "he will kill me": {"threat": 0.95}}, THREAT_AND_DEMAND
    )
    detector = SignalDetector(load_playbook().signals, model)
    assert [s.id for s in detector.read(text, forwarded=True).clear] == ["extortion"]
    assert [s.id for s in detector.read(text).clear] == ["threat", "extortion"]


def test_zones() -> None:
    edges = Thresholds(ask=0.4, clear=0.8)
    assert [edges.zone(p) for p in (0.1, 0.4, 0.79, 0.8, 1.0)] == [
        Zone.ORDINARY,
        Zone.UNCERTAIN,
        Zone.UNCERTAIN,
        Zone.CLEAR,
        Zone.CLEAR,
    ]


def test_a_model_of_another_recipe_is_refused(tmp_path: Path) -> None:
    document = json.loads(MODEL_PATH.read_text(encoding="utf-8"))
    document["recipe"] = "words-0"
    path = tmp_path / "signals-model.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(ContentError, match="make signals-model"):
        SignalModel.load(path)
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(ContentError, match=r"signals-model\.json"):
        SignalModel.load(path)


def _one_weight_short(document: dict[str, Any]) -> None:
    gram = next(iter(document["features"]))
    document["features"][gram] = document["features"][gram][:-1]


def _no_minor_thresholds(document: dict[str, Any]) -> None:
    del document["thresholds"]["minor"]


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (_one_weight_short, r"^each n-gram needs an idf and one weight per class$"),
        (lambda document: document["intercepts"].pop(), r"^one intercept per class is needed$"),
        (_no_minor_thresholds, r"^no thresholds for \['minor'\]$"),
    ],
    ids=["weights", "intercepts", "thresholds"],
)
def test_a_malformed_model_is_refused_with_what_is_wrong(
    tmp_path: Path, spoil: Any, message: str
) -> None:
    document = json.loads(MODEL_PATH.read_text(encoding="utf-8"))
    spoil(document)
    path = tmp_path / "signals-model.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(ContentError, match=message):
        SignalModel.load(path)


# ---- what the classifier sees ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("我想kms", " 我想 kms "),
        ("I DON'T want to", " i dont want to "),
        ("不 想，活 了！", " 不 想 活 了 "),
        ("我想自殺", " 我想自杀 "),
        ("ｋｍｓ！！", " kms "),
        ("Im soooo done, pleaseeee", " im soo done pleasee "),
        ("哈哈哈哈 1000", " 哈哈哈哈 1000 "),
        ("so im 15 ok", f" so im {UNDER_18} ok "),  # the age marked where it stood
        ("the day after my 12th birthday", f" the day after my {UNDER_18}th birthday "),
        ("he sent 🔪\u3000and $$$", " he sent 🔪 and $$$ "),  # symbols stay, any space is one
        ("a\tb\u2028c, d—e", " a b c d e "),
    ],
)
def test_folding(text: str, folded: str) -> None:
    assert fold(text) == folded


@pytest.mark.parametrize(
    ("char", "kept"),
    [
        ("a", True),
        ("七", True),
        ("7", True),
        ("\u0301", True),  # a combining mark
        ("🔪", True),
        ("$", True),
        (UNDER_18, True),
        (ADULT_AGE, True),
        (",", False),
        ("—", False),
        ("\u3000", False),
        ("\t", False),
        ("\ue000", False),  # private use, as the marks are, but not one of them
    ],
)
def test_folding_keeps_letters_numbers_marks_symbols_and_the_age_marks(
    char: str, kept: bool
) -> None:
    table = _Separators()  # a fresh one: fold's own remembers every verdict it gave
    expected = char if kept else " "
    assert char.translate(table) == expected
    assert char.translate(table) == expected  # the second time from its memory


@pytest.mark.parametrize(
    ("text", "mark"),
    [
        ("我才15岁", UNDER_18),
        ("我今年十六岁", UNDER_18),
        ("I'm 16 and he has my photos", UNDER_18),
        ("a 14 year old", UNDER_18),
        ("my 13-year-old", UNDER_18),
        ("15f", UNDER_18),
        ("I am fifteen years old", UNDER_18),
        ("我今年26岁", ADULT_AGE),
        ("I'm 26", ADULT_AGE),
        ("my son is 30", ADULT_AGE),
        ("我16，求帮忙", UNDER_18),
        ("我十四。", UNDER_18),
        ("i'm 14 nd he keeps asking", UNDER_18),
        ("pls i'm literally 13 they posted it", UNDER_18),
        ("she was barely 14", UNDER_18),
        ("My nephew's 15, some guys have his DMs", UNDER_18),
        ("kids as young as 12", UNDER_18),
        ("a month after my 12th birthday", UNDER_18),
        ("过完年我就十五了", UNDER_18),
        ("马上16了", UNDER_18),
        ("我都三十了", ADULT_AGE),
        ("才七岁的孩子", UNDER_18),
        ("他十七岁", UNDER_18),
        ("我十八岁", ADULT_AGE),
        ("今年二十五岁", ADULT_AGE),
        ("my baby is 1 year old", UNDER_18),
        ("she is 18 and so is he", ADULT_AGE),
        ("with 0 years of experience", ADULT_AGE),  # a zero is nobody's age
        ("我今年三十五岁", ADULT_AGE),  # not 30, then 5
        ("我还不到18岁", UNDER_18),
        ("未满十八周岁", UNDER_18),
        ("还没到16", UNDER_18),
        ("不到一岁的宝宝", UNDER_18),
        ("不到20岁", ADULT_AGE),
        ("不到19岁", ADULT_AGE),  # may be 18
    ],
)
def test_ages_become_a_mark_of_their_band(text: str, mark: str) -> None:
    folded = fold(text)
    other = ADULT_AGE if mark == UNDER_18 else UNDER_18
    assert mark in folded and other not in folded and not any(ch.isdigit() for ch in folded)


@pytest.mark.parametrize(
    "text",
    [
        "room 1602",
        "at 16:30",
        "I have 16 screenshots",
        "已经13天了",
        "我住在16楼",
        "他让我给他10，不然就发",
        "我15分钟后到",
        "I'm 16th in the queue",
        "my sons 15 screenshots",
        "I was like 2 hours late",
        "已经5了",
        "才五十块",
        "不到一个月",
        "不到20分钟",
    ],
)
def test_numbers_that_are_not_ages_stay_numbers(text: str) -> None:
    folded = fold(text)
    assert UNDER_18 not in folded and ADULT_AGE not in folded


def test_character_ngrams_are_as_long_as_the_range_and_never_a_space_alone() -> None:
    grams = [g for g in ngrams("abcdef ghij") if g[0] not in (WORD_MARK, PAIR_MARK, SHORT_PRIOR)]
    assert {len(g) for g in grams} == set(range(NGRAM_RANGE[0], NGRAM_RANGE[1] + 1))
    assert " " not in grams and " abc" in grams


def test_every_message_carries_the_short_message_prior() -> None:
    assert ngrams("你好").count(SHORT_PRIOR) == ngrams("a much longer message").count(SHORT_PRIOR)
    assert ngrams("") == [SHORT_PRIOR] * ngrams("").count(SHORT_PRIOR)


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("我不想活了", []),
        ("他发到群里了。我不想活了！", ["他发到群里了", "我不想活了"]),
        ("第一行\n第二行", ["第一行", "第二行"]),
        ("He posted it. I can't go on...", ["He posted it", "I can't go on"]),
        ("It cost 3.5k, which is a lot", []),
        ("真的吗？？……好吧", ["真的吗", "好吧"]),
        ("。。。", []),
    ],
)
def test_sentences(text: str, found: list[str]) -> None:
    assert sentences(text) == found
