"""Retrieval with four eyes: asked by one, approved by a different admin, limited to one
case and a window, expiring, optionally with a TOTP code; each step a custody event, and
the bundle delivered privately to the requester, verifiable offline."""

from __future__ import annotations

import asyncio
import logging
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import pyotp
import pytest
from sqlalchemy import select

from bot.clock import ManualClock
from bot.events import ChatKind, ForwardOrigin, InboundKind, OriginKind, Outbound
from bot.evidence.verify import verify_bundle
from storage import custody, retrievals
from storage.schema import outbox
from tests.conversation.test_journey import triage
from tests.evidence.test_evidence import attachment, send_file
from tests.staff_rig import FIRST, Rig, open_rig

# Every test here runs on SQLite and on PostgreSQL (tests/backends.py).
pytestmark = pytest.mark.usefixtures("backend")

HOUR = timedelta(hours=1)
DORA = """
[[staff]]
platform = "console"
user_id = "dora"
role = "admin"
name = "Dora"
totp_secret_env = "HAVEN_TOTP_DORA"
"""
ASK = "1 --from 2026-01-05T08:00 --to 2026-01-05T10:00 --reason police asked for the threats"


@pytest.fixture
async def rig(tmp_path: Path, clock: ManualClock) -> AsyncIterator[Rig]:
    opened = await open_rig(tmp_path / "data", clock)
    yield opened
    await opened.haven.close()


async def with_evidence(rig: Rig) -> None:
    """Case 1 holds one item received at 09:00 and one at 11:00 (Shanghai)."""
    await triage(rig.victim, extortion="yes")
    origin = ForwardOrigin(kind=OriginKind.USER, sender_name="Zhang San")
    await rig.victim._send(InboundKind.FORWARD, text="pay 5000 or else", forward_origin=origin)
    rig.clock.advance(2 * HOUR)
    await rig.victim._send(InboundKind.FORWARD, text="last warning", forward_origin=origin)


async def last(rig: Rig, user: str, command: str, args: str = "") -> str:
    return (await rig.command(user, command, args))[-1].text


def private(rig: Rig, user: str) -> list[Outbound]:
    return [m for m in rig.adapter.sent[user] if m.chat.kind is ChatKind.PRIVATE]


async def actions(rig: Rig) -> list[tuple[str, str]]:
    async with rig.haven.db.transaction() as conn:
        rows = await custody.for_case(conn, 1)
    return [(r.event.actor, r.event.action) for r in rows if r.event.action != "received"]


async def test_four_eyes_retrieval_end_to_end(rig: Rig) -> None:
    await with_evidence(rig)
    asked = await last(rig, "alice", "retrieve", ASK)
    assert asked == rig.t(
        "retrieval.requested",
        id=1,
        case_id=1,
        start="2026-01-05 08:00",
        end="2026-01-05 10:00",
        who="Alice",
        expires="2026-01-06 11:00",
    ), "the approvers see which case, which window and until when"
    assert private(rig, "alice") == []
    approved = await last(rig, "bob", "approve", "1")
    assert approved == rig.t("retrieval.approved", id=1, who="Alice", expires="2026-01-06 11:00")
    (delivery,) = private(rig, "alice")
    assert delivery.text == rig.t("retrieval.delivered", id=1, case_id=1, items=1)
    assert delivery.file is not None
    bundle = Path(delivery.file.path)
    assert (delivery.file.file_name, delivery.file.mime_type) == (bundle.name, "application/zip")
    assert bundle.name.startswith("retrieval-1-case-1-") and bundle.suffix == ".zip"
    report = verify_bundle(bundle, rig.haven.log_key.public_key())
    assert report.ok and [item.number for item in report.items] == [1]
    with zipfile.ZipFile(bundle) as archive:
        contents = b"".join(archive.read(name) for name in archive.namelist())
    assert b"pay 5000 or else" in contents and b"last warning" not in contents
    assert all("pay 5000" not in text for text in rig.texts(FIRST))
    assert await actions(rig) == [
        ("console:alice", "retrieval_requested"),
        ("console:bob", "retrieval_approved"),
        ("console:alice", "retrieve"),
    ]
    assert (await custody_reasons(rig))[:2] == [
        "retrieval #1: police asked for the threats",
        "retrieval #1",
    ], "the custody log names the retrieval each step belongs to, and why it was asked"


