"""A real RFC 3161 time-stamping authority on 127.0.0.1, made from `openssl ts -reply`.

The rig makes its own CA and a TSA certificate (critical extended key usage
timeStamping, as RFC 3161 §2.3 requires), writes the `[tsa]` section OpenSSL needs, and
serves HTTP POSTs of application/timestamp-query by running OpenSSL on each query. It
can be taken down (every request then fails) and brought back, and can sign with an
expired certificate, for the tests of what Haven does then.
"""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = dt.datetime.now(dt.UTC)

_CONFIG = """\
[tsa]
default_tsa = tsa_config
[tsa_config]
dir = {dir}
serial = {dir}/serial
crypto_device = builtin
signer_cert = {dir}/tsa.pem
signer_key = {dir}/tsa.key
signer_digest = sha256
default_policy = 1.2.3.4.1
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Haven test PKI"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


@dataclass
class Authority:
    """A CA and the TSA certificate it issued, as files in ``directory``."""

    directory: Path
    ca_key: ec.EllipticCurvePrivateKey
    ca_cert: x509.Certificate
    tsa_key: ec.EllipticCurvePrivateKey = field(init=False)

    @classmethod
    def create(cls, directory: Path, name: str = "Haven Test Root CA") -> Authority:
        directory.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(name))
            .issuer_name(_name(name))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW - dt.timedelta(days=3650))
            .not_valid_after(NOW + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                critical=True,
            )
            .sign(key, hashes.SHA256())
        )
        authority = cls(directory, key, cert)
        authority.issue_tsa(NOW - dt.timedelta(days=30), NOW + dt.timedelta(days=365))
        (directory / "ca.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (directory / "serial").write_text("01\n")
        (directory / "tsa.cnf").write_text(_CONFIG.format(dir=directory))
        return authority

    def issue_tsa(self, not_before: dt.datetime, not_after: dt.datetime) -> None:
        """A (new) TSA certificate valid from ``not_before`` to ``not_after``."""
        self.tsa_key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name("Haven Test TSA"))
            .issuer_name(self.ca_cert.subject)
            .public_key(self.tsa_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(self.ca_key, hashes.SHA256())
        )
        (self.directory / "tsa.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (self.directory / "tsa.key").write_bytes(
            self.tsa_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )

    @property
    def ca_file(self) -> Path:
        return self.directory / "ca.pem"

    def reply(self, query: bytes) -> bytes:
        """What `openssl ts -reply` answers to ``query`` (DER TimeStampResp)."""
        with tempfile.TemporaryDirectory() as scratch:
            query_file, reply_file = Path(scratch) / "q.tsq", Path(scratch) / "r.tsr"
            query_file.write_bytes(query)
            subprocess.run(
                [
                    "openssl", "ts", "-reply",
                    "-config", str(self.directory / "tsa.cnf"),
                    "-queryfile", str(query_file),
                    "-out", str(reply_file),
                ],
                check=True,
                capture_output=True,
            )  # fmt: skip
            return reply_file.read_bytes()


class TsaServer:
    """The authority over HTTP on 127.0.0.1; ``down`` makes every request fail."""

    def __init__(self, authority: Authority) -> None:
        self.authority = authority
        self.down = False
        self.requests = 0
        rig = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                rig.requests += 1
                length = int(self.headers.get("Content-Length", "0"))
                query = self.rfile.read(length)
                if rig.down or self.headers.get("Content-Type") != "application/timestamp-query":
                    self.send_error(503 if rig.down else 415)
                    return
                body = rig.authority.reply(query)
                self.send_response(200)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/tsa"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def running_tsa(directory: Path) -> Iterator[TsaServer]:
    directory.mkdir(parents=True, exist_ok=True)
    server = TsaServer(Authority.create(directory))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def stamped_within(report: str, since: dt.datetime) -> bool:
    """Whether the report's first timestamp line names a time between `since` and now.

    OpenSSL signs with the machine's clock, so a test that ran across midnight must not
    expect the date it started on.
    """
    found = re.search(r"timestamps/\d+\.tsr: (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) by ", report)
    if found is None:
        return False
    stamped = dt.datetime.strptime(found[1], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    return since.replace(microsecond=0) <= stamped <= dt.datetime.now(dt.UTC)
