"""Masking personal data in staff-facing text: chat-style samples in Chinese and English."""

from __future__ import annotations

from datetime import date

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.privacy.id_numbers import (
    is_card_number,
    is_resident_id,
    luhn_valid,
    resident_id_check_char,
)
from bot.privacy.masking import mask

FULL_WIDTH_DIGITS = str.maketrans("0123456789", "０１２３４５６７８９")


# Check digits computed here in a different way from bot/privacy/id_numbers.py, so that a mistake
# there cannot hide behind the same mistake in the test.
def id_check_char(first17: str) -> str:
    """ISO 7064 MOD 11-2 in its recursive form."""
    p = 0
    for char in first17:
        p = ((p + int(char)) * 2) % 11
    check = (12 - p) % 11
    return "X" if check == 10 else str(check)


def resident_id(region: str, born: date, sequence: str) -> str:
    first17 = f"{region}{born:%Y%m%d}{sequence}"
    return first17 + id_check_char(first17)


def wrong_id_check_char(first17: str) -> str:
    return "0" if id_check_char(first17) != "0" else "1"


def luhn_complete(partial: str) -> str:
    """`partial` plus the digit that makes it pass Luhn."""
    for last in "0123456789":
        digits = [int(c) for c in partial + last]
        odd = digits[-1::-2]
        even = [sum(divmod(2 * d, 10)) for d in digits[-2::-2]]
        if (sum(odd) + sum(even)) % 10 == 0:
            return partial + last
    raise AssertionError("some digit always completes a Luhn number")


def luhn_broken(partial: str) -> str:
    valid = luhn_complete(partial)
    return valid[:-1] + str((int(valid[-1]) + 1) % 10)


def grouped(digits: str, sep: str = " ") -> str:
    return sep.join(digits[i : i + 4] for i in range(0, len(digits), 4))


ID_BEIJING = resident_id("110105", date(1949, 12, 31), "002")  # 11010519491231002X
ID_SHENZHEN = resident_id("440305", date(1995, 6, 18), "123")
UNIONPAY_16 = luhn_complete("622202123456789")
UNIONPAY_19 = luhn_complete("621700123456789012")
VISA = luhn_complete("436742000011112")


# --- check digits -----------------------------------------------------------------------


def test_the_published_sample_id_number_validates() -> None:
    assert ID_BEIJING == "11010519491231002X"
    assert is_resident_id(ID_BEIJING)
    assert is_resident_id(ID_BEIJING.lower())
    assert resident_id_check_char(ID_BEIJING[:17]) == "X"


def test_id_numbers_with_a_wrong_check_char_or_impossible_birth_date_fail() -> None:
    assert not is_resident_id(ID_BEIJING[:17] + "0")
    impossible = "11010519490230123"  # 30 February
    assert not is_resident_id(impossible + id_check_char(impossible))
    assert not is_resident_id(ID_BEIJING[:17])
    assert not is_resident_id("１１０１０５１９４９１２３１００２Ｘ")
    with pytest.raises(ValueError):
        resident_id_check_char("1234")


@given(st.text(alphabet="0123456789", min_size=17, max_size=17))
def test_check_char_agrees_with_the_recursive_form(first17: str) -> None:
    assert resident_id_check_char(first17) == id_check_char(first17)


def test_luhn_and_card_networks() -> None:
    assert luhn_valid("4111111111111111")
    assert not luhn_valid("4111111111111112")
    assert is_card_number(UNIONPAY_16) and is_card_number(UNIONPAY_19)
    assert not is_card_number(luhn_broken("622202123456789"))
    # Luhn-valid, but no card network starts with 1, 9 or 20: timestamps, order numbers.
    assert not is_card_number(luhn_complete("170000000012"))
    assert not is_card_number(luhn_complete("202405121234567"))
    assert not is_card_number(luhn_complete("912345678901234"))
    assert is_card_number(luhn_complete("222100000000000"))  # Mastercard 2-series


