"""What the danger-signal classifier sees of a message: folded text cut into character n-grams.

One recipe serves the training script (signal_training.py, which hands it to
scikit-learn as its analyzer) and the scorer in the running bot (signal_model.py), so
the two can never disagree about what a feature is.

Folding: Unicode NFKC (full-width forms become plain ones), case folding, traditional
characters as simplified ones (OpenCC's tables, one character for one character), the
apostrophes people leave out anyway removed ("don't" and "dont" are one word), a Latin
letter drawn out three times or more kept twice ("sooooo" is "soo"), every other space or
punctuation mark one space, and a space between Han characters and Latin letters ("我想kms"
reads "我想 kms"). Letters, digits, marks and symbols (emoji) stay. The text is
padded with a space at each end, so an n-gram can mark where a Latin word begins or ends
(" kms " is not "skms").

Ages become one of two marks, under 18 or not: "我才15岁", "I'm 16", "a 14 year old" and
"15f" all carry the under-18 mark where the number was, "I'm 26" and "我今年30岁" the
other. A handful of examples then teaches every age, and "room 1602" or "16:30" is no
age at all.

Besides the character n-grams, each Latin-script word and each pair of neighbouring words
is a feature of its own (marked so it never equals an n-gram): "end it" as two words says
more than the n-grams " end" and "it ", which also sit in "weekend item". One constant
feature (SHORT_PRIOR) stands for the message as a whole.

Character n-grams work for Chinese without cutting it into words, and for English slang,
typos and run-together words, which a word list would miss.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from functools import cache
from itertools import pairwise

import opencc

# The recipe's version: the model file records it, and a model made with another recipe
# is refused at start rather than scored with features it never saw.
RECIPE = "char-ngrams-words-age-prior-6"
NGRAM_RANGE = (1, 4)

_APOSTROPHES = re.compile("['’‘ʼ`´]")
# Private-use characters: nobody types them, so they mean only what they are made to.
UNDER_18 = "\ue010"
ADULT_AGE = "\ue011"
# One feature every message has, counted as often as this: after L2 normalisation its
# share is the larger the shorter the message, so the model learns how little two words
# ("你好", "good night") may say, instead of letting one n-gram of them decide.
SHORT_PRIOR = "\ue030"
# Word features start with these marks: one word, two neighbouring words.
WORD_MARK = "\ue040"
PAIR_MARK = "\ue041"
SHORT_PRIOR_COUNT = 20
# A number up to 99 in characters: 七, 十五, 二十, 三十五 (never 五十十).
_HAN_NUMBER = "(?:[一二两三四五六七八九]?十[一二三四五六七八九]?|[一二两三四五六七八九])"
_EN_NUMBER = (
    "ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty"
)
# A number right after these words is an age unless a unit follows it.
_ZH_LEAD = "今年|才|刚满|满"
# "还不到18岁", "未满十八周岁": younger than the number said.
_ZH_BELOW = "还不到|不到|还没到|没到|未满|没满|不满"
_EN_LEAD = (
    "im|i am|aged?|turn|turned|turning|shes|she is|hes|he is|theyre|they are|is|was|only|both"
    "|as young as"
    # "my nephew's 15", the apostrophe already gone
    "|(?:step)?(?:son|daughter|kid|child|brother|sister|nephew|niece|cousin|grandson"
    "|granddaughter)s"
)
# "I'm literally 13", "she was barely 14": a word people put between the lead and the age.
_EN_HEDGE = "literally|only|just|barely|still|nearly|almost|not even|like|about"
# After a lead word, what the number may not run on into: more of the number ("才五十块"
# is no age of 5, "今年三十五岁" none of 30 and 5), or a unit that is not of years.
_RUNS_ON_ZH = "\\d一二两三四五六七八九十年月号日点时分秒个天次张楼块元万%层"
_NOT_AGE_ZH = f"[{_RUNS_ON_ZH}岁周]"
# An ordinal's ending only when it is joined to the number: "I'm 14 nd he…" is "and".
_NOT_AGE_EN = (
    r"(?:th|st|nd|rd)\b"
    r"|\s*(?:[:.,]?\d|%|[ap]\.?m\b|min|hour|hr|h\b|sec|day|week|month|time|people|member"
    r"|screenshot|photo|pic|message|cop(?:y|ies)|post|group|k\b|dollar|pound"
    r"|euro|yuan|usd|rmb|percent|mile|km)"
)
# "过完年我就十五了", "马上16了": an age that is about to be or already is, before 了.
_ZH_SOON = "就|快|快要|马上|马上就|已经|都"
_ZH_TWO_DIGITS = "\\d{2}|十[一二三四五六七八九]?|[二三四五六七八九]十[一二三四五六七八九]?"
# "我16，求帮忙": a teenage number right after 我, then nothing or a pause, is an age
# ("给我10，" is a sum).
_ZH_ME_AGE = "1\\d|十[一二三四五六七八九]?"
_AGES = re.compile(
    rf"(?:{_ZH_BELOW})(?P<zh_below>\d{{1,2}}|{_HAN_NUMBER})(?![{_RUNS_ON_ZH}])"
    rf"|(?P<zh>\d{{1,3}}|{_HAN_NUMBER})(?=\s*(?:周岁|足岁|岁))"
    rf"|(?<![给让借转欠还])我(?P<zh_me>{_ZH_ME_AGE})(?=\s*(?:[,.!?~、。]|$))"
    rf"|(?:{_ZH_LEAD})(?P<zh_lead>\d{{1,2}}|{_HAN_NUMBER})(?!{_NOT_AGE_ZH})"
    rf"|\b(?P<en>\d{{1,3}}|{_EN_NUMBER})(?=\s*-?\s*(?:years?|yrs?|y/?o|y\.o\.)\b)"
    rf"|(?:{_ZH_SOON})(?P<zh_soon>{_ZH_TWO_DIGITS})(?=了)"
    rf"|\b(?:{_EN_LEAD}) (?:(?:{_EN_HEDGE}) )?"
    rf"(?P<en_lead>\d{{1,2}}|{_EN_NUMBER})\b(?!{_NOT_AGE_EN})"
    rf"|\b(?P<birthday>\d{{1,2}})(?:th|st|nd|rd) birthday\b"
    rf"|\b(?P<tag>1\d|[2-9]\d)(?=[fm]\b)"
)
_HAN_DIGITS = {
    char: value
    for value, chars in enumerate(("", "一", "二两", "三", "四", "五", "六", "七", "八", "九"))
    for char in chars
}
_EN_VALUES = {word: 10 + index for index, word in enumerate(_EN_NUMBER.split("|"))}
_SPACES = re.compile(r" +")
_SENTENCE_END = re.compile(r"[。！？!?；;…\n]+|\.+(?=\s|$)")
_DRAWN_OUT = re.compile(r"([a-z])\1{2,}")
# A Latin-script word of the folded text (ages already marked; Han text has no spaces to
# cut it by, and its character n-grams already are its words).
_WORDS = re.compile(r"[a-z0-9\ue010\ue011]+")
# The last character before a change of script (a space goes after it): matching the
# character, not the empty place behind it, lets the search skip ahead in C.
_SCRIPT_CHANGE = re.compile(r"([\u3400-\u9fff](?=[a-z0-9])|[a-z0-9](?=[\u3400-\u9fff]))")


def _kept(char: str) -> bool:
    """Letters, numbers, marks, symbols (emoji among them) and the age marks: what
    folding keeps. No space is any of these (checked over all of Unicode)."""
    return char in (UNDER_18, ADULT_AGE) or unicodedata.category(char)[0] in "LNMS"


class _Separators(dict[int, int | None]):
    """A translate table: what _kept says stays, any other character becomes a space.
    Each verdict is asked once per code point."""

    def __missing__(self, code: int) -> int | None:
        verdict = code if _kept(chr(code)) else ord(" ")
        if len(self) < 16_384:
            self[code] = verdict
        return verdict


_SEPARATORS = _Separators()


@cache
def _simplified() -> dict[int, str]:
    """Traditional → simplified, character by character, from OpenCC's own tables."""
    chars = [chr(code) for code in range(0x3400, 0xA000)]
    chars += [chr(code) for code in range(0xF900, 0xFB00)]
    # One character per line: OpenCC's phrase tables never join across a line break.
    converted = opencc.OpenCC("t2s").convert("\n".join(chars)).split("\n")
    return {
        ord(source): target
        for source, target in zip(chars, converted, strict=True)
        if source != target and len(target) == 1
    }


