"""The shipped detector (phrases and model) on messages written apart from its corpus.

Issue 15 lists crisis messages Haven once missed; the rest were written for this test and
are kept out of every corpus split (the first test makes sure), so they check that the
classifier learned ways of saying things rather than sentences. A crisis message counts
as caught when its signal is clear (the crisis reply) or uncertain (the direct question);
an ordinary one must reach neither.
"""

from __future__ import annotations

import pytest

from bot.content.playbook import Severity, Signal, load_playbook
from bot.conversation.signal_corpus import SPLITS, load_split
from bot.conversation.signal_model import Zone, default_model
from bot.conversation.signal_text import fold
from bot.conversation.signals import Reading, SignalDetector

ISSUE_EXAMPLES = [
    ("self_harm", "我不活了"),
    ("self_harm", "我真的撑不住了"),
    ("self_harm", "我想从楼上跳下去"),
    ("self_harm", "我已经把安眠药准备好了"),
    ("self_harm", "如果我不在了，家人会好过一点"),
    ("self_harm", "I can't go on"),
    ("self_harm", "I don't want to be here anymore"),
    ("self_harm", "I'm thinking about ending it"),
    ("self_harm", "I've been cutting myself again"),
    ("extortion", "He said he'll send the photos to my school"),
    ("extortion", "他要我转5000块，不转就发给我爸妈"),
    ("threat", "He is waiting outside my school"),
    ("minor", "我才16岁，他有我的照片"),
    ("minor", "I'm 16 and he has my photos."),
]

UNSEEN = [
    ("self_harm", "我觉得自己活到头了"),
    ("self_harm", "今晚想把药全部吞下去"),
    ("self_harm", "我准备明天早上从公司楼顶跳"),
    ("self_harm", "要是我死了，这些照片也就无所谓了"),
    ("self_harm", "我没办法再面对任何人，想去死"),
    ("self_harm", "我想永远闭上眼睛"),
    ("self_harm", "I'm going to take every pill in the house tonight"),
    ("self_harm", "I think everyone would be happier if I just disappeared for good"),
    ("self_harm", "I've been standing on the balcony thinking about letting go"),
    ("self_harm", "I can't face tomorrow, I'm going to end things"),
    ("self_harm", "i keep cutting and i can't stop"),
    ("self_harm", "I don't think I'll be alive by the weekend"),
    ("threat", "他说知道我孩子在哪个幼儿园，让我小心"),
    ("threat", "他发消息说今晚就来我家，还要带刀"),
    ("threat", "那个人一直在我小区门口转"),
    ("threat", "he said he'll come to my flat tonight and hurt me"),
    ("threat", "he keeps turning up outside my office and following me to the station"),
    ("threat", "someone left a note saying they know where my kids sleep"),
    ("extortion", "他要我转一万，不然就把视频发到家族群"),
    ("extortion", "他说周五之前不给钱就发给我老板"),
    ("extortion", "he wants 3000 in bitcoin by Friday or my wife gets the video"),
    ("extortion", "he says send more pictures or he uploads the ones he has"),
    ("extortion", "he said I have to meet him at a hotel or the photos go to my parents"),
    ("minor", "我今年才初二，照片被发到了年级群"),
    ("minor", "我女儿才十二岁，有人在网上要她的照片"),
    ("minor", "I'm 15 and someone is sharing my pictures at school"),
    ("minor", "my son is in year 9 and someone is threatening him with a video"),
    ("extortion", "6000 or the pics go out"),
    ("extortion", "给我两万，不然发出去"),
]

ORDINARY = [
    "吓死我了，刚才电梯突然停了",
    "饿死了，律师那边还没消息",
    "杀价杀到一半店主不卖了",
    "那个段子笑死我了",
    "我的律师说下周提交材料",
    "I'm dead tired after the police station",
    "that stand-up set absolutely killed",
    "I could kill for a coffee after that meeting",
    "the screenshots spread to two more groups, I've reported both",
    "the hotel says the leak came from a former employee",
    "I feel awful about the leak but I'm handling it with my lawyer",
    # A number on its own, or in a plain fact, is no demand (a bare "5000" once got the
    # crisis reply and a staff alert).
    "00000002",
    "6000",
    "30000",
    "4000块",
    "80000元",
    "13911112222",
    "+86 139 1111 2222",
    "订单号 20251111002",
    "my phone is 07911 123456",
    "我付了律师3000",
]