# --- phone numbers ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("他把我的手机号13812345678发到群里了", "他把我的手机号138****5678发到群里了"),
        ("call me at +86 138 1234 5678", "call me at +86 138 **** 5678"),
        ("加我 0086 138-1234-5678 谢谢", "加我 0086 138-****-5678 谢谢"),
        ("+8615012345678", "+86150****5678"),
        ("号码是138 1234 5678吧", "号码是138 **** 5678吧"),
        ("电话：１３８１２３４５６７８。", "电话：１３８****５６７８。"),
        ("微信号wx18612345678", "微信号wx186****5678"),
        ("+86 138 1234 5678 2024-05-12 找我", "+86 138 **** 5678 2024-05-12 找我"),
        ("家里座机010-12345678", "家里座机010-****5678"),
        ("公司 (0755) 8765 4321", "公司 (0755) **** 4321"),
        ("his London number is +44 20 7946 0958", "his London number is +44 20 **** 0958"),
        ("US cell +1 415-555-2671", "US cell +1 415-***-**71"),
        ("call +1 415-555-2671 ext. 89", "call +1 415-***-**71 ext. 89"),  # not the extension
        ("Solomon Islands +677 21234", "Solomon Islands +677 ***34"),  # five digits: two stay
        ("Niue +683 4002", "Niue +683 ****"),  # four digits or fewer: none stay
    ],
)
def test_phone_numbers_keep_operator_or_area_code_and_last_digits(text: str, expected: str) -> None:
    assert mask(text) == expected


def test_two_numbers_stay_distinguishable() -> None:
    masked = mask("他用13812345678和13987654321两个号轮流骚扰我")
    assert masked == "他用138****5678和139****4321两个号轮流骚扰我"


def test_business_hotlines_are_not_personal_data() -> None:
    hotline = "400-123-4567"
    number = phonenumbers.parse(hotline, "CN")
    assert phonenumbers.number_type(number) == phonenumbers.PhoneNumberType.SHARED_COST
    assert mask(f"平台客服电话 {hotline}") == f"平台客服电话 {hotline}"


# --- ID numbers -------------------------------------------------------------------------


def test_id_number_is_masked_but_for_the_last_four() -> None:
    assert mask(f"他在群里发了我的身份证号{ID_BEIJING}，太可怕了") == (
        "他在群里发了我的身份证号**************002X，太可怕了"
    )
    spaced = f"{ID_SHENZHEN[:6]} {ID_SHENZHEN[6:14]} {ID_SHENZHEN[14:]}"
    assert mask(f"ID: {spaced}") == f"ID: ****** ******** {ID_SHENZHEN[14:]}"
    assert mask(ID_BEIJING.lower()) == "**************002x"


def test_full_width_id_number_keeps_its_width() -> None:
    wide = ID_SHENZHEN.translate(FULL_WIDTH_DIGITS)
    assert mask(f"身份证：{wide}") == f"身份证：{'*' * 14}{wide[14:]}"


def test_id_number_is_not_read_as_a_phone_or_card() -> None:
    # An ID number that happens to be Luhn-valid too, with a mobile number inside it.
    for sequence in range(1000):
        candidate = resident_id("138123", date(1990, 1, 1), f"{sequence:03d}")
        if luhn_valid(candidate):
            break
    assert mask(candidate) == "*" * 14 + candidate[14:]


def test_invalid_id_numbers_are_left_alone() -> None:
    wrong_check = ID_SHENZHEN[:17] + wrong_id_check_char(ID_SHENZHEN[:17])
    impossible = "44030519950230123"
    bad_date = impossible + id_check_char(impossible)
    text = f"单号{wrong_check}和{bad_date}"
    assert mask(text) == text


# --- bank cards -------------------------------------------------------------------------


def test_card_numbers_keep_the_last_four_and_their_grouping() -> None:
    text = (
        f"把钱转到这张卡 {grouped(UNIONPAY_19)}，"
        f"or my Visa {grouped(VISA, '-')}, 备用卡{UNIONPAY_16}"
    )
    expected = (
        f"把钱转到这张卡 **** **** **** ***{UNIONPAY_19[15]} {UNIONPAY_19[16:]}，"
        f"or my Visa ****-****-****-{VISA[-4:]}, 备用卡{'*' * 12}{UNIONPAY_16[-4:]}"
    )
    assert mask(text) == expected


def test_cards_failing_luhn_are_left_alone() -> None:
    broken = luhn_broken("622202123456789")
    text = f"卡号{broken} / card {grouped(broken)}"
    assert mask(text) == text


