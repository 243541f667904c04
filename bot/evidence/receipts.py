"""What the victim reads about their evidence: a receipt per item, and the /evidence list."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.content.prompts import Prompts
from storage.cases import CaseRecord
from storage.evidence_items import ItemRecord

LIST_LIMIT = 30
"""Items listed by /evidence, newest last: a chat message has room for about this many."""

_TIME = "%Y-%m-%d %H:%M:%S"
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


class Receipts:
    def __init__(self, prompts: Prompts, tz: ZoneInfo) -> None:
        self.prompts = prompts
        self.tz = tz

    def receipt(self, case: CaseRecord, item: ItemRecord, root: bytes) -> str:
        """The receipt of ``item``; ``root`` is the log's root right after its leaf."""
        return self.prompts.t(
            case,
            "evidence.receipt",
            item_no=item.item_no,
            received_utc=item.received_at.strftime(_TIME),
            received_local=self._local(item.received_at),
            timezone=self.tz.key,
            digest=item.content_sha256,
            log_index=item.leaf_index,
            tree_size=item.leaf_index + 1,
            root=root.hex(),
        )

    def batch(self, case: CaseRecord, kept: Sequence[tuple[ItemRecord, bytes]]) -> str:
        """One receipt for items that arrived together; ``kept`` is in log order, each
        with the root right after its leaf."""
        first, last = kept[0][0], kept[-1][0]
        lines = [
            self.prompts.t(
                case,
                "evidence.batch_header",
                count=len(kept),
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
                    "evidence.batch_item",
                    item_no=item.item_no,
                    kind=kind,
                    digest=item.content_sha256,
                    log_index=item.leaf_index,
                )
            )
        root = kept[-1][1]
        footer = self.prompts.t(
            case, "evidence.batch_footer", tree_size=last.leaf_index + 1, root=root.hex()
        )
        return "\n".join([*lines, footer])

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
        return self.prompts.t(
            case,
            "evidence.list_item",
            item_no=item.item_no,
            kind=self.prompts.t(case, f"evidence.kind.{item.kind}"),
            size=human_size(item.size),
            received_local=self._local(item.received_at),
            name=item.file_name,
            digest_short=item.content_sha256[:12],
        )

    def _local(self, moment: datetime) -> str:
        return moment.astimezone(self.tz).strftime(_TIME)
