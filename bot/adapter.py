"""The one interface every platform adapter implements (console, Telegram, Slack)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, runtime_checkable

from bot.events import Inbound, Outbound

InboundHandler = Callable[[Inbound], Awaitable[None]]


class DeliveryError(Exception):
    """Sending failed. Adapters raise it for every platform failure they recognise.

    - `retry_after`: the platform asked to wait this many seconds (HTTP 429 / flood
      control); the outbox waits at least that long and does not count it as an attempt.
    - `permanent`: retrying cannot help (the user blocked the bot, the chat is gone, the
      message is refused as malformed); the message becomes a dead letter at once.
    - neither: a network error or 5xx, retried with exponential backoff and jitter.
    """

    def __init__(
        self, message: str, retry_after: float | None = None, *, permanent: bool = False
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.permanent = permanent


class FileTooLarge(DeliveryError):
    """The platform will not hand over a file this big (20 MB from api.telegram.org).

    Raised by an `Attachment.fetch`; the victim is told the platform's limit, which may be
    lower than Haven's own per-item limit.
    """

    def __init__(self, size: int | None, limit: int) -> None:
        shown = "unknown" if size is None else str(size)
        super().__init__(
            f"file of {shown} bytes is over the download limit of {limit} bytes", permanent=True
        )
        self.size = size
        self.limit = limit


class AdapterStartError(Exception):
    """An adapter could not begin (a rejected token, an unreachable API); says why in one line."""


class Adapter(Protocol):
    platform: str
    # True when send() hands a file's bytes to the platform, so that Haven's own copy of
    # a delivered export may go (bot/delivery/handover_files.py); False when the person is shown
    # that copy itself (the console prints its path).
    uploads_files: bool

    async def start(self, handler: InboundHandler) -> None:
        """Begin receiving; every inbound event is handed to `handler`."""

    async def send(self, message: Outbound) -> str:
        """Deliver one message; return the platform's id for it."""

    async def wait_closed(self) -> None:
        """Return when the adapter has ended by itself (the console at end of input)."""

    async def stop(self) -> None:
        """Stop receiving and release resources."""


@runtime_checkable
class JournaledIntake(Protocol):
    """An adapter whose platform counts an event delivered once Haven acknowledges it
    (Telegram's next getUpdates, Slack's HTTP 200). It hands every event to the journal
    given here, and waits for it, before acknowledging; the core keeps evidence events
    durably there (bot/conversation/intake_journal.py) and, at start, replays those a
    stop or crash interrupted, fetching their files again with `fetch_file`."""

    def use_journal(self, journal: InboundHandler) -> None: ...

    async def fetch_file(self, file_id: str, size: int | None = None) -> bytes:
        """The bytes of a file the platform named `file_id` in an event."""


@runtime_checkable
class ElectedReceiver(Protocol):
    """An adapter that can send without receiving. Some ways of receiving allow one
    consumer per bot (Telegram's getUpdates, Slack's Socket Mode): with several Haven
    instances, every instance sends but only the elected one receives
    (bot/cluster/election.py). ``start`` is ``prepare`` then ``start_receiving``."""

    @property
    def needs_election(self) -> bool:
        """True when the configured way of receiving allows one consumer only."""

    async def prepare(self, handler: InboundHandler) -> None:
        """Everything ``start`` does except receiving: afterwards ``send`` works."""

    async def start_receiving(self) -> None: ...

    async def stop_receiving(self) -> None:
        """Stop receiving (another instance takes over); sending goes on."""