async def custody_reasons(rig: Rig) -> list[str]:
    async with rig.haven.db.transaction() as conn:
        rows = await custody.for_case(conn, 1)
    return [r.event.reason for r in rows if r.event.action != "received"]


async def test_bare_dates_ask_for_whole_days_from_the_first_to_the_end_of_the_last(
    rig: Rig,
) -> None:
    await with_evidence(rig)
    asked = await last(rig, "alice", "retrieve", "1 --from 2026-01-05 --to 2026-01-05 --reason x")
    assert "items dated 2026-01-05 00:00 to 2026-01-06 00:00 " in asked
    await rig.command("bob", "approve", "1")
    (delivery,) = private(rig, "alice")
    assert delivery.text == rig.t("retrieval.delivered", id=1, case_id=1, items=2)


async def test_an_admin_cannot_approve_their_own_request(rig: Rig) -> None:
    await with_evidence(rig)
    await rig.command("bob", "retrieve", ASK)
    assert await last(rig, "bob", "approve", "1") == rig.t("retrieval.own_request", id=1)
    assert private(rig, "bob") == []
    assert ("console:bob", "refused") in await actions(rig)


async def test_only_admins_approve_and_auditors_cannot_ask(rig: Rig) -> None:
    await with_evidence(rig)
    await rig.command("alice", "retrieve", ASK)
    assert await last(rig, "alice", "approve", "1") == rig.t(
        "staff.not_allowed", role="operator", command="/approve"
    )
    assert await last(rig, "carol", "retrieve", ASK) == rig.t(
        "staff.not_allowed", role="auditor", command="/retrieve"
    )
    refused = [a for a in await actions(rig) if a[1] == "refused"]
    assert refused == [("console:alice", "refused"), ("console:carol", "refused")]


async def test_a_request_expires_unapproved(rig: Rig) -> None:
    await with_evidence(rig)
    await rig.command("alice", "retrieve", ASK)
    rig.clock.advance(25 * HOUR)
    assert await last(rig, "bob", "approve", "1") == rig.t("retrieval.expired", id=1)
    assert await last(rig, "bob", "approve", "1") == rig.t(
        "retrieval.already", id=1, state=rig.t("retrieval.state_expired")
    )
    assert private(rig, "alice") == []


async def test_a_request_can_no_longer_be_approved_at_the_moment_it_expires(rig: Rig) -> None:
    await with_evidence(rig)
    await rig.command("alice", "retrieve", ASK)
    rig.clock.advance(24 * HOUR)  # [retrieval] expires_hours, to the second
    assert await last(rig, "bob", "approve", "1") == rig.t("retrieval.expired", id=1)
    assert private(rig, "alice") == []


async def test_fetch_again_until_the_approval_expires(rig: Rig) -> None:
    await with_evidence(rig)
    await rig.command("alice", "retrieve", ASK)
    await rig.command("bob", "approve", "1")
    assert await last(rig, "bob", "approve", "1") == rig.t(
        "retrieval.already", id=1, state=rig.t("retrieval.state_approved")
    )
    assert await last(rig, "bob", "fetch", "1") == rig.t("retrieval.not_yours", id=1)
    assert await last(rig, "alice", "fetch", "1") == rig.t("retrieval.fetching", id=1)
    assert len(private(rig, "alice")) == 2
    rig.clock.advance(24 * HOUR)
    assert await last(rig, "alice", "fetch", "1") == rig.t("retrieval.expired", id=1)
    assert len(private(rig, "alice")) == 2
    assert [a for a in await actions(rig) if a[1] in ("retrieve", "refused")] == [
        ("console:alice", "retrieve"),
        ("console:bob", "refused"),
        ("console:alice", "retrieve"),
        ("console:alice", "refused"),
    ]


