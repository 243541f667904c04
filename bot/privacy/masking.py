"""Personal data masked out of staff-facing text (alerts, case summaries, search snippets).

Staff see a victim's personal data only under an approved retrieval; everywhere else they
see ``mask(text, names=...)``. What is masked, and how it looks afterwards:

- Phone numbers, found by the ``phonenumbers`` library (region CN, so ``138…``, ``+86``,
  ``0086``, spaced, dashed and landline forms, plus international ``+`` numbers): the
  operator or area code and the last four digits stay, the digits between become ``*``, as
  Chinese apps show them: ``138****5678``, ``+86 138 **** 5678``, ``010-****5678``. Where
  fewer than eight digits follow the area code only the last two stay (``+1 415-***-**71``).
  Toll-free, shared-cost and premium-rate numbers (400/800 lines) belong to businesses, not
  people, and stay as they are.
- Resident ID numbers (GB 11643-1999), masked only when the check character and the birth
  date are valid: all but the last four characters, ``**************002X``.
- Bank card numbers, 13–19 digits (contiguous, or in groups of four split by spaces or
  dashes; Amex's 4-6-5 grouping is not recognised), masked only when
  Luhn-valid with a card network's prefix: all but the last four digits,
  ``**** **** **** 0366``.
- E-mail addresses: the first character of the local part, then ``***``; the domain stays,
  because it tells staff which provider to contact: ``z***@qq.com``.
- Known names (the victim's, and anyone else the case names): ``某某`` for a name written in
  Chinese, ``[name]`` otherwise. Names shorter than two characters are ignored, because a
  one-character name would mask that character everywhere.

Full-width digits and letters (``１３８…``, ``＠``) are detected like ASCII ones; every
character that is not masked comes back exactly as it was, and text with nothing to mask
comes back unchanged. Where two findings overlap the longer one wins (an ID number is not
also read as a phone number); on equal length the more specific kind wins.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import phonenumbers

from bot.privacy.id_numbers import is_card_number, is_resident_id

MASK_CHAR = "*"
CHINESE_NAME_MASK = "某某"
NAME_MASK = "[name]"
MIN_NAME_LENGTH = 2
_DIGITS = frozenset("0123456789")

# Full-width forms (U+FF01–U+FF5E) and the ideographic space, folded one character for one
# character, so that positions found in the folded copy are positions in the original text.
_FOLD = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: ord(" ")}

_RESIDENT_ID = re.compile(r"(?<![0-9])[0-9]{6}([ -]?)[0-9]{8}\1[0-9]{3}[0-9Xx](?![0-9])")
_CARD = re.compile(
    r"(?<![0-9])(?:[0-9]{13,19}"
    r"|[0-9]{4}([ -])[0-9]{4}(?:\1[0-9]{4}){1,2}(?:\1[0-9]{1,3})?)(?![0-9])"
)
_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9][A-Za-z0-9._%+-]*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,}(?![A-Za-z0-9-])"
)
# Mainland mobile numbers the phonenumbers matcher misses: it refuses a number touching a
# Latin letter (chat ids like "wx13812345678"), and gives up on "+86 138 1234 5678 2024-05-12"
# because its candidate runs on into the date.
_CN_MOBILE = re.compile(r"(?<![0-9])(?:(?:\+|00)86[ -]?)?1[3-9][0-9](?:[ -]?[0-9]{4}){2}(?![0-9])")
_HAN = re.compile(r"[\u3400-\u9fff\U00020000-\U0003ffff]")
_BUSINESS_LINES = frozenset(
    {
        phonenumbers.PhoneNumberType.TOLL_FREE,
        phonenumbers.PhoneNumberType.SHARED_COST,
        phonenumbers.PhoneNumberType.PREMIUM_RATE,
    }
)

# Which kind wins when two findings of the same length overlap: the lower rank.
_EMAIL_RANK, _ID_RANK, _CARD_RANK, _PHONE_RANK, _NAME_RANK = range(5)


@dataclass(frozen=True)
class _Finding:
    start: int
    end: int
    rank: int
    replacement: str


def mask(text: str, *, names: Sequence[str] = ()) -> str:
    """Staff-facing copy of `text` with personal data masked."""
    folded = text.translate(_FOLD)
    numbers = [*_resident_ids(text, folded), *_cards(text, folded), *_phones(text, folded)]
    findings = [
        *_emails(text, folded),
        *(found for found in numbers if not _beside_mask(folded, found)),
        *_names(folded, names),
    ]
    pieces: list[str] = []
    position = 0
    for finding in _longest_first(findings):
        pieces += [text[position : finding.start], finding.replacement]
        position = finding.end
    pieces.append(text[position:])
    return "".join(pieces)


def _beside_mask(folded: str, finding: _Finding) -> bool:
    """Digits glued to a mask are what is left of a masked number, not a new one: reading
    them as one (``130****0100  0086-130-…``) would mask masked text again."""
    before = folded[finding.start - 1 : finding.start]
    after = folded[finding.end : finding.end + 1]
    return MASK_CHAR in before + folded[finding.start : finding.end] + after


def _longest_first(findings: list[_Finding]) -> list[_Finding]:
    """Findings that do not overlap, preferring the longest, in text order."""
    chosen: list[_Finding] = []
    for finding in sorted(findings, key=lambda f: (f.start - f.end, f.rank, f.start)):
        if all(finding.end <= kept.start or finding.start >= kept.end for kept in chosen):
            chosen.append(finding)
    return sorted(chosen, key=lambda f: f.start)


def _mask_digits(original: str, folded: str, first: int, stop: int) -> str:
    """`original` with its digits numbered first…stop-1 (counted in `folded`) masked."""
    out: list[str] = []
    index = 0
    for char, plain in zip(original, folded, strict=True):
        if plain in _DIGITS:
            out.append(MASK_CHAR if first <= index < stop else char)
            index += 1
        else:
            out.append(char)
    return "".join(out)


def _resident_ids(text: str, folded: str) -> Iterator[_Finding]:
    for match in _RESIDENT_ID.finditer(folded):
        start, end = match.span()
        if is_resident_id(re.sub("[ -]", "", match[0])):
            yield _Finding(start, end, _ID_RANK, _mask_digits(text[start:end], match[0], 0, 14))


def _cards(text: str, folded: str) -> Iterator[_Finding]:
    for match in _CARD.finditer(folded):
        start, end = match.span()
        digits = re.sub("[ -]", "", match[0])
        if is_card_number(digits):
            masked = _mask_digits(text[start:end], match[0], 0, len(digits) - 4)
            yield _Finding(start, end, _CARD_RANK, masked)


def _emails(text: str, folded: str) -> Iterator[_Finding]:
    for match in _EMAIL.finditer(folded):
        start, end = match.span()
        at = folded.index("@", start)
        yield _Finding(start, end, _EMAIL_RANK, f"{text[start]}***{text[at:end]}")


def _phones(text: str, folded: str) -> Iterator[_Finding]:
    for match in phonenumbers.PhoneNumberMatcher(folded, "CN"):
        finding = _phone_finding(text, folded, match.start, match.end, match.number)
        if finding is not None:
            yield finding
    for mobile in _CN_MOBILE.finditer(folded):
        number = phonenumbers.parse(mobile[0], "CN")
        if phonenumbers.is_valid_number(number):
            finding = _phone_finding(text, folded, mobile.start(), mobile.end(), number)
            if finding is not None:
                yield finding


def _phone_finding(
    text: str, folded: str, start: int, end: int, number: phonenumbers.PhoneNumber
) -> _Finding | None:
    if phonenumbers.number_type(number) in _BUSINESS_LINES:
        return None
    raw = folded[start:end]
    national = phonenumbers.national_significant_number(number)
    digit_count = sum(char in _DIGITS for char in raw)
    # The national number is the last run of digits, before any extension.
    national_start = digit_count - len(number.extension or "") - len(national)
    head = phonenumbers.length_of_national_destination_code(number)
    subscriber = len(national) - head
    tail = 4 if subscriber >= 8 else 2 if subscriber >= 5 else 0
    first, stop = national_start + head, national_start + len(national) - tail
    return _Finding(start, end, _PHONE_RANK, _mask_digits(text[start:end], raw, first, stop))


def _names(folded: str, names: Sequence[str]) -> Iterator[_Finding]:
    for name in names:
        pattern = _name_pattern(name.translate(_FOLD).strip())
        if pattern is None:
            continue
        replacement = CHINESE_NAME_MASK if _HAN.search(name) else NAME_MASK
        for match in pattern.finditer(folded):
            yield _Finding(match.start(), match.end(), _NAME_RANK, replacement)


def _name_pattern(name: str) -> re.Pattern[str] | None:
    """Chinese names match anywhere; a Latin name only as whole words, in any case."""
    if len(name) < MIN_NAME_LENGTH:
        return None
    body = r"\s+".join(re.escape(part) for part in name.split())
    before = r"(?<![A-Za-z0-9])" if name[0].isascii() and name[0].isalnum() else ""
    after = r"(?![A-Za-z0-9])" if name[-1].isascii() and name[-1].isalnum() else ""
    return re.compile(before + body + after, re.IGNORECASE)
