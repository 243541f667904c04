"""Table definitions (SQLAlchemy Core). Migrations in storage/migrations create them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, whatever the engine stores."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        result: datetime = value
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
    Column("not_before", UtcDateTime, nullable=False),
    Column("sent_at", UtcDateTime),
    Column("last_error", Text, nullable=False, server_default=""),
    Column("platform_message_id", String(128), nullable=False, server_default=""),
    Index("outbox_pending", "state", "platform", "id"),
)
