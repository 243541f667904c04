"""Check digits: whether a digit string is a real resident ID number or a real bank card.

Masking relies on these so that order numbers, timestamps and other long numbers that merely
look like an ID or a card are left alone: a random 18-digit string passes the ID check about
once in eleven, and a random card-length string passes Luhn once in ten.
"""

from __future__ import annotations

from datetime import date

RESIDENT_ID_LENGTH = 18
_ID_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))
_ID_CHECK_CHARS = "10X98765432"
"""GB 11643-1999 (ISO 7064 MOD 11-2): the check character for each remainder of the sum mod 11."""

CARD_LENGTHS = range(13, 20)


def resident_id_check_char(first17: str) -> str:
    """The check character (0-9 or X) that completes these 17 digits."""
    if len(first17) != RESIDENT_ID_LENGTH - 1 or not first17.isascii() or not first17.isdigit():
        raise ValueError("a resident ID number starts with 17 ASCII digits")
    total = sum(int(digit) * weight for digit, weight in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK_CHARS[total % 11]


def is_resident_id(candidate: str) -> bool:
    """18 characters whose check character validates and whose birth date is a real day."""
    if len(candidate) != RESIDENT_ID_LENGTH or not candidate[:17].isascii():
        return False
    if not candidate[:17].isdigit():
        return False
    if candidate[17].upper() != resident_id_check_char(candidate[:17]):
        return False
    return _is_real_date(candidate[6:14])


def _is_real_date(yyyymmdd: str) -> bool:
    try:
        born = date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:]))
    except ValueError:
        return False
    # The first resident ID cards were issued in 1984; nobody alive was born before 1880.
    return born.year >= 1880


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check that every payment card number carries in its last digit."""
    if not digits.isascii() or not digits.isdigit():
        return False
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def is_card_number(digits: str) -> bool:
    """A Luhn-valid 13–19 digit number whose issuer prefix belongs to a card network.

    Card networks start with 3 (Amex, JCB, Diners), 4 (Visa), 5 (Mastercard), 6 (UnionPay,
    Discover) or 2221–2720 (Mastercard 2-series). Millisecond timestamps (1…) and order
    numbers that start with a date (20…) are thereby not taken for cards.
    """
    if len(digits) not in CARD_LENGTHS or not luhn_valid(digits):
        return False
    return digits[0] in "3456" or 2221 <= int(digits[:4]) <= 2720
