"""One turn's replies are sent as the fewest messages (bot/content/prompts.py `joined`)."""

from __future__ import annotations

from bot.content.prompts import JOINED_LIMIT, Reply, joined
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


def test_nothing_grows_past_the_limit() -> None:
    long = "x" * (JOINED_LIMIT - 10)
    replies = [Reply(long), Reply("0123456789"), Reply("short")]
    assert joined(replies) == [Reply(long), Reply("0123456789\n\nshort")]
    assert all(len(r.text) <= JOINED_LIMIT for r in joined(replies))


def test_no_replies_no_messages() -> None:
    assert joined([]) == []
