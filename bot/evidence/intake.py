"""Evidence intake: a forwarded message or a file becomes sealed, logged evidence.

An intake has two halves, so that nothing slow happens while the database is locked:

1. ``receive`` (no lock): download each attachment, refuse what is over the per-item
   limit (by its declared size before downloading, by its real size after) and draw the
   item's random 32-byte salt. Then each file is sealed ahead: a short transaction reads
   the number it is expected to get and the case's data key, and the file is sealed
   under that item id and its blob addressed in one pass over its bytes
   (storage/sealed_files.py), while another thread hashes it for its receipt; the blob
   is written and fsynced (the file store) or
   kept for the transaction (PostgreSQL), with no lock held — so a large file's
   encryption and fsync never keep other victims waiting, and several victims' files are
   written at once. What is not sealed ahead (texts, a case's first file, which makes
   the key) is hashed there. The log's commitment is derived from the receipt's hash
   (scheme 2, storage/leaves.py): no second pass.
2. ``keep`` (inside the dispatcher's transaction): recognise a duplicate, check the
   case's total, seal ``salt || content`` with the case's data key bound to the item id
   (or take the file sealed ahead, if the item got exactly the number and key it was
   sealed for), write the blob (fsynced before the row naming it commits), append the
   evidence leaf, insert the item row and the custody event, and queue the receipt — all
   in the one transaction, so the receipt exists if and only if everything it vouches
   for does.

A number is expected before the file is hashed, so as if no file were a duplicate;
a message already kept (a redelivery) is not sealed ahead at all. A blob sealed ahead
for a number the item did not get (another message of the same victim was kept in
between, or an earlier file of the message was a duplicate) or for an item not kept
(a duplicate) is deleted once the message is kept. A
transaction that fails after writing a blob leaves it behind, as before: ciphertext under
the case's key that no row names.

What a victim sends is kept byte for byte: a forwarded text is not cleaned or trimmed,
since the exact bytes are the evidence. What only describes it — file names, MIME types,
origin names — is untrusted and is sanitised before it is stored.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import mimetypes
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.adapter import DeliveryError, FileTooLarge
from bot.clock import Clock, SystemClock
from bot.content.prompts import Prompts, Reply
from bot.conversation.flow import Turn
from bot.conversation.inputs import clean_text
from bot.events import Attachment, ForwardOrigin, Inbound, InboundKind
from bot.evidence.filenames import sanitise_filename
from bot.evidence.receipts import LIST_LIMIT, DetailsAsked, Receipts, human_size
from bot.evidence.vetting import ALERT_REASON, Contradicted, contradicted
from storage import before_commit, case_keys, cases, custody, evidence_items, ledger
from storage.blobs import BlobError, Blobs, Sink
from storage.case_keys import CaseKeyErased, CaseKeyError
from storage.database import Database
from storage.evidence_items import ItemRecord, Usage
from storage.evidence_search import Scope, dated
from storage.keys import KeyRing
from storage.leaves import (
    COMMITMENT_CONTENT_HASH,
    SALT_SIZE,
    CustodyEvent,
    LeafKind,
    Origin,
    hash_commitment,
    item_id,
)
from storage.offload import offload
from storage.sealed_files import SealedFile, seal_file, seal_file_into
from storage.vault import seal

log = logging.getLogger(__name__)

TEXT_KIND = "text"
FILE_KINDS = frozenset({"photo", "document", "voice", "video", "audio"})
OTHER_KIND = "file"
TEXT_MIME = "text/plain; charset=utf-8"
OPAQUE_MIME = "application/octet-stream"
TEXT_NAME = "message.txt"
DELETED_ON_PLATFORM = "deleted_on_platform"

_MIME = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,62}/[a-z0-9][a-z0-9!#$&^_.+-]{0,62}")
# A download that fails for a passing reason (network, 5xx) is tried this many times in
# all, waiting this long before each retry; then the person is told it could not be
# fetched and asked to send it again.
FETCH_RETRY_WAITS = (1.0, 4.0)
_ORIGIN_ID_CHARS = 128  # origin ids are stored in 128-character columns
_ORIGIN_TEXT_CHARS = 512


@dataclass(frozen=True)
class EvidenceSettings:
    max_item_bytes: int
    max_case_bytes: int


@dataclass(frozen=True)
class SealedAhead:
    """A file sealed before the transaction, for one case, item and key: its blob is
    in the store already (``stored``), or is ``sealed`` to be written with its item."""

    case_id: int
    item_no: int
    key: bytes = field(repr=False)
    blob: str
    stored: bool
    sealed: bytearray | None = field(default=None, repr=False)

    def fits(self, case_id: int, item_no: int, key: bytes) -> bool:
        return (self.case_id, self.item_no, self.key) == (case_id, item_no, key)


@dataclass(frozen=True)
class Fetched:
    """One item's bytes, what describes them and its salt, before they are hashed."""

    kind: str
    content: bytes
    mime_type: str
    file_name: str
    origin: Origin | None
    original_date: datetime | None
    salt: bytes = field(repr=False)