async def test_an_approval_lasts_its_time_from_the_approval_not_from_the_request(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    await with_evidence(rig)
    await rig.command("alice", "retrieve", ASK)
    rig.clock.advance(2 * HOUR)
    approved_at = rig.clock.now()
    with caplog.at_level(logging.INFO, logger="bot.staff.retrieval"):
        await rig.command("bob", "approve", "1")
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.staff.retrieval"]
    assert lines == ["retrieval 1 approved by console:bob"], "haven.log names who approved"
    async with rig.haven.db.transaction() as conn:
        found = await retrievals.get(conn, 1)
    assert found is not None and (found.approved_by, found.approved_at) == (
        "console:bob",
        approved_at,
    )
    rig.clock.advance(23 * HOUR)  # 25 hours after the request, 23 after the approval
    assert await last(rig, "alice", "fetch", "1") == rig.t("retrieval.fetching", id=1)
    rig.clock.advance(HOUR)
    assert await last(rig, "alice", "fetch", "1") == rig.t("retrieval.expired", id=1)


async def test_deny(rig: Rig) -> None:
    await with_evidence(rig)
    await rig.command("alice", "retrieve", ASK)
    assert await last(rig, "bob", "deny", "1") == rig.t("retrieval.denied", id=1)
    assert await last(rig, "staff", "approve", "1") == rig.t(
        "retrieval.already", id=1, state=rig.t("retrieval.state_denied")
    )
    assert private(rig, "alice") == []


@pytest.mark.parametrize(
    ("command", "args", "key", "fields"),
    [
        ("retrieve", "1 --from 2026-01-05 --reason x", "staff.usage", None),
        ("retrieve", "1 --from soon --to 2026-01-06 --reason x", "staff.usage", None),
        ("retrieve", "1 --from 2026-01-05 --to 2026-01-06", "staff.usage", None),
        ("retrieve", "1 --to 2026-01-06 --reason x", "staff.usage", None),
        ("retrieve", "--from 2026-01-05 --to 2026-01-06 --reason x", "staff.usage", None),
        ("retrieve", "1 --from 2026-01-06 --to 2026-01-05 --reason x", "retrieval.bad_window", {}),
        (
            "retrieve",
            "7 --from 2026-01-05 --to 2026-01-06 --reason x",
            "staff.no_such_case",
            {"case_id": 7},
        ),
        ("approve", "", "staff.usage", {"usage": "/approve R"}),
        ("approve", "42", "retrieval.unknown", {"id": 42}),
    ],
)
async def test_malformed_retrieval_commands_are_refused_clearly(
    rig: Rig, command: str, args: str, key: str, fields: dict[str, object] | None
) -> None:
    await with_evidence(rig)
    answer = await last(rig, "bob", command, args)
    if fields is None:
        assert answer.startswith(rig.t("staff.usage", usage="/retrieve N"))
    else:
        assert answer == rig.t(key, **fields)


async def refuses_missing_and_stale_codes(
    rig: Rig,
    secret: str,
    caplog: pytest.LogCaptureFixture,
    step: Callable[[str], Awaitable[str]],
) -> str:
    """`step` (given a TOTP code, or "" for none) refused twice, without a code and with
    one five minutes old: told, logged and journaled as TOTP refusals. Returns the code of
    now."""
    clock_now = rig.haven.clock.now()
    stale = pyotp.TOTP(secret).at(clock_now - timedelta(minutes=5))
    with caplog.at_level(logging.WARNING, logger="bot.staff.retrieval"):
        assert await step("") == rig.t("retrieval.totp_wrong")
        assert await step(stale) == rig.t("retrieval.totp_wrong")
    logged = [r.getMessage() for r in caplog.records if r.name == "bot.staff.retrieval"]
    # A missing code is the person's slip, not a broken secret for the operator to fix.
    assert logged == ["retrieval step by console:dora refused: TOTP code missing or wrong"] * 2
    assert await refusal_reasons(rig) == ["TOTP", "TOTP"]
    return pyotp.TOTP(secret).at(clock_now)


@pytest.fixture
async def totp_rig(
    tmp_path: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Rig, str]]:
    """A rig where Dora, an admin, has a TOTP secret (given beside it); evidence is in."""
    secret = pyotp.random_base32()
    monkeypatch.setenv("HAVEN_TOTP_DORA", secret)
    rig = await open_rig(tmp_path / "data", clock, DORA)
    try:
        await with_evidence(rig)
        yield rig, secret
    finally:
        await rig.haven.close()


