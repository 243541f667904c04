"""Which push endpoints Haven will call. A subscription is sent by the page, so its
endpoint is whatever a client chose: unchecked, it would let anyone make Haven post to
an address of their choosing, inside the deployment's network too (SSRF).

Push services are public https hosts, so an endpoint must be an https URL on port 443
whose host is a name (never an address, never "localhost"), and at sending time the
name must resolve to public addresses only: a name that points inside (DNS rebinding)
is refused by the connection's resolver, not only when the page subscribes. Origins
the operator allow-lists (`push_http_origins`, for a test's fake push service) are the
only exception.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

MAX_ENDPOINT = 1000


def origin_of(endpoint: str) -> str:
    parts = urlsplit(endpoint)
    return f"{parts.scheme}://{parts.netloc}".lower()


def endpoint_allowed(endpoint: str, http_origins: frozenset[str]) -> bool:
    """Whether Haven may send notifications to `endpoint` (see the module's notes)."""
    if len(endpoint) > MAX_ENDPOINT or not endpoint.isascii() or not endpoint.isprintable():
        return False
    try:
        parts = urlsplit(endpoint)
        port = parts.port
    except ValueError:
        return False
    if origin_of(endpoint) in http_origins:
        return True
    host = parts.hostname or ""
    if parts.scheme != "https" or parts.username is not None or parts.password is not None:
        return False
    if port not in (None, 443) or parts.fragment or "." not in host.strip("."):
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return False
    return not _is_address(host)


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


class PublicOnlyResolver(AbstractResolver):
    """Resolves names to their public addresses only: a push endpoint's host that
    resolves inside (loopback, private, link-local…) cannot be connected to. Addresses
    written in a URL are not resolved at all: endpoint_allowed lets none through but the
    allow-listed origins."""

    def __init__(self) -> None:
        self._inner = ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        public = [entry for entry in found if ipaddress.ip_address(entry["host"]).is_global]
        if not public:
            raise OSError(f"{host} has no public address")
        return public

    async def close(self) -> None:
        await self._inner.close()
