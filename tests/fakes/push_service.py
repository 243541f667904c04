"""A Web Push service (RFC 8030) on 127.0.0.1, and browsers subscribed to it.

It does what a real push service and the browser behind it would do with what Haven
sends, independently of pywebpush: it checks the VAPID authorization (RFC 8292: the
JWT's ES256 signature against the public key the test expects — the one Haven served
to its page —, its audience, expiry and contact), then decrypts the aes128gcm body
(RFC 8188/8291) with the subscribing browser's own private key and auth secret, which
the test made as a browser would. A request failing any check is refused (401 or 400)
and its reason kept in `refusals`; one that passes is answered 201, or with the
statuses queued for its subscription (`answer_next`), and its plain text is put in
`delivered`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from types import TracebackType

import http_ece
from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

_MAX_JWT_LIFETIME = 24 * 3600  # RFC 8292 §2: an expiry no more than 24 hours away


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Browser:
    """A browser's half of a subscription: its P-256 key pair and 16-byte auth secret."""

    private_key: ec.EllipticCurvePrivateKey
    auth: bytes

    @classmethod
    def new(cls) -> Browser:
        return cls(ec.generate_private_key(ec.SECP256R1()), secrets.token_bytes(16))

    @property
    def p256dh(self) -> str:
        raw = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return b64(raw)

    def subscription(self, endpoint: str) -> dict[str, object]:
        """What PushSubscription.toJSON() gives the page."""
        return {
            "endpoint": endpoint,
            "expirationTime": None,
            "keys": {"p256dh": self.p256dh, "auth": b64(self.auth)},
        }


@dataclass(frozen=True)
class Delivered:
    token: str
    text: str
    ttl: int
    urgency: str
    topic: str
    contact: str


@dataclass
class PushService:
    expected_key: str = ""  # the VAPID public key Haven serves; set once it is known
    delivered: asyncio.Queue[Delivered] = field(default_factory=asyncio.Queue)
    answered: asyncio.Queue[tuple[str, int]] = field(default_factory=asyncio.Queue)
    refusals: list[str] = field(default_factory=list)
    port: int = 0
    _browsers: dict[str, Browser] = field(default_factory=dict)
    _answers: dict[str, deque[int]] = field(default_factory=lambda: defaultdict(deque))
    _runner: web.AppRunner | None = None

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def subscribe(self) -> dict[str, object]:
        """A new browser's subscription, as its page would post it to Haven."""
        token = secrets.token_urlsafe(24)
        browser = Browser.new()
        self._browsers[token] = browser
        return browser.subscription(f"{self.origin}/push/{token}")

    def answer_next(self, subscription: dict[str, object], *statuses: int) -> None:
        """Answer the next requests for this subscription with these statuses."""
        self._answers[_token(subscription)].extend(statuses)

    async def __aenter__(self) -> PushService:
        app = web.Application()
        app.router.add_post("/push/{token}", self._push)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _push(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        browser = self._browsers.get(token)
        if browser is None:
            return self._answer(token, 404)
        body = await request.read()
        try:
            contact = self._check_vapid(request.headers.get("Authorization", ""))
            text = self._decrypt(request, body, browser)
            ttl = int(request.headers["TTL"])
        except (ValueError, KeyError, InvalidSignature, http_ece.ECEException) as exc:
            self.refusals.append(f"{type(exc).__name__}: {exc}")
            return self._answer(token, 401 if isinstance(exc, InvalidSignature) else 400)
        queued = self._answers[token]
        status = queued.popleft() if queued else 201
        if status < 300:
            headers = request.headers
            self.delivered.put_nowait(
                Delivered(
                    token, text, ttl, headers.get("Urgency", ""), headers.get("Topic", ""), contact
                )
            )
        return self._answer(token, status)

    def _answer(self, token: str, status: int) -> web.Response:
        self.answered.put_nowait((token, status))
        headers = {"Location": f"{self.origin}/message/{secrets.token_urlsafe(8)}"}
        if status == 429:
            headers = {"Retry-After": "0"}
        return web.Response(status=status, headers=headers)

    def _check_vapid(self, authorization: str) -> str:
        """RFC 8292 §3: `vapid t=<JWT>, k=<public key>`; the JWT's `sub`."""
        scheme, _, rest = authorization.partition(" ")
        if scheme.lower() != "vapid":
            raise ValueError(f"authorization scheme {scheme!r}")
        params = dict(part.strip().split("=", 1) for part in rest.split(","))
        if not self.expected_key or params.get("k") != self.expected_key:
            raise ValueError("the VAPID key is not the one Haven serves")
        header, claims_part, signature = params["t"].split(".")
        if json.loads(unb64(header)) != {"typ": "JWT", "alg": "ES256"}:
            raise ValueError("JWT header")
        raw = unb64(signature)
        if len(raw) != 64:
            raise ValueError("ES256 signature length")
        der = encode_dss_signature(int.from_bytes(raw[:32]), int.from_bytes(raw[32:]))
        key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64(params["k"]))
        key.verify(der, f"{header}.{claims_part}".encode("ascii"), ec.ECDSA(hashes.SHA256()))
        claims = json.loads(unb64(claims_part))
        if claims.get("aud") != self.origin:
            raise ValueError(f"audience {claims.get('aud')!r}")
        if not 0 < int(claims["exp"]) - time.time() <= _MAX_JWT_LIFETIME:
            raise ValueError("expiry")
        contact = str(claims.get("sub", ""))
        if not contact.startswith(("mailto:", "https://")):
            raise ValueError("contact")
        return contact

    @staticmethod
    def _decrypt(request: web.Request, body: bytes, browser: Browser) -> str:
        if request.headers.get("Content-Encoding") != "aes128gcm":
            raise ValueError(f"content encoding {request.headers.get('Content-Encoding')!r}")
        plain = http_ece.decrypt(
            body, private_key=browser.private_key, auth_secret=browser.auth, version="aes128gcm"
        )
        return bytes(plain).decode("utf-8")


def _token(subscription: dict[str, object]) -> str:
    return str(subscription["endpoint"]).rsplit("/", 1)[-1]