@dataclass(frozen=True)
class Received:
    """One item's bytes, fetched and fingerprinted before the write lock is taken."""

    kind: str
    content: bytes
    mime_type: str
    file_name: str
    origin: Origin | None
    original_date: datetime | None
    sha256: str
    salt: bytes
    commitment: str
    source_message_id: str = ""
    edit_of: int | None = None
    sealed_ahead: SealedAhead | None = None


@dataclass(frozen=True)
class Refused:
    """An item turned away before anything of it was stored."""

    reason: Literal["too_large", "fetch_failed"]
    size: int = 0
    limit: int = 0  # the platform's download limit, when it is lower than Haven's own


class Evidence:
    def __init__(
        self,
        db: Database,
        prompts: Prompts,
        receipts: Receipts,
        blobs: Blobs,
        ring: KeyRing,
        settings: EvidenceSettings,
        clock: Clock | None = None,
    ) -> None:
        self.clock = clock or SystemClock()
        self.db = db
        self.prompts = prompts
        self.receipts = receipts
        self.blobs = blobs
        self.ring = ring
        self.settings = settings

    # ---- before the transaction ----------------------------------------------------------

    async def receive(self, inbound: Inbound) -> tuple[Received | Refused, ...]:
        """Every item of a forward or upload: its text, then each attachment."""
        origin, original_date = _origin(inbound.forward_origin)
        items: list[Fetched | Refused] = []
        if inbound.text:
            content = inbound.text.encode("utf-8")
            items.append(
                self._fetched(content, TEXT_KIND, TEXT_MIME, TEXT_NAME, origin, original_date)
            )
        for attachment in inbound.attachments:
            items.append(await self._fetch(attachment, origin, original_date))
        ahead = await self._seal_ahead(inbound, items)
        received: list[Received | Refused] = []
        for index, entry in enumerate(items):
            if isinstance(entry, Refused):
                received.append(entry)
                continue
            kept = await self._fingerprinted(entry, ahead.get(index))
            received.append(replace(kept, source_message_id=inbound.message_id))
        return tuple(received)

    async def _fetch(
        self, attachment: Attachment, origin: Origin | None, original_date: datetime | None
    ) -> Fetched | Refused:
        limit = self.settings.max_item_bytes
        if attachment.size is not None and attachment.size > limit:
            return Refused("too_large", attachment.size)
        try:
            content = await self._download(attachment)
        except FileTooLarge as exc:
            log.info("evidence refused by the platform: over its %d-byte limit", exc.limit)
            return Refused("too_large", exc.size or attachment.size or 0, exc.limit)
        except Exception as exc:  # any adapter's download error: the victim must hear of it
            log.warning("evidence download failed: %s", type(exc).__name__)
            return Refused("fetch_failed")
        kind = attachment.kind if attachment.kind in FILE_KINDS else OTHER_KIND
        mime = _mime_type(attachment.mime_type, attachment.file_name)
        name = sanitise_filename(attachment.file_name or kind + _extension(mime))
        return self._fetched(content, kind, mime, name, origin, original_date)

    async def _download(self, attachment: Attachment) -> bytes:
        """The file's bytes, retrying a download that failed for a passing reason."""
        for wait in FETCH_RETRY_WAITS:
            try:
                return await attachment.fetch()
            except DeliveryError as exc:
                if exc.permanent:
                    raise
                log.info("evidence download failed (%s); trying again in %.0f s", exc, wait)
            await self.clock.sleep(wait)
        return await attachment.fetch()

    def _fetched(
        self,
        content: bytes,
        kind: str,
        mime: str,
        name: str,
        origin: Origin | None,
        original_date: datetime | None,
    ) -> Fetched | Refused:
        if len(content) > self.settings.max_item_bytes:
            return Refused("too_large", len(content))
        salt = os.urandom(SALT_SIZE)
        return Fetched(kind, content, mime, name, origin, original_date, salt)

    async def _fingerprinted(
        self, item: Fetched, ahead: tuple[bytes, SealedAhead | None] | None = None
    ) -> Received:
        """The item with its receipt hash — from the pass that sealed it ahead, or
        computed here — and the commitment derived from that hash."""
        if ahead is None:
            content = item.content
            digest = await offload(len(content), lambda: hashlib.sha256(content).digest())
            sealed_ahead = None
        else:
            digest, sealed_ahead = ahead
        return Received(
            kind=item.kind,
            content=item.content,
            mime_type=item.mime_type,
            file_name=item.file_name,
            origin=item.origin,
            original_date=item.original_date,
            sha256=digest.hex(),
            salt=item.salt,
            commitment=hash_commitment(item.salt, digest),
            sealed_ahead=sealed_ahead,
        )

    async def _seal_ahead(
        self, inbound: Inbound, items: list[Fetched | Refused]
    ) -> dict[int, tuple[bytes, SealedAhead | None]]:
        """Each file sealed under the number it is expected to get (see the module's
        docstring), by position in ``items``: its receipt hash, and what was sealed
        ahead (None if its blob could not be written: the transaction tries again)."""
        if not any(isinstance(entry, Fetched) and entry.kind != TEXT_KIND for entry in items):
            return {}
        async with self.db.transaction() as conn:
            expected = await self._expected_numbers(conn, inbound, items)
        if expected is None:
            return {}
        case_id, key, numbers = expected
        sealed = await asyncio.gather(
            *(self._seal_one_ahead(item, case_id, number, key) for item, number in numbers.values())
        )
        return dict(zip(numbers, sealed, strict=True))

    async def _expected_numbers(
        self, conn: AsyncConnection, inbound: Inbound, items: list[Fetched | Refused]
    ) -> tuple[int, bytes, dict[int, tuple[Fetched, int]]] | None:
        """The victim's case, its key, and the number each file would get if kept now
        (by position in ``items``), as ``_keep_one`` would number them were none of them
        a duplicate (their hashes come with their sealing); nothing is expected from the
        first item over the case's limit on. None without a case or a key (the first
        item makes the key), or for a message already kept (a redelivery: its files are
        duplicates, to be recognised by their hashes, not sealed again)."""
        who = inbound.identity
        case_id = await cases.open_case_id(conn, who.platform, who.user_id)
        if case_id is None:
            return None
        try:
            key = await case_keys.data_key(conn, self.ring, case_id)
        except CaseKeyError:
            return None  # none yet, erased or unusable: the transaction says which
        if await evidence_items.from_message(conn, case_id, inbound.message_id):
            return None
        usage = await evidence_items.usage(conn, case_id)
        number, total = usage.last_item_no, usage.total_bytes
        numbers: dict[int, tuple[Fetched, int]] = {}
        for index, entry in enumerate(items):
            if not isinstance(entry, Fetched):
                continue
            total += len(entry.content)
            if total > self.settings.max_case_bytes:
                break
            number += 1
            if entry.kind != TEXT_KIND:
                numbers[index] = (entry, number)
        return case_id, key, numbers

    async def _seal_one_ahead(
        self, item: Fetched, case_id: int, item_no: int, key: bytes
    ) -> tuple[bytes, SealedAhead | None]:
        """The file's receipt hash, and the file sealed and addressed in one pass beside
        it: two threads, so that on an idle machine a lone file takes the time of the
        longer pass, not of both. The file store takes the sealed bytes as they are made."""
        content, size = item.content, len(item.content)
        sealed_for = item_id(case_id, item_no)
        receipt_hash = offload(size, lambda: hashlib.sha256(content).digest())
        if self.blobs.in_transaction:  # PostgreSQL: written with its item
            digest, sealed = await asyncio.gather(
                receipt_hash, offload(size, seal_file, key, item.salt, content, sealed_for)
            )
            return digest, SealedAhead(case_id, item_no, key, sealed.address, False, sealed.sealed)

        def seal_into(sink: Sink) -> str:
            return seal_file_into(key, item.salt, content, sealed_for, sink)

        digest, blob = await asyncio.gather(receipt_hash, self._write_ahead(seal_into))
        if blob is None:
            return digest, None  # the transaction tries again, and says so if it fails too
        return digest, SealedAhead(case_id, item_no, key, blob, True)

    async def _write_ahead(self, seal_into: Callable[[Sink], str]) -> str | None:
        try:
            return await self.blobs.awrite(seal_into)
        except BlobError as exc:
            log.warning("evidence not sealed ahead: %s", exc)
            return None

    # ---- inside the transaction ------------------------------------------------------------

    async def keep(
        self, conn: AsyncConnection, turn: Turn, received: tuple[Received | Refused, ...]
    ) -> None:
        """Store each item and say why any was not kept; then one receipt for all that
        were (an album is one batch with one summary receipt). The items' rows and
        leaves are written at the end of the transaction (see :meth:`_store`)."""
        kept: list[ItemRecord] = []
        for entry in received:
            if isinstance(entry, Refused):
                turn.say(self._refusal(turn, entry))
                continue
            outcome = await self._keep_one(conn, turn, entry, kept)
            await self._discard_unused(entry, outcome)
            if isinstance(outcome, str):
                turn.say(outcome)
            elif isinstance(outcome, Reply):
                turn.say(outcome.text, outcome.buttons)
            else:
                kept.append(outcome)
        if len(kept) == 1:
            receipt = self.receipts.receipt(turn.case, kept[0])
            turn.say(receipt.text, receipt.buttons)
        elif kept:
            receipt = self.receipts.batch(turn.case, kept)
            turn.say(receipt.text, receipt.buttons)

    async def _discard_unused(self, item: Received, outcome: ItemRecord | Reply | str) -> None:
        """Delete a blob sealed ahead that no row names (the item got another number, or
        was not kept). Its address is the hash of ciphertext under a fresh nonce, so no
        other item can name it either."""
        ahead = item.sealed_ahead
        if ahead is None or not ahead.stored:
            return
        if isinstance(outcome, ItemRecord) and outcome.blob == ahead.blob:
            return
        try:
            await self.blobs.adelete(ahead.blob)
        except BlobError as exc:
            log.warning("a blob sealed ahead and not used is left behind: %s", exc)

    async def follow_change(self, conn: AsyncConnection, turn: Turn, inbound: Inbound) -> bool:
        """An edit or deletion of a message that carried evidence; False if none did.

        Evidence is never rewritten: an edited text becomes a new item linked to the
        first, and a deletion is a custody event that leaves the item as it was.
        """
        case = turn.case
        carried = await evidence_items.from_message(conn, case.id, inbound.edited_message_id)
        if not carried:
            return False
        first = carried[0]
        if inbound.kind is InboundKind.DELETE:
            for item in carried:
                event = CustodyEvent(
                    actor=custody.VICTIM,
                    action=DELETED_ON_PLATFORM,
                    at=turn.now,
                    case_id=case.id,
                    item_no=item.item_no,
                )
                await custody.record(conn, event)
            numbers = self.prompts.t(case, "meta.list_separator").join(
                f"#{item.item_no}" for item in carried
            )
            turn.say(self.prompts.t(case, "evidence.deletion_noted", items=numbers))
            return True
        if inbound.text:
            fetched = self._fetched(
                inbound.text.encode("utf-8"), TEXT_KIND, TEXT_MIME, TEXT_NAME, None, None
            )
            if isinstance(fetched, Refused):
                turn.say(self._refusal(turn, fetched))
                return True
            edited = await self._fingerprinted(fetched)
            link = replace(edited, source_message_id=first.source_message_id, edit_of=first.item_no)
            turn.say(self.prompts.t(case, "evidence.edit_kept", item_no=first.item_no))
            await self.keep(conn, turn, (link,))
        return True

    async def vet_listing(self, inbound: Inbound) -> Contradicted:
        """Before the turn: what /evidence would show that the log contradicts (the rows
        listed are checked against their leaves and content, outside the write lock)."""
        identity = inbound.identity
        async with self.db.transaction() as conn:
            case = await cases.find_current(conn, identity.platform, identity.user_id)
            if case is None:
                return {}
            last = (await evidence_items.usage(conn, case.id)).last_item_no
        shown = range(max(1, last - LIST_LIMIT + 1), last + 1)
        return await contradicted(self.db, self.blobs, self.ring, case.id, shown)

    async def details(self, conn: AsyncConnection, turn: Turn, asked: DetailsAsked) -> None:
        """The proof behind a receipt's "Details" button, read from the rows and the log."""
        case = turn.case
        if asked.case_id != case.id:
            turn.say(self.prompts.t(case, "ui.stale_button"))
            return
        numbers = range(asked.first, asked.last + 1)
        items = await evidence_items.numbered(conn, case.id, numbers)
        if not items:
            turn.say(self.prompts.t(case, "evidence.list_empty"))
            return
        kept = [(item, await ledger.root(conn, item.leaf_index + 1)) for item in items]
        turn.say(self.receipts.details(case, kept))

    async def vet_timeline(self, inbound: Inbound, latest: int) -> Contradicted:
        """Before the turn: what /timeline would show that the log contradicts (its
        ``latest`` evidence entries, checked as :meth:`vet_listing` checks the list)."""
        identity = inbound.identity
        async with self.db.transaction() as conn:
            case = await cases.find_current(conn, identity.platform, identity.user_id)
            if case is None:
                return {}
            scope = Scope(case.id)
            shown = [item.item_no async for item in dated(conn, scope, latest=latest)]
        return await contradicted(self.db, self.blobs, self.ring, case.id, shown)

    async def list_items(
        self, conn: AsyncConnection, turn: Turn, contradicted: Contradicted
    ) -> None:
        """The /evidence command: what the case holds; a row the log contradicts is
        shown as such, without its values, and the staff are alerted."""
        items = await evidence_items.for_case(conn, turn.case.id)
        turn.say(self.receipts.listing(turn.case, items, contradicted))
        if contradicted:
            turn.alert(ALERT_REASON)

    async def _keep_one(
        self, conn: AsyncConnection, turn: Turn, item: Received, kept: Sequence[ItemRecord]
    ) -> ItemRecord | Reply | str:
        """The item as it will be stored, or what to say instead. ``kept``: the items
        this turn keeps already, whose rows are not written yet."""
        case = turn.case
        earlier = next((k for k in kept if k.content_sha256 == item.sha256), None)
        if earlier is None:
            earlier = await evidence_items.find_by_content(conn, case.id, item.sha256)
        if earlier is not None:
            again = self.receipts.receipt(case, earlier)
            duplicate = self.prompts.t(case, "evidence.duplicate")
            return Reply(f"{duplicate}\n\n{again.text}", again.buttons)
        usage = _with_kept(await evidence_items.usage(conn, case.id), kept)
        size = len(item.content)
        if usage.total_bytes + size > self.settings.max_case_bytes:
            return self._case_full(turn, usage.total_bytes, size)
        try:
            key = await case_keys.data_key_for_new_item(conn, self.ring, case.id, turn.now)
        except CaseKeyErased:
            return self.prompts.t(case, "evidence.case_erased")
        stored = await self._store(conn, turn, item, usage, key)
        log.info(
            "case %s: kept evidence item %s (%s, %d bytes)",
            case.id,
            stored.item_no,
            stored.kind,
            size,
        )
        return stored

    async def _store(
        self, conn: AsyncConnection, turn: Turn, item: Received, usage: Usage, key: bytes
    ) -> ItemRecord:
        """The item sealed, and its leaf and rows put off to the end of the transaction
        (storage/before_commit.py): the log's append lock is then held for them and the
        commit only, not for the rest of the turn. Its ``leaf_index`` is not known here."""
        case_id = turn.case.id
        item_no = usage.last_item_no + 1
        ahead = item.sealed_ahead
        sealed: bytes | None = None
        blob: str | None = None
        if ahead is not None and ahead.fits(case_id, item_no, key):
            blob = ahead.blob
            if ahead.sealed is not None:  # written with its item (PostgreSQL)
                await self.blobs.put_in(conn, ahead.sealed, ahead.blob)
        elif item.kind == TEXT_KIND:
            # A text of a few hundred bytes stays in its row and costs no extra fsync.
            plain = item.salt + item.content
            sealed = await offload(len(plain), seal, key, plain, item_id(case_id, item_no))
        else:
            # Files go to the blob store: durable before the row naming them commits, or
            # written in its very transaction (PostgreSQL).
            sealed_file = await self._seal(item, key, item_id(case_id, item_no))
            blob = await self.blobs.put_in(conn, sealed_file.sealed, sealed_file.address)
        draft = ItemRecord(
            case_id=case_id,
            item_no=item_no,
            kind=item.kind,
            received_at=turn.now,
            size=len(item.content),
            mime_type=item.mime_type,
            file_name=item.file_name,
            content_sha256=item.sha256,
            content_commitment=item.commitment,
            commitment_scheme=COMMITMENT_CONTENT_HASH,
            leaf_index=-1,  # not part of the leaf: known once the leaf is appended
            origin=item.origin,
            original_date=item.original_date,
            origin_commitment=item.origin.commitment(item.salt) if item.origin else "",
            blob=blob,
            sealed=sealed if blob is None else None,
            source_message_id=item.source_message_id,
            edit_of=item.edit_of,
        )
        leaf = draft.leaf().to_bytes()
        total = usage.total_bytes + draft.size

        async def append_and_record(conn: AsyncConnection) -> None:
            appended = await ledger.append(conn, LeafKind.EVIDENCE, leaf, turn.now)
            stored = replace(draft, leaf_index=appended.index)
            await evidence_items.insert_item(conn, stored, total)
            await custody.record_received(conn, case_id, item_no, turn.now, appended.index)

        await before_commit.at_end(conn, append_and_record)
        return draft

    @staticmethod
    async def _seal(item: Received, key: bytes, sealed_for: str) -> SealedFile:
        """Sealed and addressed in the transaction (its receipt hash is known already)."""
        return await offload(len(item.content), seal_file, key, item.salt, item.content, sealed_for)

    def _refusal(self, turn: Turn, refused: Refused) -> str:
        if refused.reason == "too_large":
            limit = human_size(refused.limit or self.settings.max_item_bytes)
            if not refused.size:
                return self.prompts.t(turn.case, "evidence.too_large_unsized", limit=limit)
            size = human_size(refused.size)
            return self.prompts.t(turn.case, "evidence.too_large", size=size, limit=limit)
        return self.prompts.t(turn.case, "evidence.fetch_failed")

    def _case_full(self, turn: Turn, used: int, size: int) -> str:
        return self.prompts.t(
            turn.case,
            "evidence.case_full",
            used=human_size(used),
            size=human_size(size),
            limit=human_size(self.settings.max_case_bytes),
        )


