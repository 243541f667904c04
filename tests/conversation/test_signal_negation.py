"""A curated phrase right after a negation is denied, not said (the phrase layer only).

"我没有自杀的想法" holds the phrase "自杀" yet says the opposite; it must not get the
crisis reply at once. The classifier still reads such a message, so this only takes the
phrase's certainty away. A pause, a question or a negation elsewhere keeps the phrase.
"""

from __future__ import annotations

import math

import pytest

from bot.content.playbook import load_playbook
from bot.conversation.signal_model import SignalModel, Thresholds, Zone
from bot.conversation.signals import SignalDetector


@pytest.fixture(scope="module")
def phrases() -> SignalDetector:
    return SignalDetector(load_playbook().signals)


@pytest.mark.parametrize(
    "text",
    [
        "我没有想自杀",
        "我并没有轻生的念头",
        "我不想死，我想让他受到法律制裁",
        "没人向我要钱，他只是发出去了",
        "没有人勒索我",
        "没有，没人找我要钱",
        "I'm not suicidal, I'm furious",
        "I am not really suicidal",
        "nobody has asked me for money",
        "he has never even threatened to kill me",
        "I don’t want to die, I want this fixed",
        "我不会做傻事的，你们放心",
        "放心，我不会想不开",
        "我不会再伤害自己了",
        "我不打算自杀，我只想让他删掉",
    ],
)
def test_a_denied_phrase_is_no_clear_signal(phrases: SignalDetector, text: str) -> None:
    assert phrases.detect(text) == (), text


def test_a_pause_inside_the_phrase_is_no_pause_after_the_negation(
    phrases: SignalDetector,
) -> None:
    assert phrases.detect("我不想，死") == ()


@pytest.mark.parametrize(
    ("signal", "text"),
    [
        # a pause makes the phrase a sentence of its own
        ("self_harm", "我什么都没有了，想死"),
        ("self_harm", "我什么都没有，想死"),  # right after the negation itself
        ("self_harm", "No. Suicidal, yes"),
        # A-not-A asks rather than denies
        ("extortion", "有没有人勒索过你？是的，他在勒索我"),
        ("self_harm", "问我有没有想死？有"),
        ("self_harm", "我也不知道自己想不想死"),
        # a negation elsewhere, or one that is part of the phrase
        ("self_harm", "I'm not okay, I want to die"),
        ("self_harm", "im not okay wanna die"),  # "okay" is no word that may stand between
        # a "no" further away than two such words is not seen (signals.toml says so)
        ("self_harm", "I have never really actually been suicidal"),
        ("self_harm", "I don't want to live anymore"),
        ("self_harm", "我真的不想活了"),
        ("threat", "I can't sleep, he knows where I live"),
        ("extortion", "他说不给钱就发出去"),
        # a modal verb with no negation before it is no denial
        ("self_harm", "我会做傻事的"),
        ("self_harm", "说不定哪天我就会想不开"),
    ],
)
def test_a_phrase_not_denied_is_still_clear(
    phrases: SignalDetector, signal: str, text: str
) -> None:
    assert signal in {s.id for s in phrases.detect(text)}, text


def sure_model(probability: float) -> SignalModel:
    """A classifier that gives every message this probability of every signal."""
    signals = tuple(s.id for s in load_playbook().signals)
    logit = math.log(probability / (1 - probability))
    thresholds = dict.fromkeys(signals, Thresholds(ask=0.5, clear=0.9))
    return SignalModel(signals, {}, (logit,) * len(signals), thresholds)


@pytest.mark.parametrize(
    ("probability", "said", "denied"),
    [(0.95, Zone.CLEAR, Zone.UNCERTAIN), (0.7, Zone.UNCERTAIN, Zone.ORDINARY)],
)
def test_a_denied_phrase_lowers_the_classifier_s_zone_by_one(
    probability: float, said: Zone, denied: Zone
) -> None:
    """ "I'm not suicidal" gets no crisis reply on the classifier's word alone, yet a crisis
    said in other words beside the denial can still be asked about."""
    detector = SignalDetector(load_playbook().signals, sure_model(probability))

    def zone(text: str) -> Zone:
        reading = detector.read(text)
        if "self_harm" in {s.id for s in reading.clear}:
            return Zone.CLEAR
        if "self_harm" in {s.id for s in reading.uncertain}:
            return Zone.UNCERTAIN
        return Zone.ORDINARY

    assert zone("the leak is everywhere and I'm so tired") == said
    assert zone("I'm not suicidal, I just want the photos gone") == denied
    assert zone("I'm not going to hurt myself, don't worry") == denied
    assert zone("我不会再伤害自己了，放心") == denied
    assert zone("I'm trying not to kill myself") == Zone.CLEAR, "a struggle, not a denial"
    assert zone("I'm not suicidal. I want to die") == Zone.CLEAR, "a pause: said after all"