@pytest.fixture(scope="module")
def detector() -> SignalDetector:
    return SignalDetector(load_playbook().signals, default_model())


# A demand with violence as its "or else": both replies (the threat's has the emergency
# numbers, the demand's does not), found by reading what follows the "or else" alone.
DEMANDS_BACKED_BY_VIOLENCE = [
    "要我撤案，不然就找人砍我",
    "转五千给他，否则他说要杀了我",
    "he wants 3 lakh by sunday, else he will break my legs",
    # ... or joined to it by "and" (还说): found by reading each side of the "and" alone
    "he wants 40k and says he knows which school my kids go to",
    "her ex wants 2 lakh and says his friends will be waiting for me",
    "he asked for 900 dollars and says he will hurt me",
    "对方要五万块还说知道我爸妈住哪，让我小心",
]


def test_the_unseen_messages_are_in_no_split() -> None:
    corpus = {fold(e.text) for split in SPLITS for e in load_split(split)}
    written = [text for _, text in UNSEEN + TALKED_ABOUT] + ORDINARY + DEMANDS_BACKED_BY_VIOLENCE
    assert not [text for text in written if fold(text) in corpus]


@pytest.mark.parametrize(("signal", "text"), ISSUE_EXAMPLES + UNSEEN)
def test_a_crisis_message_is_caught(detector: SignalDetector, signal: str, text: str) -> None:
    reading = detector.read(text)
    assert signal in {s.id for s in reading.clear + reading.uncertain}, text


@pytest.mark.parametrize("text", DEMANDS_BACKED_BY_VIOLENCE)
def test_a_demand_backed_by_violence_is_a_threat_and_a_demand(
    detector: SignalDetector, text: str
) -> None:
    assert {s.id for s in detector.read(text).clear} == {"threat", "extortion"}


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_talk_raises_nothing(detector: SignalDetector, text: str) -> None:
    reading = detector.read(text)
    assert not reading.clear and not reading.uncertain, text


# An account as people write one, sentence by sentence, with room for one more sentence.
ACCOUNTS = {
    "zh": [
        "上周我发现他把我们的聊天截图发到了同学群里。",
        "群里有一百多个人，很多人都在转发。",
        "我已经向平台举报了，但还没有回复。",
        "{}",
        "我现在不知道下一步该做什么。",
    ],
    "en": [
        "Last week I found out he had posted screenshots of our chats in a group.",
        "There are over a hundred people in it and some of them are sharing it on.",
        "I reported it to the platform but nobody has answered yet.",
        "{}",
        "I don't know what to do next.",
    ],
}


def account(script: str, sentence: str = "") -> str:
    """The account with ``sentence`` told in it (or without it)."""
    space = "" if script == "zh" else " "
    return space.join(part.format(sentence) for part in ACCOUNTS[script] if part.format(sentence))


def test_the_accounts_are_in_no_split() -> None:
    corpus = {fold(e.text) for split in SPLITS for e in load_split(split)}
    told = [part for parts in ACCOUNTS.values() for part in parts if part != "{}"]
    assert not [text for text in told if fold(text) in corpus]


@pytest.mark.parametrize("script", ["zh", "en"])
def test_an_ordinary_account_raises_nothing(detector: SignalDetector, script: str) -> None:
    reading = detector.read(account(script))
    assert not reading.clear and not reading.uncertain


def test_a_crisis_told_inside_an_account_is_still_caught(detector: SignalDetector) -> None:
    """A cry for help in the middle of a longer message is read as well as one on its
    own, where the model is sure of it alone: the whole message's score is diluted by the
    rest of the account."""
    sure = [(s, t) for s, t in ISSUE_EXAMPLES + UNSEEN if default_model().zones(t)[s] is Zone.CLEAR]
    assert len(sure) >= 25
    missed = []
    for signal, text in sure:
        script = "en" if text.isascii() else "zh"
        sentence = text.rstrip("。.") + ("。" if script == "zh" else ".")
        reading = detector.read(account(script, sentence))
        if signal not in {s.id for s in reading.clear + reading.uncertain}:
            missed.append(text)
    assert not missed


