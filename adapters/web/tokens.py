"""What proves who is at the page: signed session cookies, CSRF tokens, recovery codes
and passphrases. No state is kept here; everything is derived from one server secret.

- A session cookie carries the chat id, the chat's lock epoch, when it was issued and
  when it was last used, signed with HMAC-SHA256. A forged or altered one fails the
  signature; one from before the chat was locked fails the epoch; one idle too long
  fails its last-used time.
- A device cookie is a random nonce, signed; the CSRF token is an HMAC of that nonce,
  handed to the page and sent back in a header on every state-changing request.
- A recovery code is 100 random bits in 20 characters a person can copy by hand
  (Crockford's base32: no I, L, O or U). Only its SHA-256 is stored.
- A passphrase is stored as an scrypt hash with its own salt.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 20
_CODE_READINGS = str.maketrans({"O": "0", "I": "1", "L": "1"})
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
_VERSION = "1"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Session:
    """A signed session, as read back from its cookie."""

    chat_id: str
    epoch: int
    issued: int  # seconds since the epoch, from the server's clock
    seen: int


class Signer:
    def __init__(self, secret: bytes) -> None:
        if len(secret) < 32:
            raise ValueError("the web chat's secret must have at least 32 bytes")
        self._session_key = hmac.new(secret, b"haven web session", hashlib.sha256).digest()
        self._device_key = hmac.new(secret, b"haven web device", hashlib.sha256).digest()
        self._csrf_key = hmac.new(secret, b"haven web csrf", hashlib.sha256).digest()

    # ---- sessions -----------------------------------------------------------------

    def session(self, session: Session) -> str:
        body = ".".join(
            (_VERSION, session.chat_id, str(session.epoch), str(session.issued), str(session.seen))
        )
        return f"{body}.{self._mac(self._session_key, body)}"

    def read_session(self, cookie: str) -> Session | None:
        """The session a cookie holds, or None for anything not signed by this server."""
        body, _, mac = cookie.rpartition(".")
        if not body or not hmac.compare_digest(mac, self._mac(self._session_key, body)):
            return None
        parts = body.split(".")
        if len(parts) != 5 or parts[0] != _VERSION:
            return None
        _, chat_id, epoch, issued, seen = parts
        if not (epoch.isdigit() and issued.isdigit() and seen.isdigit()):
            return None
        return Session(chat_id, int(epoch), int(issued), int(seen))

    # ---- devices and CSRF ---------------------------------------------------------

    def new_device(self) -> str:
        nonce = _b64(secrets.token_bytes(16))
        return f"{nonce}.{self._mac(self._device_key, nonce)}"

    def device_nonce(self, cookie: str) -> str | None:
        nonce, _, mac = cookie.partition(".")
        if not nonce or not hmac.compare_digest(mac, self._mac(self._device_key, nonce)):
            return None
        return nonce

    def csrf(self, device_nonce: str) -> str:
        return self._mac(self._csrf_key, device_nonce)

    def csrf_matches(self, device_nonce: str, token: str) -> bool:
        return hmac.compare_digest(token, self.csrf(device_nonce))

    @staticmethod
    def _mac(key: bytes, text: str) -> str:
        return _b64(hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest())


# ---- chats, recovery codes and passphrases -------------------------------------------


def new_chat_id() -> str:
    return secrets.token_hex(16)


def new_recovery_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def shown_code(code: str) -> str:
    """In groups of four, as the person writes it down: 7KQM-2XPA-…"""
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def normal_code(typed: str) -> str | None:
    """A typed code in its canonical form (case, spaces, dashes and the letters people
    confuse with digits forgiven); None when it cannot be a code at all."""
    code = "".join(ch for ch in typed.upper() if ch not in " -\t").translate(_CODE_READINGS)
    if len(code) != CODE_LENGTH or any(ch not in CODE_ALPHABET for ch in code):
        return None
    return code


def code_hash(code: str) -> bytes:
    return hashlib.sha256(b"haven web recovery code:" + code.encode("ascii")).digest()


def hash_passphrase(passphrase: str) -> str:
    salt = secrets.token_bytes(16)
    digest = _scrypt(passphrase, salt, _SCRYPT_N, _SCRYPT_R, _SCRYPT_P)
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def passphrase_matches(passphrase: str, stored: str) -> bool:
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        return False
    n, r, p = (int(x) for x in parts[1:4])
    digest = _scrypt(passphrase, _unb64(parts[4]), n, r, p)
    return hmac.compare_digest(digest, _unb64(parts[5]))


def _scrypt(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        passphrase.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=64 * 1024 * 1024, dklen=32
    )
