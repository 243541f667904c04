"""The one interface every platform adapter implements (console, Telegram, Slack)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from bot.events import Inbound, Outbound

InboundHandler = Callable[[Inbound], Awaitable[None]]


class DeliveryError(Exception):
    """Sending failed in a way worth retrying later (network, 5xx, rate limit)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Adapter(Protocol):
    platform: str

    async def start(self, handler: InboundHandler) -> None:
        """Begin receiving; every inbound event is handed to `handler`."""

    async def send(self, message: Outbound) -> str:
        """Deliver one message; return the platform's id for it."""

    async def wait_closed(self) -> None:
        """Return when the adapter has ended by itself (the console at end of input)."""

    async def stop(self) -> None:
        """Stop receiving and release resources."""