def test_self_harm_the_model_is_less_sure_of_is_still_asked_about_inside_an_account(
    detector: SignalDetector,
) -> None:
    """For self-harm a sentence counts from its `sentence` threshold, below `clear`: a cry
    for help the model is only fairly sure of alone is not lost in a longer account."""
    model = default_model()
    edges = model.thresholds["self_harm"]
    assert edges.sentence is not None
    fairly_sure = [
        text
        for signal, text in ISSUE_EXAMPLES + UNSEEN
        if signal == "self_harm"
        and edges.sentence <= model.probabilities(text)["self_harm"] < edges.clear
    ]
    assert len(fairly_sure) >= 2
    missed = []
    for text in fairly_sure:
        script = "en" if text.isascii() else "zh"
        sentence = text.rstrip("。.") + ("。" if script == "zh" else ".")
        reading = detector.read(account(script, sentence))
        if "self_harm" not in {s.id for s in reading.clear + reading.uncertain}:
            missed.append(text)
    assert not missed


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("I want to kill myself", set()),  # someone else's cry for help is not the person's
        ("I'll kill you if you tell anyone", {"threat"}),
        ("我不想活了。转五千，不然发给你全家", {"extortion"}),
    ],
)
def test_forwarded_words_count_for_threats_and_demands_only(
    detector: SignalDetector, text: str, found: set[str]
) -> None:
    reading = detector.read(text, forwarded=True)
    assert {signal.id for signal in reading.clear} == found
    assert reading.uncertain == (), "Haven never asks about another person's words"


# A curated phrase in a message about the law, a film or a game: asked about, not
# answered as a crisis on the phrase alone (bot/conversation/signal_frames.py).
TALKED_ABOUT = [
    ("extortion", "how many years can you get for blackmail in the UK?"),
    ("extortion", "我想问一下，敲诈勒索罪一般判几年？"),
    ("extortion", "is sextortion treated as a separate offence from harassment?"),
    ("self_harm", "we watched a documentary on suicide in class, it was heavy"),
    ("self_harm", "我最近在看一部讲抑郁和自杀的纪录片"),
    ("threat", "my cousin yells 'I'll kill you' at everyone in Fortnite, it's just how he plays"),
    ("threat", "玩狼人杀的时候他说'杀了你'，大家都笑了"),
]


@pytest.mark.parametrize(("signal", "text"), TALKED_ABOUT)
def test_a_phrase_in_talk_about_the_law_a_film_or_a_game_is_asked_about(
    detector: SignalDetector, signal: str, text: str
) -> None:
    assert signal in {s.id for s in detector.detect(text)}, "the phrase is there"
    reading = detector.read(text)
    assert signal not in {s.id for s in reading.clear}
    assert signal in {s.id for s in reading.uncertain}


@pytest.mark.parametrize(
    ("signal", "text"),
    [
        ("extortion", "this is blackmail, he wants 3000 by friday or he posts them"),
        ("threat", "he said he'd kill me if I went to the police, is that a crime?"),
        ("self_harm", "I want to kill myself, is that normal after something like this?"),
    ],
)
def test_a_crisis_told_with_a_question_about_the_law_is_still_clear(
    detector: SignalDetector, signal: str, text: str
) -> None:
    assert signal in {s.id for s in detector.read(text).clear}


def test_the_phrases_alone_read_without_a_model() -> None:
    phrases = SignalDetector(load_playbook().signals)
    assert [s.id for s in phrases.read("I want to kill myself").clear] == ["self_harm"]
    assert phrases.read("I'm not suicidal") == Reading()
    assert phrases.read("what should I do next") == Reading()


def test_an_idiom_that_starts_with_its_phrase_masks_it() -> None:
    """ "我想死你了" (I miss you so much) as an idiom would mask "想死" where they start
    together, and nowhere a pause cuts it."""
    signal = Signal("missing", Severity.CRITICAL, phrases=("想死",), idioms=("想死你了",))
    detector = SignalDetector((signal,))
    assert detector.detect("我想死你了") == ()
    assert detector.detect("我想死，你了解吗") == (signal,)
