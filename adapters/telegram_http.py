"""How the Telegram adapter's calls travel: python-telegram-bot's request interface on aiohttp.

python-telegram-bot sends every Bot API call through a ``BaseRequest``, and lets an
application bring its own. Its default is built on httpx; Haven brings aiohttp, which it
already ships (slack_sdk's async client stands on it) and which spends far less CPU per
call. Most of a busy adapter's time is spent in these calls, so the choice decides how
many victims one process can answer (bench/telegram.py measures both).

Only the transport changes: python-telegram-bot still encodes every request, reads every
response and raises its own errors (``RetryAfter``, ``BadRequest``, ``Forbidden`` …) from
the status and body returned here. This module turns aiohttp's failures into the two that
python-telegram-bot expects from a transport, ``TimedOut`` and ``NetworkError``.
"""

from __future__ import annotations

import asyncio
import re

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import UploadFileDict
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

_Timeout = float | DefaultValue[float] | DefaultValue[None] | None
_TOKEN_IN_PATH = re.compile(r"/bot[^/\s'\"]+")  # the Bot API's /bot<token>/method
# An upload slower than this counts as stalled (see _sending_bound).
SLOWEST_UPLOAD_BYTES_PER_S = 50_000


class AiohttpRequest(BaseRequest):
    """One pool of connections to the Bot API, with python-telegram-bot's default timeouts."""

    __slots__ = ("_connect", "_media_write", "_pool", "_pool_size", "_read", "_session", "_write")

    def __init__(
        self,
        connection_pool_size: int = 256,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
        media_write_timeout: float | None = 20.0,
    ) -> None:
        self._pool_size = connection_pool_size
        self._read = read_timeout
        self._write = write_timeout
        self._connect = connect_timeout
        self._pool = pool_timeout
        self._media_write = media_write_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read

    async def initialize(self) -> None:
        # A session belongs to the running loop, so it is made here rather than in __init__.
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._pool_size)
            self._session = aiohttp.ClientSession(
                connector=connector, headers={"User-Agent": self.USER_AGENT}
            )

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: _Timeout = BaseRequest.DEFAULT_NONE,
        write_timeout: _Timeout = BaseRequest.DEFAULT_NONE,
        connect_timeout: _Timeout = BaseRequest.DEFAULT_NONE,
        pool_timeout: _Timeout = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        files = request_data.multipart_data if request_data and request_data.contains_files else {}
        read = _given(read_timeout, self._read)
        write = _given(write_timeout, self._media_write if files else self._write)
        connect = _given(connect_timeout, self._connect)
        pool = _given(pool_timeout, self._pool)
        timeout = aiohttp.ClientTimeout(
            connect=None if connect is None or pool is None else connect + pool,
            sock_connect=connect,
            sock_read=read,
        )
        try:
            async with asyncio.timeout(_sending_bound(read, write, connect, pool, files)):
                response = await self._session.request(
                    method, url, data=_body(request_data, files), timeout=timeout
                )
            async with response:
                return response.status, await response.read()
        except TimeoutError as exc:
            raise TimedOut from exc
        except aiohttp.ClientError as exc:
            # Some of aiohttp's errors quote the address, which holds the token: the
            # message is kept without it, and the original is not chained to be logged.
            detail = _TOKEN_IN_PATH.sub("/bot<token>", str(exc))
            raise NetworkError(f"aiohttp.{type(exc).__name__}: {detail}") from None


def _sending_bound(
    read: float | None,
    write: float | None,
    connect: float | None,
    pool: float | None,
    files: UploadFileDict,
) -> float | None:
    """How long sending may take, from the pool to the answer's headers; None: no bound.

    aiohttp has no write timeout (httpx bounds each write), so sending is bounded as a
    whole: its phases' timeouts, plus, for an upload, its size at a rate below which a
    transfer counts as stalled (as curl's --speed-limit). Reading the answer's body is
    bounded per read, as with httpx: a large download is never cut off while it flows.
    """
    if read is None or write is None or connect is None or pool is None:
        return None
    sizes = [len(c) if isinstance(c, bytes) else None for _, c, _ in files.values()]
    if None in sizes:
        return None  # a file handle's size is not known here
    uploading = sum(size for size in sizes if size is not None)
    return read + write + connect + pool + uploading / SLOWEST_UPLOAD_BYTES_PER_S


def _given(value: _Timeout, default: float | None) -> float | None:
    return default if isinstance(value, DefaultValue) else value


def _body(
    request_data: RequestData | None, files: UploadFileDict
) -> aiohttp.FormData | dict[str, str] | None:
    """Form fields as python-telegram-bot encodes them; files make it a multipart form."""
    if request_data is None:
        return None
    fields = request_data.json_parameters
    if not files:
        return fields
    # Names as browsers and httpx send them (UTF-8 in quotes); aiohttp's default would
    # percent-encode them, and a victim's bundle would arrive as "%E8%AF%81….zip".
    form = aiohttp.FormData(fields, quote_fields=False)
    for name, (file_name, content, mime_type) in files.items():
        form.add_field(name, content, filename=file_name, content_type=mime_type)
    return form
