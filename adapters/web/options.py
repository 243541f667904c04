"""The web chat's settings, built from `[adapters.web]` by the composition root."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class PushOptions:
    """Web Push, when the operator turned it on. `private_key` is the VAPID key (PEM, from
    a file in the data directory that only Haven can read); `contact` is the operator's
    "mailto:" or "https:" address that push services are given (RFC 8292 requires one).
    Subscriptions must name an https endpoint on a public host; `http_origins` lists
    origins allowed besides (a test's fake push service on 127.0.0.1, never production).
    """

    private_key: bytes = field(repr=False)
    contact: str
    http_origins: frozenset[str] = frozenset()
    per_chat: int = 5  # browsers one chat may subscribe
    ttl_seconds: int = 24 * 3600  # how long a push service keeps it for an offline device
    attempts: int = 8
    backoff_seconds: float = 30.0
    backoff_cap_seconds: float = 3600.0
    # A page that left less than this ago may be reconnecting (a long poll between two
    # requests, a WebSocket after a network change): no notification yet.
    grace_seconds: float = 30.0
    timeout_seconds: float = 15.0


@dataclass(frozen=True)
class WebOptions:
    """What the adapter needs. `secret` signs cookies and CSRF tokens (at least 32 bytes,
    from a file in the data directory that only Haven can read)."""

    secret: bytes = field(repr=False)
    listen: str = "127.0.0.1:8080"
    default_locale: str = "zh-CN"
    quick_exit_url: str = "https://www.baidu.com/"
    idle_minutes: float = 30.0
    max_upload_bytes: int = 20 * 1024 * 1024
    max_text_chars: int = 4000
    trusted_proxies: frozenset[str] = frozenset({"127.0.0.1", "::1"})
    # Per address: requests a minute (and the burst allowed at once), new chats an hour,
    # open live connections. Per chat: messages a minute.
    requests_per_minute: int = 120
    request_burst: int = 60
    new_chats_per_hour: int = 10
    connections_per_address: int = 20
    max_connections: int = 5000
    messages_per_minute: int = 30
    max_uploads: int = 8  # uploads read at once, in all: each is held in memory
    free_guesses: int = 5
    guess_backoff_seconds: float = 2.0
    guess_backoff_cap_seconds: float = 3600.0
    poll_seconds: float = 25.0
    history: int = 200  # messages a page shows again on opening
    push: PushOptions | None = None  # None: no browser notifications
