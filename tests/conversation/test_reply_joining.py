"""One turn's replies are sent as the fewest messages (bot/content/prompts.py `joined`)."""

from __future__ import annotations

from bot.content import phone
from bot.content.prompts import Reply, joined
from bot.events import Button, OutboundFile

BUTTONS = ((Button("Done", "1:i:x=done"),),)
FILE = OutboundFile("/data/exports/bundle.zip", "bundle.zip", "application/zip")


def test_text_rides_with_the_reply_after_it() -> None:
    replies = [Reply("Good, one more done."), Reply("🔔 I'll check in."), Reply("Next", BUTTONS)]
    assert joined(replies) == [Reply("Good, one more done.\n\n🔔 I'll check in.\n\nNext", BUTTONS)]


def test_nothing_is_added_after_buttons() -> None:
    replies = [Reply("Next", BUTTONS), Reply("We told the staff team.")]
    assert joined(replies) == replies


def test_a_file_keeps_its_own_message() -> None:
    replies = [Reply("Here it is."), Reply("Your bundle", file=FILE), Reply("Anything else?")]
    assert joined(replies) == replies


def test_nothing_grows_past_a_phone_screen() -> None:
    long = "x" * (phone.SCREEN - 10)
    replies = [Reply(long), Reply("0123456789"), Reply("short")]
    assert joined(replies) == [Reply(long), Reply("0123456789\n\nshort")]
    chinese = "字" * 390  # 400 Chinese characters fill a screen
    assert joined([Reply(chinese), Reply("一二三四五六七八九十")]) == [
        Reply(chinese),
        Reply("一二三四五六七八九十"),
    ]


def test_a_long_text_is_cut_between_paragraphs_and_keeps_its_buttons_last() -> None:
    paragraphs = ["p" * 100, "q" * 400, "r" * 400]
    (first, second) = joined([Reply("\n\n".join(paragraphs), BUTTONS)])
    assert first == Reply("p" * 100 + "\n\n" + "q" * 400)
    assert second == Reply("r" * 400, BUTTONS)  # the buttons keep what they answer


def test_a_text_to_copy_stays_alone() -> None:
    letter = Reply("To family: …", alone=True)
    replies = [Reply("Here are the messages."), letter, Reply("To a school: …", alone=True)]
    assert joined(replies) == replies


def test_no_replies_no_messages() -> None:
    assert joined([]) == []


SENTENCES = [
    "How to take it to a notary: a notary office can preserve evidence by watching your "
    "phone show the messages and writing down what it saw.",
    "Facts a notary has certified are accepted unless someone proves otherwise (Civil "
    "Procedure Law, art. 72).",
    "Keep your phone and account: evidence should be given as the original.",
]


def test_one_long_paragraph_is_cut_between_sentences_never_inside_a_word() -> None:
    paragraph = " ".join(SENTENCES * 4)
    parts = phone.screenfuls(paragraph)
    assert len(parts) > 1
    assert all(phone.fits(part) for part in parts)
    assert " ".join(parts) == paragraph
    for part in parts:
        assert part.endswith(".") and part[0].isupper()


def test_one_long_sentence_is_cut_between_words() -> None:
    sentence = " ".join(f"word{n}" for n in range(200)) + "."
    parts = phone.screenfuls(sentence)
    assert len(parts) > 1
    assert all(phone.fits(part) for part in parts)
    assert " ".join(parts) == sentence


def test_long_chinese_is_cut_after_its_sentences_then_between_characters() -> None:
    sentences = "聊天记录、截图都属于电子数据。请保留原始载体，不要删除。" * 30
    parts = phone.screenfuls(sentences)
    assert all(phone.fits(part) for part in parts)
    assert "".join(parts) == sentences
    assert all(part.endswith("。") for part in parts)
    unbroken = "字" * 900
    assert "".join(phone.screenfuls(unbroken)) == unbroken
