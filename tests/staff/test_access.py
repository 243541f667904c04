"""Who is staff and what each role may do: the roster's look-ups on their own."""

from __future__ import annotations

from pathlib import Path

from bot.staff.access import ADMIN, AUDITOR, OPERATOR, Roster, StaffRef
from tests.conftest import make_config

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


# The README's table of staff commands, and the buttons and talk actions beside them: who
# may do what. A change here is a change of policy, never a side effect.
EVERYONE = {"help", "brief", "start"}
CASE_WORK = {
    *("cases", "case", "note", "assign", "resolve", "ack", "take", "retrieve"),
    *("reply", "release", "name", "talk", "fetch", "search"),
}
ADMIN_ONLY = {"approve", "deny", "hold", "unhold"}
ACTIONS = EVERYONE | CASE_WORK | ADMIN_ONLY | {"custody"}


def test_each_role_may_do_exactly_the_actions_of_the_table() -> None:
    allowed = {
        role: {action for action in ACTIONS | {"erase", "export", ""} if ref.may(action)}
        for role, ref in ((r, StaffRef("slack", "U1", r)) for r in (OPERATOR, ADMIN, AUDITOR))
    }
    assert allowed[OPERATOR] == EVERYONE | CASE_WORK
    assert allowed[ADMIN] == EVERYONE | CASE_WORK | ADMIN_ONLY | {"custody"}
    assert allowed[AUDITOR] == EVERYONE | {"custody"}


def roster_of(tmp_path: Path, toml: str) -> Roster:
    return Roster.from_config(make_config(tmp_path / "data", toml))


def test_the_configured_staff_keep_what_victims_see_of_them(tmp_path: Path) -> None:
    roster = roster_of(
        tmp_path,
        '\n[[staff]]\nplatform = "slack"\nuser_id = "U1"\nrole = "operator"\n'
        'name = "Ann Lee"\ndisplay_name = "Ann from the support team"\n',
    )
    member = roster.find("slack", "U1")
    assert member is not None and member.role == OPERATOR
    assert member.display_name == "Ann from the support team"


def test_the_console_user_is_staff_only_while_the_console_is_enabled(tmp_path: Path) -> None:
    on = roster_of(tmp_path, '\n[adapters.console]\nstaff_user = "desk"\nstaff_role = "auditor"\n')
    assert on.find("console", "desk") == StaffRef("console", "desk", AUDITOR)
    off = roster_of(tmp_path, '\n[adapters]\nenabled = ["web"]\n')
    assert len(off) == 0 and not off.is_member("console", "staff")


def test_a_console_user_listed_in_staff_keeps_the_role_given_there(tmp_path: Path) -> None:
    roster = roster_of(
        tmp_path,
        '\n[[staff]]\nplatform = "console"\nuser_id = "staff"\nrole = "operator"\nname = "Desk"\n'
        '\n[adapters.console]\nstaff_role = "admin"\n',
    )
    assert len(roster) == 1
    assert roster.find("console", "staff") == StaffRef("console", "staff", OPERATOR, "Desk")
