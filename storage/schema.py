"""Table definitions (SQLAlchemy Core). Migrations in storage/migrations create them."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.types import TypeDecorator, TypeEngine


@functools.lru_cache(maxsize=1024)
def _sqlite_text(value: datetime) -> str:
    """How SQLite stores an aware datetime. Kept for the moments bound again: a turn
    binds its own time many times over. Equal aware datetimes are the same instant, so
    they are the same text whatever their time zones."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, whatever the engine stores.

    SQLite has no date type: SQLAlchemy's DATETIME writes text with a format string and
    reads it back with a regular expression. The same text
    (``2026-11-23 08:30:15.123456``) is written and read here with datetime's own methods,
    several times faster; a victim's message binds about fourteen of them.
    """

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String())
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | str | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        if dialect.name == "sqlite":
            return _sqlite_text(value)
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        result: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
        return result.replace(tzinfo=UTC)


metadata = MetaData()

cases = Table(
    "cases",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("platform", String(32), nullable=False),
    Column("user_id", String(128), nullable=False),
    Column("chat_id", String(128), nullable=False),
    Column("status", String(16), nullable=False),
    Column("phase", String(16), nullable=False),
    Column("locale", String(16), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("reasons", Text, nullable=False, server_default="[]"),
    Column("alerted_reasons", Text, nullable=False, server_default="[]"),
    Column("question_id", String(64), nullable=False, server_default=""),
    Column("changing", String(64), nullable=False, server_default=""),
    Column("pending_multi", Text, nullable=False, server_default="[]"),
    Column("step", Integer, nullable=False, server_default="0"),
    Column("prompt_seq", Integer, nullable=False, server_default="0"),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("closed_at", UtcDateTime),
    Column("language_offered", String(16), nullable=False, server_default=""),
    # The danger signal Haven asked the person about directly, until they answer.
    Column("asking", String(32), nullable=False, server_default=""),
    # When the person last said no to each signal's direct question: {"self_harm": iso}.
    Column("said_no", Text, nullable=False, server_default="{}"),
    Index(
        "one_open_case_per_victim",
        "platform",
        "user_id",
        unique=True,
        sqlite_where=text("status != 'closed'"),
        postgresql_where=text("status != 'closed'"),
    ),
)

answers = Table(
    "answers",
    metadata,
    Column("case_id", Integer, ForeignKey("cases.id"), primary_key=True),
    Column("question_id", String(64), primary_key=True),
    Column("value", Text, nullable=False),
    Column("answered_at", UtcDateTime, nullable=False),
)

checklist = Table(
    "checklist",
    metadata,
    Column("case_id", Integer, ForeignKey("cases.id"), primary_key=True),
    Column("item_id", String(64), primary_key=True),
    Column("step", Integer, nullable=False),
    Column("position", Integer, nullable=False),
    Column("state", String(16), nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

message_log = Table(
    "message_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", Integer, ForeignKey("cases.id")),
    Column("platform", String(32), nullable=False),
    Column("chat_id", String(128), nullable=False),
    Column("direction", String(8), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("platform_message_id", String(128), nullable=False, server_default=""),
    Column("created_at", UtcDateTime, nullable=False),
    Index(
        "inbound_once",
        "platform",
        "chat_id",
        "platform_message_id",
        unique=True,
        sqlite_where=text("direction = 'in' AND platform_message_id != ''"),
        postgresql_where=text("direction = 'in' AND platform_message_id != ''"),
    ),
)

# ---- the evidence vault (migration 0002) ------------------------------------------------

# The append-only log. A leaf's data is canonical JSON (storage/leaves.py); its hash is
# kept once, as the level-0 node, so proofs read every level the same way.
ledger_leaves = Table(
    "ledger_leaves",
    metadata,
    Column("leaf_index", Integer, primary_key=True, autoincrement=False),
    Column("kind", String(16), nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

# Perfect subtree hashes only (storage/merkle.py): written once, never updated.
ledger_nodes = Table(
    "ledger_nodes",
    metadata,
    Column("level", Integer, primary_key=True, autoincrement=False),
    Column("node_index", Integer, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary, nullable=False),
    sqlite_with_rowid=False,
)

tree_heads = Table(
    "tree_heads",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tree_size", Integer, nullable=False),
    Column("timestamp_ms", BigInteger, nullable=False),
    Column("root", LargeBinary, nullable=False),
    Column("signature", LargeBinary, nullable=False),
    # The same head as a signed C2SP checkpoint note; NULL for heads signed before 0011.
    Column("checkpoint", Text),
    Index("tree_heads_by_size", "tree_size"),
)

# An RFC 3161 timestamp of a signed head, one row per time-stamping authority: written
# with the head, the token filled in once the authority answers (retried until then).
head_timestamps = Table(
    "head_timestamps",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("head_id", Integer, ForeignKey("tree_heads.id"), nullable=False),
    Column("tsa_url", String(512), nullable=False),
    Column("token", LargeBinary),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_at", UtcDateTime, nullable=False),
    Column("last_error", String(200), nullable=False, server_default=""),
    Column("created_at", UtcDateTime, nullable=False),
    Column("stamped_at", UtcDateTime),
    UniqueConstraint("head_id", "tsa_url", name="one_timestamp_per_head_and_tsa"),
    Index("head_timestamps_waiting", "stamped_at", "next_at"),
)

# A case's data key, wrapped by the master key; NULL once erased (crypto-shredding).
case_keys = Table(
    "case_keys",
    metadata,
    Column("case_id", Integer, ForeignKey("cases.id"), primary_key=True, autoincrement=False),
    Column("wrapped_key", LargeBinary),
    Column("master_key_id", String(16), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("erased_at", UtcDateTime),
)

evidence_items = Table(
    "evidence_items",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False),
    Column("item_no", Integer, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("origin_kind", String(16), nullable=False, server_default=""),
    Column("origin_sender", Text, nullable=False, server_default=""),
    Column("origin_sender_id", String(128), nullable=False, server_default=""),
    Column("origin_chat", Text, nullable=False, server_default=""),
    Column("origin_message_id", String(128), nullable=False, server_default=""),
    Column("origin_signature", Text, nullable=False, server_default=""),
    Column("origin_link", Text, nullable=False, server_default=""),
    Column("original_date", UtcDateTime),
    Column("received_at", UtcDateTime, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("mime_type", String(128), nullable=False),
    Column("file_name", String(255), nullable=False),
    Column("content_sha256", String(64), nullable=False),
    Column("content_commitment", String(64), nullable=False),
    # How content_commitment was made (storage/leaves.py): 1 before migration 0022.
    Column("commitment_scheme", SmallInteger, nullable=False, server_default="1"),
    Column("origin_commitment", String(64), nullable=False, server_default=""),
    # Ciphertext lives in the blob store (files) or inline (forwarded texts), never both.
    Column("blob", String(64)),
    Column("sealed", LargeBinary),
    Column("leaf_index", Integer, ForeignKey("ledger_leaves.leaf_index"), nullable=False),
    # The platform message that carried the item, so an edit or deletion of that message
    # can be linked to it (migration 0004); "" where the platform gave none.
    Column("source_message_id", String(128), nullable=False, server_default=""),
    # The item an edited message replaces: the edit is a new item, the first one stays.
    Column("edit_of", Integer),
    # The case's bytes kept with this item, so a new item's quota check reads one row
    # rather than summing the case (migration 0008). Not part of the leaf.
    Column("case_bytes", BigInteger, nullable=False),
    UniqueConstraint("case_id", "item_no", name="evidence_item_no"),
    UniqueConstraint("leaf_index", name="evidence_leaf"),
    # One copy of the same bytes per case: a second forward gets the earlier receipt.
    Index("evidence_by_content", "case_id", "content_sha256", unique=True),
    Index("evidence_by_source_message", "case_id", "source_message_id"),
)

custody_events = Table(
    "custody_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", Integer, ForeignKey("cases.id")),
    Column("item_no", Integer),
    Column("actor", String(160), nullable=False),
    Column("action", String(32), nullable=False),
    Column("reason", Text, nullable=False, server_default=""),
    Column("at", UtcDateTime, nullable=False),
    Column("leaf_index", Integer, ForeignKey("ledger_leaves.leaf_index"), nullable=False),
    UniqueConstraint("leaf_index", name="custody_leaf"),
    Index("custody_by_case", "case_id", "id"),
)

holds = Table(
    "holds",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False),
    Column("reason", Text, nullable=False),
    Column("held_by", String(160), nullable=False),
    Column("held_at", UtcDateTime, nullable=False),
    Column("released_by", String(160), nullable=False, server_default=""),
    Column("released_at", UtcDateTime),
    Index(
        "one_active_hold_per_case",
        "case_id",
        unique=True,
        sqlite_where=text("released_at IS NULL"),
        postgresql_where=text("released_at IS NULL"),
    ),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("platform", String(32), nullable=False),
    Column("chat_id", String(128), nullable=False),
    Column("payload", Text, nullable=False),
    Column("state", String(16), nullable=False, server_default="pending"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("case_id", Integer, ForeignKey("cases.id")),
    Column("created_at", UtcDateTime, nullable=False),
    # Set only while a retry waits. A fresh row has none, so a clock set back never
    # holds new messages until it catches up again.
    Column("not_before", UtcDateTime),
    Column("sent_at", UtcDateTime),
    Column("last_error", Text, nullable=False, server_default=""),
    Column("platform_message_id", String(128), nullable=False, server_default=""),
    Column("dead_at", UtcDateTime),
    Index("outbox_pending", "state", "platform", "id"),
    # A staff member's reply names the message it answers by the platform's id: this
    # finds that message's case (migration 0012).
    Index("outbox_by_platform_message", "platform", "chat_id", "platform_message_id"),
    # Finds the head of each chat's queue, so one chat's order holds across retries.
    Index("outbox_chat_order", "platform", "chat_id", "state", "id"),
)

# ---- reminders (migration 0003) -----------------------------------------------------------

# One row per reminder: the database, not the in-process timer, is the source of truth.
# remind_at is when the victim wants to hear of it (the deadline, or a snooze); fire_at is
# when it is sent (remind_at moved out of quiet hours). `rounds` counts how often it fired,
# so a button from an earlier copy of the message can be told apart.
reminders = Table(
    "reminders",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False),
    Column("item_id", String(64), nullable=False),
    Column("follow_up", Integer, nullable=False),
    Column("mode", String(16), nullable=False),
    Column("urgent", Boolean, nullable=False),
    Column("state", String(16), nullable=False, server_default="pending"),
    Column("remind_at", UtcDateTime, nullable=False),
    Column("fire_at", UtcDateTime, nullable=False),
    Column("rounds", Integer, nullable=False, server_default="0"),
    Column("fired_at", UtcDateTime),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("case_id", "item_id", "follow_up", name="one_reminder_per_follow_up"),
    Index("reminders_due", "state", "fire_at"),
)

# A victim's own reminder settings, per person, so they hold across all their cases.
reminder_prefs = Table(
    "reminder_prefs",
    metadata,
    Column("platform", String(32), primary_key=True),
    Column("user_id", String(128), primary_key=True),
    Column("quiet_hours", Boolean, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

# One row per direct question about a danger signal ("are you thinking about ending your
# life?"): `waiting` until the person answers (`answered`) or `alert_at` passes, when the
# staff get a lower-priority alert (`alerted`). Like reminders, the row is the timer's
# source of truth, so the alert survives a restart.
signal_checks = Table(
    "signal_checks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False),
    Column("signal", String(32), nullable=False),
    Column("state", String(16), nullable=False),
    Column("asked_at", UtcDateTime, nullable=False),
    Column("alert_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("signal_checks_due", "state", "alert_at"),
    Index("signal_checks_of_case", "case_id", "state"),
)

# ---- the staff side (migration 0006) ------------------------------------------------------

# One row per escalation of a case: open until someone acknowledges it (or the case is
# resolved). `next_at` is when the next step falls due (the next level, or a repeat at the
# last one); like reminders, the row is the timer's source of truth and a step is claimed
# with a conditional UPDATE on (state, level, rounds).
escalations = Table(
    "escalations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False),
    Column("state", String(16), nullable=False),
    Column("level", Integer, nullable=False, server_default="0"),
    Column("rounds", Integer, nullable=False, server_default="1"),
    Column("reasons", Text, nullable=False, server_default="[]"),
    Column("next_at", UtcDateTime),
    Column("opened_at", UtcDateTime, nullable=False),
    Column("closed_by", String(160), nullable=False, server_default=""),
    Column("closed_at", UtcDateTime),
    Column("updated_at", UtcDateTime, nullable=False),
    Index(
        "one_open_escalation_per_case",
        "case_id",
        unique=True,
        sqlite_where=text("state = 'open'"),
        postgresql_where=text("state = 'open'"),
    ),
    Index("escalations_due", "state", "next_at"),
)

# Every alert message an escalation posted, so acknowledging can edit each of them. No
# foreign key to the outbox: erasing a case deletes its unsent rows.
escalation_alerts = Table(
    "escalation_alerts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("escalation_id", Integer, ForeignKey("escalations.id"), nullable=False),
    Column("level", Integer, nullable=False),
    Column("outbox_id", Integer, nullable=False),
    Column("platform", String(32), nullable=False),
    Column("chat_id", String(128), nullable=False),
    Column("text", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Index("alerts_of_escalation", "escalation_id"),
)

# Who works a case on the staff side, and whether the staff consider it resolved.
# Staff are named as "platform:user_id".
case_handling = Table(
    "case_handling",
    metadata,
    Column("case_id", Integer, ForeignKey("cases.id"), primary_key=True, autoincrement=False),
    Column("assignee", String(160), nullable=False, server_default=""),
    Column("assigned_by", String(160), nullable=False, server_default=""),
    Column("assigned_at", UtcDateTime),
    Column("resolved_by", String(160), nullable=False, server_default=""),
    Column("resolved_at", UtcDateTime),
)

# Internal notes; each is also a custody event whose reason commits to the note's hash.
staff_notes = Table(
    "staff_notes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False),
    Column("author", String(160), nullable=False),
    Column("text", Text, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("leaf_index", Integer, ForeignKey("ledger_leaves.leaf_index"), nullable=False),
    Index("notes_by_case", "case_id", "id"),
)

# Four-eyes access to a victim's evidence: requested by one staff member, approved by an
# admin who is someone else, limited to one case and a window of event times (the original
# date, else the time received), expiring.
retrievals = Table(
    "retrievals",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False),
    Column("requester", String(160), nullable=False),
    Column("window_start", UtcDateTime, nullable=False),
    Column("window_end", UtcDateTime, nullable=False),
    Column("reason", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("requested_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("approved_by", String(160), nullable=False, server_default=""),
    Column("approved_at", UtcDateTime),
    Column("delivered_at", UtcDateTime),
)

# One row per scheduled daily briefing: the next one is a pending row, so a briefing that
# fell due while Haven was down is found (and posted once, late) at the next start.
briefings = Table(
    "briefings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("due_at", UtcDateTime, nullable=False),
    Column("state", String(16), nullable=False, server_default="pending"),
    Column("posted_at", UtcDateTime),
    Column("late", Boolean, nullable=False),
    UniqueConstraint("due_at", name="one_briefing_per_moment"),
)

# Victims who asked for a short daily note on their case's progress (when offered).
progress_optins = Table(
    "progress_optins",
    metadata,
    Column("platform", String(32), primary_key=True),
    Column("user_id", String(128), primary_key=True),
    Column("opted_in", Boolean, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

# What the briefing counts, by time, without reading every row.
Index("evidence_by_received", evidence_items.c.received_at)
Index("reminders_by_fired", reminders.c.fired_at)
Index("reminders_open_by_time", reminders.c.state, reminders.c.remind_at)
Index("cases_by_created", cases.c.created_at)

# ---- the victim's own notes for the timeline (migration 0005) -----------------------------

# A note is the victim's account ("saw it in the company group at 15:30"), sealed with the
# case's data key like evidence, so erasing the case shreds it too. happened_at is the
# time the victim gave (None: no time given, the note stands at written_at); basis says
# how precise it is; items lists the evidence item numbers the note refers to (JSON).
case_notes = Table(
    "case_notes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False),
    Column("note_no", Integer, nullable=False),
    Column("written_at", UtcDateTime, nullable=False),
    Column("happened_at", UtcDateTime),
    Column("basis", String(16), nullable=False),
    Column("items", Text, nullable=False, server_default="[]"),
    Column("sealed", LargeBinary, nullable=False),
    UniqueConstraint("case_id", "note_no", name="case_note_no"),
)

# ---- the web chat (migration 0009_web_chat) -------------------------------------------------

# A person on the web chat has no account: a chat is known by a random id, found again
# with a recovery code whose SHA-256 is all that is kept (the code has 100 random bits,
# so the hash cannot be searched backwards). `passphrase` is an optional scrypt hash;
# `epoch` goes up when the person locks the chat, which ends every session signed before.
web_chats = Table(
    "web_chats",
    metadata,
    Column("chat_id", String(64), primary_key=True),
    Column("code_hash", LargeBinary(32), nullable=False, unique=True),
    Column("passphrase", Text, nullable=False, server_default=""),
    Column("epoch", Integer, nullable=False, server_default="0"),
    Column("created_at", UtcDateTime, nullable=False),
)

# What Haven said to a web chat: delivering to the web is writing it here. The page reads
# on from the last id it showed, so a message sent while nobody was connected appears on
# the next visit, and a reloaded page or another device shows the conversation again.
# Erasing the case deletes these rows.
web_mailbox = Table(
    "web_mailbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("chat_id", String(64), ForeignKey("web_chats.chat_id"), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Index("web_mailbox_by_chat", "chat_id", "id"),
)

# A browser's Web Push subscription for a web chat (migration 0020_web_push): where its
# push service takes notifications (`endpoint`, an https URL) and the keys they are
# encrypted to. Personal data: never logged, deleted when the case is erased or when the
# push service says the subscription is gone. `due_at` is set, in the transaction that
# posts a message while no page of the chat is open, to say a notification is owed; a
# sender claims it by moving it a lease ahead, and clears it once the push service took
# the notification (or moves it on, with `attempts` counted, to try again later).
web_push_subscriptions = Table(
    "web_push_subscriptions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("chat_id", String(64), ForeignKey("web_chats.chat_id"), nullable=False),
    Column("endpoint", String(1024), nullable=False),
    Column("p256dh", String(128), nullable=False),
    Column("auth", String(64), nullable=False),
    Column("locale", String(8), nullable=False),
    Column("due_at", UtcDateTime, nullable=True),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("chat_id", "endpoint", name="web_push_one_per_browser"),
    Index("web_push_due", "due_at"),
)

# ---- blobs in the database, for PostgreSQL deployments (migration 0010) -----------------

# With PostgreSQL, instances on different hosts share nothing but the database, so the
# sealed files live here (storage/blob_chunks.py): a blob is its chunks, in order, and a
# head row written last, all in the transaction of the item naming it. SQLite deployments
# keep files (storage/blobs.py) and leave these tables empty.
blob_heads = Table(
    "blob_heads",
    metadata,
    Column("address", String(64), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("chunks", Integer, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

blob_chunks = Table(
    "blob_chunks",
    metadata,
    Column("address", String(64), primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("data", LargeBinary, nullable=False),
)

# ---- a staff member talking with the victim (migration 0012) -------------------------------

# One row per conversation: open while a staff member holds the case's conversation.
# answer_due_at is set when the victim writes and nobody has answered since: when it
# passes, the victim is told and the team alerted again (the row is the timer's truth,
# as escalations are). One open conversation per case, whoever tries to take it at once.
talks = Table(
    "talks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False),
    Column("staff", String(160), nullable=False),
    Column("display_name", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("opened_at", UtcDateTime, nullable=False),
    Column("waiting_since", UtcDateTime),
    Column("answer_due_at", UtcDateTime),
    Column("ended_at", UtcDateTime),
    Column("ended_by", String(160), nullable=False, server_default=""),
    Index(
        "one_open_talk_per_case",
        "case_id",
        unique=True,
        sqlite_where=text("state = 'open'"),
        postgresql_where=text("state = 'open'"),
    ),
    Index("talks_due", "state", "answer_due_at"),
    Index("talks_by_staff", "staff", "state"),
)

# What was said in a conversation, both ways, sealed with the case's data key like the
# victim's notes (erasing the case shreds it). A staff message is also a custody event
# whose reason commits to the text's hash; the victim's words are not put in the log.
talk_messages = Table(
    "talk_messages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False),
    Column("talk_id", Integer, ForeignKey("talks.id"), nullable=False),
    Column("message_no", Integer, nullable=False),
    Column("author", String(160), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("sealed", LargeBinary, nullable=False),
    Column("leaf_index", Integer, ForeignKey("ledger_leaves.leaf_index")),
    UniqueConstraint("case_id", "message_no", name="talk_message_no"),
)

# The name a staff member chose to be shown to victims (/name), over `display_name` in
# [[staff]]; staff are named as "platform:user_id".
staff_names = Table(
    "staff_names",
    metadata,
    Column("actor", String(160), primary_key=True),
    Column("display_name", String(64), nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

# ---- the intake journal (migrations 0014, 0021) ------------------------------------------

# Inbound evidence events, written before their files are downloaded (and, on Telegram,
# before the update is confirmed): deleted in the transaction that records the event as
# handled, replayed at start while still here. The event (forwarded text, file ids,
# origin) is sealed with the master key, bound to its row's platform, chat and message.
intake_journal = Table(
    "intake_journal",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("platform", String(32), nullable=False),
    Column("chat_id", String(128), nullable=False),
    Column("message_id", String(128), nullable=False),
    Column("master_key_id", String(16), nullable=False),
    Column("sealed", LargeBinary, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("received_at", UtcDateTime, nullable=False),
    # The instance that journaled it (its coordination identity); None on SQLite.
    Column("owner", String(64)),
    UniqueConstraint("platform", "chat_id", "message_id", name="intake_journal_once"),
)