async def test_an_admin_with_totp_approves_only_with_the_current_code(
    totp_rig: tuple[Rig, str], caplog: pytest.LogCaptureFixture
) -> None:
    rig, secret = totp_rig
    await rig.command("alice", "retrieve", ASK)

    async def approve(code: str) -> str:
        return await last(rig, "dora", "approve", f"1 {code}".strip())

    code = await refuses_missing_and_stale_codes(rig, secret, caplog, approve)
    assert (await approve(code)).startswith("🔓")
    assert len(private(rig, "alice")) == 1
    assert [a for a in await actions(rig) if a[1] == "refused"] == [
        ("console:dora", "refused"),
        ("console:dora", "refused"),
    ]


async def test_a_requester_with_totp_asks_only_with_the_current_code(
    totp_rig: tuple[Rig, str], caplog: pytest.LogCaptureFixture
) -> None:
    rig, secret = totp_rig

    async def ask(code: str) -> str:
        return await last(rig, "dora", "retrieve", f"{ASK} --totp {code}" if code else ASK)

    code = await refuses_missing_and_stale_codes(rig, secret, caplog, ask)
    assert (await ask(code)).startswith("🔐 " + "Retrieval #1 asked by Dora")
    assert (await custody_reasons(rig))[-1] == "retrieval #1: police asked for the threats"


async def test_approved_retrievals_not_delivered_before_a_crash_are_delivered_at_start(
    tmp_path: Path, clock: ManualClock
) -> None:
    rig = await open_rig(tmp_path / "data", clock)
    await with_evidence(rig)
    await rig.command("alice", "retrieve", ASK)
    await rig.command("alice", "retrieve", ASK)
    async with rig.haven.db.transaction() as conn:
        for number in (1, 2):
            found = await retrievals.get(conn, number)
            assert found is not None
            await retrievals.move(
                conn, found, retrievals.APPROVED, approved_by="console:bob", approved_at=clock.now()
            )
    await rig.haven.close()
    again = await open_rig(tmp_path / "data", clock)
    try:
        assert await again.haven.staff.retrievals.deliver_approved() == 2
        await again.haven.sender.drain()
        assert len(private(again, "alice")) == 2
    finally:
        await again.haven.close()


ERIN = """
[[staff]]
platform = "console"
user_id = "erin:example.org"
role = "operator"
name = "Erin"
"""


async def test_a_requester_whose_user_id_holds_a_colon_gets_the_bundle_privately(
    tmp_path: Path, clock: ManualClock
) -> None:
    # A web or Matrix identity can have a colon in it; only the first one ends the platform.
    rig = await open_rig(tmp_path / "data", clock, ERIN)
    try:
        await with_evidence(rig)
        await rig.command("erin:example.org", "retrieve", ASK)
        await rig.command("bob", "approve", "1")
        (delivery,) = private(rig, "erin:example.org")
        assert delivery.text == rig.t("retrieval.delivered", id=1, case_id=1, items=1)
    finally:
        await rig.haven.close()


# ---- searching under an approved retrieval ---------------------------------------------


async def approved_for_alice(rig: Rig) -> None:
    await with_evidence(rig)
    await rig.command("alice", "retrieve", ASK)
    await rig.command("bob", "approve", "1")


async def test_a_staff_search_sees_only_the_approved_window_and_is_logged(rig: Rig) -> None:
    await approved_for_alice(rig)
    found = await last(rig, "alice", "search", "1 5000")
    assert found.startswith(rig.t("search.results", count=1)) and "#1" in found
    outside = await last(rig, "alice", "search", "1 warning")  # item 2 lies after 10:00
    assert outside.startswith(rig.t("search.none")) and "#2" not in outside
    wider = await last(rig, "alice", "search", "1 warning before:2026-01-06")
    assert wider == rig.t("search.outside_window")
    async with rig.haven.db.transaction() as conn:
        rows = await custody.for_case(conn, 1)
    searches = [r.event for r in rows if r.event.action == "search"]
    assert [e.actor for e in searches] == ["console:alice"] * 3
    assert all("retrieval 1" in e.reason for e in searches)


