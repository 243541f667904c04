"""What the victim reads about their evidence: a short receipt per item (number, who sent
it and when, kept safely) with the proof behind a "Details" button, and the /evidence
list. The bundle (/export) keeps the proof of every item in full."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.content.prompts import Prompts, Reply
from bot.events import Button
from storage.cases import CaseRecord
from storage.evidence_items import ItemRecord

LIST_LIMIT = 30
"""Items listed by /evidence, newest last: a chat message has room for about this many."""

_TIME = "%Y-%m-%d %H:%M:%S"
_MINUTE = "%Y-%m-%d %H:%M"
_UNITS = ("B", "KB", "MB", "GB")


def human_size(size: int) -> str:
    """``20 MB``, ``1.5 KB``, ``300 B``: binary units, one decimal only below ten."""
    value = float(size)
    for unit in _UNITS:
        if value < 1024 or unit == _UNITS[-1]:
            break
        value /= 1024
    if unit == "B":
        return f"{size} B"
    shown = f"{value:.1f}".removesuffix(".0") if value < 10 else f"{value:.0f}"
    return f"{shown} {unit}"


DETAILS = "evd:"  # + case:first-last: the proof behind a short receipt


@dataclass(frozen=True)
class DetailsAsked:
    case_id: int
    first: int
    last: int


def details_asked(data: str) -> DetailsAsked | None:
    """The items a "Details" button is about; None for any other button."""
    if not data.startswith(DETAILS):
        return None
    case, _, span = data.removeprefix(DETAILS).partition(":")
    first, _, last = span.partition("-")
    if not (case.isdigit() and first.isdigit() and last.isdigit()):
        return None
    return DetailsAsked(int(case), int(first), int(last))


class Receipts:
    def __init__(self, prompts: Prompts, tz: ZoneInfo) -> None:
        self.prompts = prompts
        self.tz = tz

    def receipt(self, case: CaseRecord, item: ItemRecord) -> Reply:
        """The short receipt of ``item``: its number, who sent it and when, kept safely;
        the proof is one tap away ("Details")."""
        text = self.prompts.t(
            case, "evidence.receipt", item_no=item.item_no, described=self.described(case, item)
        )
        return Reply(text, self._details_button(case, item.item_no, item.item_no))

    def batch(self, case: CaseRecord, items: Sequence[ItemRecord]) -> Reply:
        """One short receipt for items that arrived together."""
        first, last = items[0], items[-1]
        lines = [
            self.prompts.t(
                case,
                "evidence.batch_header",
                count=len(items),
                first=first.item_no,
                last=last.item_no,
            )
        ]
        lines.extend(
            self.prompts.t(
                case,
                "evidence.batch_line",
                item_no=item.item_no,
                described=self.described(case, item),
            )
            for item in items
        )
        return Reply("\n".join(lines), self._details_button(case, first.item_no, last.item_no))

    def described(self, case: CaseRecord, item: ItemRecord) -> str:
        """ "message from Zhang San, sent 2025-11-03 14:30", or when Haven received it."""
        kind = self.prompts.t(case, f"evidence.kind.{item.kind}")
        origin = item.origin
        sender = (
            (origin.sender_name or origin.chat_title or origin.author_signature) if origin else ""
        )
        sent = self._short(item.original_date) if item.original_date else ""
        received = self._short(item.received_at)
        key = "evidence.described" + ("_from" if sender else "") + ("_sent" if sent else "")
        return self.prompts.t(case, key, kind=kind, sender=sender, sent=sent, received=received)

    def details(self, case: CaseRecord, kept: Sequence[tuple[ItemRecord, bytes]]) -> str:
        """The proof behind a receipt: received time, fingerprints, log positions and the
        log's root; ``kept`` is in log order, each with the root right after its leaf."""
        if len(kept) == 1:
            item, root = kept[0]
            return self.prompts.t(
                case,
                "evidence.details",
                item_no=item.item_no,
                received_utc=item.received_at.strftime(_TIME),
                received_local=self._local(item.received_at),
                timezone=self.tz.key,
                digest=item.content_sha256,
                log_index=item.leaf_index,
                tree_size=item.leaf_index + 1,
                root=root.hex(),
            )
        first, last = kept[0][0], kept[-1][0]
        lines = [
            self.prompts.t(
                case,
                "evidence.details_batch_header",
                first=first.item_no,
                last=last.item_no,
                received_utc=first.received_at.strftime(_TIME),
                received_local=self._local(first.received_at),
                timezone=self.tz.key,
            )
        ]
        for item, _ in kept:
            kind = self.prompts.t(case, f"evidence.kind.{item.kind}")
            lines.append(
                self.prompts.t(
                    case,
                    "evidence.details_batch_item",
                    item_no=item.item_no,
                    kind=kind,
                    digest=item.content_sha256,
                    log_index=item.leaf_index,
                )
            )
        footer = self.prompts.t(
            case,
            "evidence.details_batch_footer",
            tree_size=last.leaf_index + 1,
            root=kept[-1][1].hex(),
        )
        return "\n".join([*lines, footer])

    def _details_button(
        self, case: CaseRecord, first: int, last: int
    ) -> tuple[tuple[Button, ...], ...]:
        label = self.prompts.t(case, "evidence.btn_details")
        return ((Button(label, f"{DETAILS}{case.id}:{first}-{last}"),),)

    def listing(
        self,
        case: CaseRecord,
        items: Sequence[ItemRecord],
        contradicted: Mapping[int, tuple[str, ...]] | None = None,
    ) -> str:
        """The list; an item in ``contradicted`` is named only, with no value of its row."""
        contradicted = contradicted or {}
        if not items:
            return self.prompts.t(case, "evidence.list_empty")
        total = sum(item.size for item in items)
        lines = [
            self.prompts.t(case, "evidence.list_header", count=len(items), total=human_size(total))
        ]
        hidden = len(items) - LIST_LIMIT
        if hidden > 0:
            lines.append(self.prompts.t(case, "evidence.list_more", count=hidden))
        lines.extend(
            self.prompts.t(case, "evidence.list_contradicted", item_no=item.item_no)
            if item.item_no in contradicted
            else self._line(case, item)
            for item in items[-LIST_LIMIT:]
        )
        return "\n".join(lines)

    def _line(self, case: CaseRecord, item: ItemRecord) -> str:
        # A forwarded message is stored as message.txt: that name tells the person nothing.
        named = item.file_name and item.kind != "text"
        key = "evidence.list_item_named" if named else "evidence.list_item"
        return self.prompts.t(
            case,
            key,
            item_no=item.item_no,
            described=self.described(case, item),
            size=human_size(item.size),
            name=item.file_name,
        )

    def _local(self, moment: datetime) -> str:
        return moment.astimezone(self.tz).strftime(_TIME)

    def _short(self, moment: datetime) -> str:
        return moment.astimezone(self.tz).strftime(_MINUTE)
