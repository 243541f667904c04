"""RFC 3161 trusted timestamps: an outside authority vouches for when a checkpoint existed.

A checkpoint (storage/tlog.py) says what the log held; only Haven's own clock says
when. A time-stamping authority (TSA; ``[evidence] tsa_urls``, e.g. a licensed CA's)
signs the checkpoint's SHA-256 with the time, in a token anyone can check offline with
the authority's CA certificate — `haven verify --tsa-ca CA.pem`, or
`openssl ts -verify -in checkpoint.1.tsr -data checkpoint -CAfile CA.pem`.

Requests and responses are built and checked with rfc3161-client. A token is the
authority's whole DER TimeStampResp, as OpenSSL reads it. :func:`check_token` names what
is wrong with a token in words: damaged, for other data, changed, from an authority the
CA file does not vouch for, or signed with a certificate not valid at the time stamped.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

import aiohttp
from cryptography import x509
from rfc3161_client import (
    HashAlgorithm,
    PKIStatus,
    TimestampRequestBuilder,
    TimeStampResponse,
    VerificationError,
    VerifierBuilder,
    decode_timestamp_response,
)

QUERY_TYPE = "application/timestamp-query"
MAX_TOKEN_BYTES = 64 * 1024
_SHA256 = x509.ObjectIdentifier("2.16.840.1.101.3.4.2.1")


class TsaError(Exception):
    """An authority did not give a usable token. One line, for the log and the briefing."""


class TokenError(ValueError):
    """A token does not vouch for the data; the message says why, in plain words."""


@dataclass(frozen=True)
class TokenFacts:
    """What a token says: when, and who says so."""

    time: dt.datetime
    authority: str
    serial: int


async def fetch_token(
    session: aiohttp.ClientSession, url: str, data: bytes, wait_seconds: float
) -> bytes:
    """Ask the authority at ``url`` to timestamp ``data``; the checked DER response."""
    request = (
        TimestampRequestBuilder()
        .data(data)
        .hash_algorithm(HashAlgorithm.SHA256)
        .nonce(nonce=True)
        .cert_request(cert_request=True)
        .build()
    )
    try:
        async with session.post(
            url,
            data=request.as_bytes(),
            headers={"Content-Type": QUERY_TYPE},
            timeout=aiohttp.ClientTimeout(total=wait_seconds),
        ) as answer:
            if answer.status != 200:
                raise TsaError(f"the authority answered HTTP {answer.status}")
            body = await answer.content.read(MAX_TOKEN_BYTES + 1)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise TsaError(f"the authority could not be reached ({type(exc).__name__})") from None
    if len(body) > MAX_TOKEN_BYTES:
        raise TsaError("the authority's answer is too large to be a timestamp")
    try:
        response = decode_timestamp_response(body)
    except ValueError:
        raise TsaError("the authority's answer is not an RFC 3161 response") from None
    if PKIStatus(response.status) not in (PKIStatus.GRANTED, PKIStatus.GRANTED_WITH_MODS):
        raise TsaError(f"the authority refused the request (status {response.status})")
    info = response.tst_info
    if info.nonce != request.nonce or info.message_imprint.message != _digest(data):
        raise TsaError("the authority's token is for another request")
    return body


def read_token(token: bytes) -> TokenFacts:
    """The token's time and authority, without checking who signed it."""
    response = _decode(token)
    return TokenFacts(response.tst_info.gen_time, _authority(response), _serial(response))


def check_token(token: bytes, data: bytes, roots: list[x509.Certificate]) -> TokenFacts:
    """The token's facts, if an authority that ``roots`` vouch for timestamped ``data``."""
    response = _decode(token)
    info = response.tst_info
    if info.message_imprint.hash_algorithm != _SHA256 or (
        info.message_imprint.message != _digest(data)
    ):
        raise TokenError("it timestamps other data than this checkpoint")
    signer = _signer(response)
    if signer is not None and not (
        signer.not_valid_before_utc <= info.gen_time <= signer.not_valid_after_utc
    ):
        raise TokenError(
            f"the authority's certificate was not valid at the time stamped "
            f"({_day(signer.not_valid_before_utc)} to {_day(signer.not_valid_after_utc)})"
        )
    if not roots:
        raise TokenError("no CA certificate to check it with")
    builder = VerifierBuilder()
    for root in roots:
        builder = builder.add_root_certificate(root)
    try:
        builder.build().verify(response, _digest(data))
    except VerificationError as exc:
        if "signature failure" in str(exc):
            raise TokenError("its signature does not verify: the token was changed") from None
        raise TokenError(
            f"it was not issued by an authority the CA file vouches for ({_reason(str(exc))})"
        ) from None
    return TokenFacts(info.gen_time, _authority(response), _serial(response))


def _decode(token: bytes) -> TimeStampResponse:
    try:
        return decode_timestamp_response(token)
    except ValueError:
        raise TokenError("the token is damaged: not an RFC 3161 timestamp response") from None


def _digest(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _signer(response: TimeStampResponse) -> x509.Certificate | None:
    """The embedded certificate the signature names (issuer and serial), if any."""
    infos = list(response.signed_data.signer_infos)
    if len(infos) != 1:
        return None
    for der in response.signed_data.certificates:
        cert = x509.load_der_x509_certificate(der)
        if (cert.issuer, cert.serial_number) == (infos[0].issuer, infos[0].serial_number):
            return cert
    return None


def _authority(response: TimeStampResponse) -> str:
    signer = _signer(response)
    if signer is not None:
        return signer.subject.rfc4514_string()
    name = response.tst_info.name
    value = getattr(name, "value", None)
    return value.rfc4514_string() if isinstance(value, x509.Name) else str(value or "unnamed")


def _serial(response: TimeStampResponse) -> int:
    return int(response.tst_info.serial_number)


def _day(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%d")


def _reason(message: str) -> str:
    marker = 'data: "Verify error: '
    start = message.find(marker)
    if start < 0:
        return "no trusted chain"
    return message[start + len(marker) :].split('"', 1)[0]