@cache
def _traditional() -> re.Pattern[str]:
    """Any character that has a simplified form: one scan in C says whether there is work."""
    return re.compile("[" + "".join(re.escape(chr(code)) for code in sorted(_simplified())) + "]")


def to_simplified(text: str) -> str:
    """Traditional characters as simplified ones, one character for one character."""
    if _traditional().search(text) is None:
        return text  # most messages: translate would look each character up for nothing
    return text.translate(_simplified())


def _han_value(numeral: str) -> int:
    """十五 → 15, 三十 → 30, 十 → 10, 七 → 7 (the ages people write in characters)."""
    if "十" not in numeral:
        return _HAN_DIGITS.get(numeral[-1], 0)
    tens, _, units = numeral.partition("十")
    return _HAN_DIGITS.get(tens, 1) * 10 + _HAN_DIGITS.get(units, 0)


def _age_mark(match: re.Match[str]) -> str:
    """The match with its number replaced by the mark of its age band."""
    name, number = next((k, v) for k, v in match.groupdict().items() if v)
    if number.isdigit():
        age = int(number)
    elif number in _EN_VALUES:
        age = _EN_VALUES[number]
    else:
        age = _han_value(number)
    # "不到18岁" is younger than 18; a 0 said plainly is nobody's age.
    under = age <= 18 if name == "zh_below" else 0 < age < 18
    start, end = match.span(name)
    whole = match.group(0)
    offset = match.start()
    mark = UNDER_18 if under else ADULT_AGE
    return whole[: start - offset] + mark + whole[end - offset :]


