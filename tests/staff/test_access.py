"""Who is staff and what each role may do: the roster's look-ups on their own."""

from __future__ import annotations

from bot.staff.access import ADMIN, AUDITOR, OPERATOR, Roster, StaffRef

ALICE = StaffRef("telegram", "9001", OPERATOR, "Alice")
BOB = StaffRef("slack", "U0BOB", ADMIN, "Bob")
CAROL = StaffRef("slack", "U0CAROL", AUDITOR, "Carol")
# A user id with a colon in it, as a web or Matrix identity can have.
DAVE = StaffRef("web", "dave:example.org", OPERATOR, "Dave")
ROSTER = Roster([ALICE, BOB, CAROL, DAVE])


def test_each_role_may_do_its_own_actions_only() -> None:
    assert ALICE.may("ack") and not ALICE.may("approve") and not ALICE.may("custody")
    assert BOB.may("approve") and BOB.may("custody")
    assert CAROL.may("custody") and not CAROL.may("case") and not CAROL.may("fetch")


def test_a_role_nobody_configured_may_do_nothing() -> None:
    assert not StaffRef("telegram", "1", "visitor").may("help")


def test_a_custody_actor_names_its_member_even_with_a_colon_in_the_user_id() -> None:
    assert ROSTER.by_actor(DAVE.actor) == DAVE
    assert ROSTER.by_actor(ALICE.actor) == ALICE
    assert ROSTER.by_actor("telegram:404") is None


def test_lookup_searches_only_the_given_platform_past_the_others() -> None:
    # Alice (telegram) comes first in the roster; a Slack look-up must go on past her.
    assert ROSTER.lookup("@bob", "slack") == BOB
    assert ROSTER.lookup("u0carol", "slack") == CAROL
    assert ROSTER.lookup("alice", "slack") is None
    assert ROSTER.lookup("  ", "slack") is None


def test_a_former_member_is_labelled_by_the_raw_actor() -> None:
    assert ROSTER.label(ALICE.actor) == "Alice"
    assert ROSTER.label("telegram:5555") == "telegram:5555"