def _with_kept(usage: Usage, kept: Sequence[ItemRecord]) -> Usage:
    """The case's usage counting the items this turn keeps, not yet in its rows."""
    if not kept:
        return usage
    added = sum(item.size for item in kept)
    return Usage(kept[-1].item_no, usage.total_bytes + added)


def _origin(forward: ForwardOrigin | None) -> tuple[Origin | None, datetime | None]:
    """The platform's forward origin, its names cleaned and cut to what the row holds."""
    if forward is None:
        return None, None
    origin = Origin(
        kind=str(forward.kind),
        sender_name=_clean(forward.sender_name, _ORIGIN_TEXT_CHARS),
        sender_id=_clean(forward.sender_id, _ORIGIN_ID_CHARS),
        chat_title=_clean(forward.chat_title, _ORIGIN_TEXT_CHARS),
        message_id=_clean(forward.original_message_id, _ORIGIN_ID_CHARS),
        author_signature=_clean(forward.author_signature, _ORIGIN_TEXT_CHARS),
        permalink=_clean(forward.permalink, _ORIGIN_TEXT_CHARS),
    )
    date = forward.original_date
    if date is not None and date.tzinfo is None:
        date = date.replace(tzinfo=UTC)  # platforms send UTC; a naive one is taken as such
    return origin, date


def _clean(value: str, limit: int) -> str:
    return " ".join(clean_text(value).split())[:limit]


def _mime_type(declared: str, file_name: str) -> str:
    """The declared type if it is one, else a guess from the name's extension (the bytes
    are never parsed), else opaque bytes."""
    base = declared.split(";", 1)[0].strip().lower()
    if _MIME.fullmatch(base):
        return base
    guessed, _ = mimetypes.guess_type(sanitise_filename(file_name), strict=False)
    return guessed if guessed and _MIME.fullmatch(guessed) else OPAQUE_MIME


def _extension(mime: str) -> str:
    return mimetypes.guess_extension(mime, strict=False) or ""