def fold(text: str) -> str:
    """The message as the classifier reads it (see the module's description)."""
    folded = to_simplified(unicodedata.normalize("NFKC", text).casefold())
    folded = _DRAWN_OUT.sub(r"\1\1", _APOSTROPHES.sub("", folded))
    folded = _AGES.sub(_age_mark, folded)
    spaced = _SCRIPT_CHANGE.sub(r"\1 ", folded.translate(_SEPARATORS))
    return " " + _SPACES.sub(" ", spaced).strip() + " "


def ngrams(text: str) -> list[str]:
    """Every character n-gram of the folded text (n in NGRAM_RANGE, spaces included), its
    Latin-script words and word pairs, and the short-message prior."""
    folded = fold(text)
    if folded.isspace():
        return [SHORT_PRIOR] * SHORT_PRIOR_COUNT  # nothing between the paddings
    low, high = NGRAM_RANGE
    # Spaces come one at a time in the folded text, so the space alone is the one n-gram
    # with nothing in it.
    grams = [char for char in folded if char != " "] if low == 1 else []
    for n in range(max(low, 2), high + 1):
        grams.extend([folded[i : i + n] for i in range(len(folded) - n + 1)])
    words = _WORDS.findall(folded)
    return (
        grams
        + [WORD_MARK + word for word in words]
        + [f"{PAIR_MARK}{first} {second}" for first, second in pairwise(words)]
        + [SHORT_PRIOR] * SHORT_PRIOR_COUNT
    )


def sentences(text: str) -> list[str]:
    """The message's sentences when it has more than one, else []: split where a sentence
    ends (。！？!?；; … a line break, or a full stop before a space or the end)."""
    parts = [part.strip() for part in _SENTENCE_END.split(text)]
    found = [part for part in parts if part]
    return found if len(found) > 1 else []


# Commas, and a space between Han characters: "我初三 他要我转钱 我没有" is how many
# people punctuate Chinese on a phone. And "and", "but" and their Chinese kin, which
# join two things said without a comma: "he wants 20k and says he knows where I work"
# is a demand and a threat, and read whole, the threat drowned the demand.
_CLAUSE_END = re.compile(
    r"[，、,]+|(?<=[\u3400-\u9fff])\s+(?=[\u3400-\u9fff])"
    r"|\s+(?:and|but)\s+|还说|而且|并且|但是|可是",
    re.IGNORECASE,
)


def clauses(sentence: str) -> list[str]:
    """The sentence's clauses when it has more than one, else []: split at commas, at
    spaces between Han characters and at "and", "but" (还说, 而且, 但是 …)."""
    found = [part.strip() for part in _CLAUSE_END.split(sentence) if part.strip()]
    return found if len(found) > 1 else []


# Where a demand turns to what happens if it is not met: "pay 3 lakhs, else he will kill
# me", "不给就打到我住院". What follows is read alone too, since the demand around it
# would drown a threat in it (a demand is not a threat in most of the corpus).
_CONSEQUENCE = re.compile(
    r"\b(?:or else|otherwise|else|or|unless|and then)\b"
    r"|不然的话|否则的话|要不然|不然|否则|要不|要唔[係系]|唔[係系]就?"
    r"|[不唔][\u3400-\u9fff]{1,4}?(?:的话)?就",
    re.IGNORECASE,
)


def consequences(clause: str) -> list[str]:
    """What the clause says after each 'or else' (不然, 不…就, 唔係): [] if it says none."""
    return [part.strip() for part in _CONSEQUENCE.split(clause)[1:] if part.strip()]


def counts(text: str) -> Counter[str]:
    return Counter(ngrams(text))