# --- e-mail addresses ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("邮箱是zhangsan1990@qq.com", "邮箱是z***@qq.com"),
        ("write to Li.Wei+haven@Example.co.uk.", "write to L***@Example.co.uk."),
        ("13812345678@163.com 是他的邮箱", "1***@163.com 是他的邮箱"),
        ("邮箱：ｍｅ＠ｅｘａｍｐｌｅ．ｃｏｍ", "邮箱：ｍ***＠ｅｘａｍｐｌｅ．ｃｏｍ"),
    ],
)
def test_email_keeps_first_character_and_domain(text: str, expected: str) -> None:
    assert mask(text) == expected


# --- names ------------------------------------------------------------------------------


def test_chinese_names_are_masked_anywhere_in_the_text() -> None:
    text = "张伟说王芳把聊天记录发给了张伟的同事"
    assert mask(text, names=["张伟", "王芳"]) == "某某说某某把聊天记录发给了某某的同事"


def test_english_names_match_whole_words_in_any_case() -> None:
    text = "Li Wei told LI  WEI's friend; Lisa and Olive are unrelated. ｌｉ ｗｅｉ again"
    assert mask(text, names=["Li Wei", "li"]) == (
        "[name] told [name]'s friend; Lisa and Olive are unrelated. [name] again"
    )


def test_the_longer_of_two_names_wins() -> None:
    assert mask("张伟明和张伟", names=["张伟", "张伟明"]) == "某某和某某"


def test_chinese_names_are_masked_even_against_latin_letters_and_digits() -> None:
    assert mask("ID9王芳abc", names=["王芳"]) == "ID9某某abc"


@pytest.mark.parametrize(
    ("text", "name", "expected"),
    [
        ("MsLily and Lily", "Lily", "MsLily and [name]"),
        ("AJ. Smith; J. Smith", "J. Smith", "AJ. Smith; [name]"),
        ("J. Smithson, J. Smith", "J. Smith", "J. Smithson, [name]"),
        ("ZLǐ Wei, Lǐ Wei", "Lǐ Wei", "ZLǐ Wei, [name]"),
        ("Lǐ Weiss, Lǐ Wei", "Lǐ Wei", "Lǐ Weiss, [name]"),
        ("Renées, Renée", "Renée", "Renées, [name]"),
        ("Wang Jo, Wang J", "Wang J", "Wang Jo, [name]"),
    ],
)
def test_latin_names_are_whole_words_whatever_letters_they_start_or_end_with(
    text: str, name: str, expected: str
) -> None:
    assert mask(text, names=[name]) == expected


def test_a_name_too_short_to_use_does_not_stop_the_others() -> None:
    assert mask("王芳说", names=["L", "王芳"]) == "某某说"


@pytest.mark.parametrize("name", ["", " ", "王", "L"])
def test_names_shorter_than_two_characters_are_ignored(name: str) -> None:
    text = "王先生说 Lily 的电话"
    assert mask(text, names=[name]) == text


# --- text that holds nothing personal -------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "订单号2024051212345678已发货",
        f"订单号 {luhn_complete('202405121234567')}",
        "金额¥1,280.00，合计 12,345,678.90 元",
        "时间 2024-05-12 13:45:00，ISO 2024-05-12T13:45:00+08:00",
        "unix 1700000000, millis 1700000000123",
        "快递单号 SF1234567890123，ISBN 978-7-111-12345-6",
        "群号 123456789，IP 192.168.1.1:8080，版本 v1.2.3",
        "尾号5678的手机",
        "no personal data here, just 谢谢你的帮助！",
        "",
    ],
)
def test_ordinary_numbers_stay(text: str) -> None:
    assert mask(text) == text


# --- properties -------------------------------------------------------------------------

MOBILE_PREFIXES = ["130", "138", "139", "150", "158", "166", "177", "186", "199"]
FILLER = [
    "他说",
    "please call",
    "我的",
    "订单已发货",
    "hi",
    "谢谢",
    "金额¥1,280.00",
    "2024-05-12 13:45",
    "version 2.0",
    "群里",
    "",
]
SEPARATORS = [" ", "，", "。", "：", "\n", " - "]