async def test_a_staff_search_reads_a_text_file_the_victim_sent(rig: Rig) -> None:
    await triage(rig.victim, extortion="yes")
    chat_log = attachment(
        b"he wrote: send the ransom by Friday", "chat.txt", "document", "text/plain"
    )
    await send_file(rig.victim, chat_log)  # a file: kept in the blob store, not in its row
    await rig.command("alice", "retrieve", ASK)
    await rig.command("bob", "approve", "1")
    found = await last(rig, "alice", "search", "1 ransom")
    assert found.startswith(rig.t("search.results", count=1)) and "chat.txt" in found


async def test_a_staff_search_masks_personal_data_in_snippets(rig: Rig) -> None:
    await triage(rig.victim, extortion="yes")
    origin = ForwardOrigin(kind=OriginKind.USER, sender_name="Zhang San")
    leaked = "转账到 6222 0212 3456 7890 128 不然就发到群里 13812345678"
    await rig.victim._send(InboundKind.FORWARD, text=leaked, forward_origin=origin)
    await rig.command("alice", "retrieve", ASK)
    await rig.command("bob", "approve", "1")
    found = await last(rig, "alice", "search", "1 群里")
    assert "#1" in found
    assert "13812345678" not in found and "5678" in found


async def test_a_staff_search_is_refused_to_others_after_expiry_and_to_auditors(
    rig: Rig,
) -> None:
    await approved_for_alice(rig)
    assert await last(rig, "bob", "search", "1 5000") == rig.t("retrieval.not_yours", id=1)
    refused = await last(rig, "carol", "search", "1 5000")
    assert refused == rig.t("staff.not_allowed", role="auditor", command="/search")
    assert "/search R" in await last(rig, "alice", "search", "1")  # no words: the usage
    rig.clock.advance(25 * HOUR)
    assert await last(rig, "alice", "search", "1 5000") == rig.t("retrieval.expired", id=1)
    logged = [action for _, action in await actions(rig)]
    assert logged.count("refused") == 3  # bob, carol, and the expired one


async def test_an_expired_or_erased_retrievals_plaintext_bundle_is_deleted(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    await approved_for_alice(rig)
    (delivery,) = private(rig, "alice")
    assert delivery.file is not None
    bundle = Path(delivery.file.path)
    assert await asyncio.to_thread(bundle.exists)
    rig.clock.advance(25 * HOUR)
    with caplog.at_level(logging.INFO, logger="bot.staff.retrieval"):
        await rig.command("alice", "cases")  # any staff command sweeps expired bundles
    assert not await asyncio.to_thread(bundle.exists)
    removed = [r.getMessage() for r in caplog.records if r.name == "bot.staff.retrieval"]
    assert removed == [f"removed the bundle of an expired retrieval: {bundle.name}"]


async def test_erasing_a_case_deletes_its_retrieval_bundles(rig: Rig) -> None:
    await approved_for_alice(rig)
    (delivery,) = private(rig, "alice")
    assert delivery.file is not None
    await rig.victim.command("erase")
    await rig.victim.press("yes:1")
    assert not await asyncio.to_thread(Path(delivery.file.path).exists)
    async with rig.haven.db.transaction() as conn:
        query = select(outbox.c.payload).where(outbox.c.chat_id == "alice")
        payloads = (await conn.execute(query)).scalars().all()
    assert payloads == ["{}"], "the delivery is a message of the case: it keeps no text either"


async def test_fetching_a_retrieval_of_an_erased_case_says_why_nothing_comes(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    await approved_for_alice(rig)
    await rig.victim.command("erase")
    await rig.victim.press("yes:1")
    with caplog.at_level(logging.ERROR, logger="bot.staff.retrieval"):
        assert await last(rig, "alice", "fetch", "1") == rig.t("retrieval.fetching", id=1)
    why = "case 1 was erased; its evidence cannot be exported"
    _, failed = private(rig, "alice")
    assert (failed.text, failed.file) == (rig.t("retrieval.failed", id=1, error=why), None)
    errors = [r.getMessage() for r in caplog.records if r.name == "bot.staff.retrieval"]
    assert errors == [f"retrieval 1 could not be built: {why}"], "the operator learns which and why"


async def test_a_bundle_that_cannot_be_built_is_not_counted_as_delivered(rig: Rig) -> None:
    # Approved (as before a crash) but not yet built when the person erases their case.
    await with_evidence(rig)
    await rig.command("alice", "retrieve", ASK)
    async with rig.haven.db.transaction() as conn:
        found = await retrievals.get(conn, 1)
        assert found is not None
        await retrievals.move(
            conn, found, retrievals.APPROVED, approved_by="console:bob", approved_at=rig.clock.now()
        )
    await rig.victim.command("erase")
    await rig.victim.press("yes:1")
    assert await rig.haven.staff.retrievals.deliver_approved() == 0
    await rig.haven.sender.drain()
    (failed,) = private(rig, "alice")
    assert failed.file is None and failed.text.startswith(rig.t("retrieval.failed", id=1, error=""))


async def refusal_reasons(rig: Rig) -> list[str]:
    async with rig.haven.db.transaction() as conn:
        rows = await custody.for_case(conn, 1)
    return [r.event.reason for r in rows if r.event.action == "refused"]


async def test_a_refusal_is_recorded_on_the_case_its_retrieval_number_names(rig: Rig) -> None:
    await with_evidence(rig)
    await rig.command("carol", "retrieve", ASK)  # no retrieval yet: "1" is the case
    await rig.command("alice", "retrieve", ASK)
    await rig.command("alice", "retrieve", ASK)  # retrieval 2, of case 1; there is no case 2
    for command in ("approve", "deny"):
        await rig.command("alice", command, "2")  # an operator decides nothing
    for command, args in (("fetch", "2"), ("search", "2 threats")):
        await rig.command("carol", command, args)  # nor reads an auditor
    refused = await last(rig, "alice", "approve", "99")  # no such retrieval: no case to name
    assert refused == rig.t("staff.not_allowed", role="operator", command="/approve")
    assert await refusal_reasons(rig) == [
        "/retrieve refused: role auditor",
        "/approve refused: role operator",
        "/deny refused: role operator",
        "/fetch refused: role auditor",
        "/search refused: role auditor",
    ]


async def test_an_expired_request_cannot_be_denied_either_and_a_denial_names_who(
    rig: Rig,
) -> None:
    await with_evidence(rig)
    await rig.command("alice", "retrieve", ASK)
    await rig.command("alice", "retrieve", ASK)
    assert await last(rig, "bob", "deny", "2") == rig.t("retrieval.denied", id=2)
    rig.clock.advance(25 * HOUR)
    assert await last(rig, "bob", "deny", "1") == rig.t("retrieval.expired", id=1)
    async with rig.haven.db.transaction() as conn:
        expired, denied = await retrievals.get(conn, 1), await retrievals.get(conn, 2)
    assert expired is not None and expired.state == retrievals.EXPIRED
    assert denied is not None and (denied.state, denied.approved_by) == (
        retrievals.DENIED,
        "console:bob",
    )
    assert "retrieval #1: expired" in await refusal_reasons(rig)


@pytest.mark.parametrize(
    ("secret", "logged"),
    [
        (None, "console:dora has totp_secret_env HAVEN_TOTP_DORA, but it is not set"),
        ("not base32 at all!", "the TOTP secret in HAVEN_TOTP_DORA cannot be used"),
    ],
)
async def test_an_admin_whose_totp_secret_is_unset_or_broken_approves_nothing(
    tmp_path: Path,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    secret: str | None,
    logged: str,
) -> None:
    if secret is None:
        monkeypatch.delenv("HAVEN_TOTP_DORA", raising=False)
    else:
        monkeypatch.setenv("HAVEN_TOTP_DORA", secret)
    rig = await open_rig(tmp_path / "data", clock, DORA)
    try:
        await with_evidence(rig)
        await rig.command("alice", "retrieve", ASK)
        with caplog.at_level(logging.ERROR, logger="bot.staff.retrieval"):
            reply = await last(rig, "dora", "approve", "1 123456")
        assert reply == rig.t("retrieval.totp_wrong")
        assert private(rig, "alice") == []
        errors = [r for r in caplog.records if r.name == "bot.staff.retrieval"]
        assert [r.getMessage() for r in errors if r.levelno >= logging.ERROR] == [logged], (
            "the operator learns which variable to fix"
        )
    finally:
        await rig.haven.close()


async def test_a_totp_code_one_step_old_passes_and_two_steps_old_does_not(
    tmp_path: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = pyotp.random_base32()
    monkeypatch.setenv("HAVEN_TOTP_DORA", secret)
    rig = await open_rig(tmp_path / "data", clock, DORA)
    step = timedelta(seconds=30)  # RFC 6238's time step; one step of clock drift is allowed
    try:
        await with_evidence(rig)
        await rig.command("alice", "retrieve", ASK)
        two_old = pyotp.TOTP(secret).at(clock.now() - 2 * step)
        assert await last(rig, "dora", "approve", f"1 {two_old}") == rig.t("retrieval.totp_wrong")
        one_old = pyotp.TOTP(secret).at(clock.now() - step)
        assert (await last(rig, "dora", "approve", f"1 {one_old}")).startswith("🔓")
    finally:
        await rig.haven.close()


async def test_a_staff_search_reads_every_word_and_answers_a_malformed_one_plainly(
    rig: Rig,
) -> None:
    await approved_for_alice(rig)
    usage = "/search R WORDS [from:NAME] [after:DATE] [before:DATE] [kind:KIND]"
    assert await last(rig, "alice", "search", "1") == rig.t("staff.usage", usage=usage)
    assert await last(rig, "alice", "search", "42 5000") == rig.t("retrieval.unknown", id=42)
    both = await last(rig, "alice", "search", "1 pay 5000 from:Zhang")
    assert both.startswith(rig.t("search.results", count=1)) and "#1" in both
    assert (await last(rig, "alice", "search", "1 zebra 5000")).startswith(rig.t("search.none"))


async def test_each_refusal_says_why_in_the_custody_log(rig: Rig) -> None:
    await with_evidence(rig)
    await rig.command("bob", "retrieve", ASK)
    assert await last(rig, "bob", "fetch", "1") == rig.t(
        "retrieval.already", id=1, state=rig.t("retrieval.state_requested")
    )
    await rig.command("bob", "approve", "1")  # their own request
    await rig.command("staff", "approve", "1")
    await rig.command("alice", "fetch", "1")  # not hers
    rig.clock.advance(25 * HOUR)
    assert await last(rig, "bob", "fetch", "1") == rig.t("retrieval.expired", id=1)
    assert await refusal_reasons(rig) == [
        "retrieval #1: own request",
        "retrieval #1: not requester",
        "retrieval #1: expired",
    ]


async def test_a_staff_search_keeps_to_both_ends_of_the_window_in_local_time(rig: Rig) -> None:
    await with_evidence(rig)
    later = "1 --from 2026-01-05T10:00 --to 2026-01-05T12:00 --reason the second message"
    await rig.command("alice", "retrieve", later)
    await rig.command("bob", "approve", "1")
    before = await last(rig, "alice", "search", "1 5000")  # item 1 came at 09:00
    assert before.startswith(rig.t("search.none")) and "#1" not in before
    found = await last(rig, "alice", "search", "1 warning")
    assert found.startswith(rig.t("search.results", count=1)) and "2026-01-05 11:00" in found
    reversed_dates = await last(
        rig, "alice", "search", "1 warning after:2026-01-06 before:2026-01-05"
    )
    assert reversed_dates == rig.t("search.reversed")
    empty = await last(rig, "alice", "search", "1 warning from:")
    assert empty == rig.t("search.empty_filter", filter="from:")


async def test_a_staff_search_logs_its_retrieval_and_count_but_never_the_words(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    """haven.log is the operator's: a staff search leaves a line naming the retrieval and
    how many items it found, and no line anywhere says what was searched for or what the
    evidence says (the custody log records the search, masked)."""
    await approved_for_alice(rig)
    with caplog.at_level(logging.INFO):
        await rig.command("alice", "search", "1 pay 5000 from:Zhang")
        await rig.command("alice", "search", "1 warning")  # item 2 lies outside the window
    ours = [r for r in caplog.records if r.name == "bot.staff.retrieval"]
    assert [(r.levelno, r.getMessage()) for r in ours] == [
        (logging.INFO, "retrieval 1: a staff search found 1 item(s)"),
        (logging.INFO, "retrieval 1: a staff search found 0 item(s)"),
    ]
    for words in ("pay", "5000", "Zhang", "warning"):
        assert all(words not in r.getMessage() for r in caplog.records), words