@st.composite
def mobiles(draw: st.DrawFn) -> tuple[str, str]:
    digits = draw(st.sampled_from(MOBILE_PREFIXES)) + draw(
        st.text(alphabet="0123456789", min_size=8, max_size=8)
    )
    written = draw(
        st.sampled_from(
            [
                digits,
                f"+86 {digits[:3]} {digits[3:7]} {digits[7:]}",
                f"0086-{digits[:3]}-{digits[3:7]}-{digits[7:]}",
                digits.translate(FULL_WIDTH_DIGITS),
            ]
        )
    )
    return digits, written


@st.composite
def id_numbers(draw: st.DrawFn) -> tuple[str, str]:
    region = draw(st.sampled_from(["110105", "310104", "440305", "510107"]))
    born = draw(st.dates(min_value=date(1930, 1, 1), max_value=date(2015, 12, 31)))
    sequence = draw(st.text(alphabet="0123456789", min_size=3, max_size=3))
    number = resident_id(region, born, sequence)
    written = draw(
        st.sampled_from([number, f"{number[:6]} {number[6:14]} {number[14:]}", number.lower()])
    )
    return number[:17], written


@st.composite
def cards(draw: st.DrawFn) -> tuple[str, str]:
    prefix = draw(st.sampled_from(["622202", "621700", "436742", "524047", "356833"]))
    length = draw(st.sampled_from([16, 19]))
    middle = draw(st.text(alphabet="0123456789", min_size=length - 7, max_size=length - 7))
    digits = luhn_complete(prefix + middle)
    written = draw(st.sampled_from([digits, grouped(digits), grouped(digits, "-")]))
    return digits, written


@st.composite
def chat_messages(draw: st.DrawFn) -> tuple[str, list[tuple[str, str]]]:
    secrets = draw(st.lists(st.one_of(mobiles(), id_numbers(), cards()), max_size=4))
    parts: list[str] = []
    for _digits, written in secrets:
        parts += [draw(st.sampled_from(FILLER)), draw(st.sampled_from(SEPARATORS)), written]
        parts.append(draw(st.sampled_from(SEPARATORS)))
    parts.append(draw(st.sampled_from(FILLER)))
    return "".join(parts), secrets


@settings(max_examples=300, deadline=None)
@given(chat_messages())
def test_no_valid_number_survives_and_masking_is_idempotent(
    message: tuple[str, list[tuple[str, str]]],
) -> None:
    text, secrets = message
    masked = mask(text)
    for digits, written in secrets:
        assert written not in masked
        assert digits not in masked.translate(str.maketrans("０１２３４５６７８９", "0123456789"))
    assert mask(masked) == masked


@settings(deadline=None)
@given(st.text())
def test_masking_any_text_is_idempotent(text: str) -> None:
    once = mask(text, names=["张伟", "Li Wei"])
    assert mask(once, names=["张伟", "Li Wei"]) == once


@settings(deadline=None)
@given(st.text(alphabet=st.characters(exclude_categories=["Nd"], exclude_characters="@＠")))
def test_text_without_digits_or_at_signs_comes_back_unchanged(text: str) -> None:
    assert mask(text) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("13812345678*", "13812345678*"),  # glued to a mask after it
        ("** 13812345678", "** 138****5678"),  # a mask two characters away is not glued
        ("13812345678 *x", "138****5678 *x"),
    ],
)
def test_only_digits_right_beside_a_mask_count_as_masked(text: str, expected: str) -> None:
    assert mask(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("王芳zhang@qq.com", "某某z***@qq.com"),
        ("zhang@qq.com王芳", "z***@qq.com某某"),
        ("Zhangwei: z@qq.com", "[name]: z***@qq.com"),  # two findings of one length
    ],
)
def test_findings_side_by_side_are_all_masked(text: str, expected: str) -> None:
    assert mask(text, names=["王芳", "Zhangwei"]) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hi @all, mail z@qq.com", "hi @all, mail z***@qq.com"),
        ("a1@qq.com, b2@163.com", "a***@qq.com, b***@163.com"),
    ],
)
def test_each_email_keeps_its_own_domain(text: str, expected: str) -> None:
    assert mask(text) == expected


def test_digits_glued_to_a_mask_are_not_read_as_a_new_number() -> None:
    # Found by hypothesis: the tail of one masked number and the head of the next, two
    # spaces apart, parse as one phone number on a second pass.
    once = mask("他说 13000000100  0086-130-0000-0000 他说")
    assert once == "他说 130****0100  0086-130-****-0000 他说"
    assert mask(once) == once
