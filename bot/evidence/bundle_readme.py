"""README.txt of an evidence bundle: what each file is and how to check it by hand.

The words live in ``content/bundle-readme.toml`` (one text per locale) rather than in the
locale files, because they quote commands and hashes that the chat texts' checks forbid
(numbers, braces). The commands for the bundle at hand are appended here, each with the
output it must give, so a reader can check a bundle with sha256sum, xxd and openssl alone.
"""

from __future__ import annotations

import shlex
import tomllib
from functools import cache

from bot.content.playbook import CONTENT_DIR, LOCALES, ContentError
from bot.evidence.bundle import (
    PUBLIC_KEY,
    STH_BIN,
    STH_SIG,
    Bundle,
    LeafClaims,
    Manifest,
    custody_leaf_path,
    head_time,
    utc_text,
)
from bot.evidence.filenames import shown
from storage.leaves import COMMITMENT_CONTENT, CONTENT_HASH_LABEL_TEXT
from storage.merkle import leaf_hash

TEMPLATES = CONTENT_DIR / "bundle-readme.toml"
_SIGNATURE_OK = "Signature Verified Successfully"
_FINGERPRINT_COMMAND = f"openssl pkey -pubin -in {PUBLIC_KEY} -outform DER | tail -c 32 | sha256sum"
_SIGNATURE_COMMAND = (
    f"openssl pkeyutl -verify -pubin -inkey {PUBLIC_KEY} -rawin -in {STH_BIN} -sigfile {STH_SIG}"
)


@cache
def readme_templates() -> dict[str, str]:
    """The README text of every locale, checked to exist for each of them."""
    try:
        with TEMPLATES.open("rb") as handle:
            raw = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ContentError(f"{TEMPLATES.name}: {exc}") from exc
    missing = [locale for locale in LOCALES if not isinstance(raw.get(locale), str)]
    if missing:
        raise ContentError(f"{TEMPLATES.name}: no text for {', '.join(missing)}")
    return {locale: raw[locale].strip() for locale in LOCALES}


def render_readme(bundle: Bundle, manifest: Manifest) -> str:
    """The case's language first, English after it (once when the case is in English)."""
    head = bundle.tree_head.head
    fields = {
        "case_id": _one_line(bundle.case_id),
        "exported_at": utc_text(bundle.exported_at),
        "exported_by": _one_line(bundle.exported_by),
        "reason": _one_line(bundle.reason),
        "item_count": len(bundle.items),
        "tree_size": head.size,
        "tree_time": utc_text(head_time(head)),
        "root": head.root.hex(),
        "fingerprint": manifest.key_fingerprint.hex(),
    }
    locales = dict.fromkeys((bundle.locale, "en"))
    texts = [readme_templates()[locale].format(**fields) for locale in locales]
    return "\n\n\n".join([*texts, _commands(bundle, manifest)]) + "\n"


def _commands(bundle: Bundle, manifest: Manifest) -> str:
    lines = ["-" * 72, ""]
    lines += _check(_SIGNATURE_COMMAND, _SIGNATURE_OK)
    lines += _check(_FINGERPRINT_COMMAND, manifest.key_fingerprint.hex())
    for item, record in zip(bundle.items, manifest.items, strict=True):
        file = shlex.quote(record.file)
        claims = LeafClaims.from_leaf(item.leaf_data, record.leaf)
        committed = claims.commitment_for(item.salt, item.content, record.sha256)
        lines += ["", f"[{record.number:03d}] {record.kind}: {record.file}"]
        lines += _check(f"sha256sum {file}", record.sha256.hex())
        lines += _check(_commitment_command(claims.scheme, item.salt, file), committed)
        lines += _check(_leaf_command(record.leaf), leaf_hash(item.leaf_data).hex())
    for number, entry in enumerate(bundle.custody, start=1):
        lines += ["", f"[custody {number:03d}]"]
        lines += _check(_leaf_command(custody_leaf_path(number)), leaf_hash(entry.leaf_data).hex())
    return "\n".join(lines)


def _one_line(text: str) -> str:
    """Free text kept on one line, so no reason given can pass for a command below."""
    return shown(" ".join(text.split()))


def _commitment_command(scheme: int, salt: bytes, file: str) -> str:
    """The salted commitment by hand: of the file itself (scheme 1), or of its SHA-256
    (scheme 2, behind the scheme's label; printf's '\\n' is a newline in every shell)."""
    salted = f"printf '%s' {salt.hex()} | xxd -r -p"
    if scheme == COMMITMENT_CONTENT:
        return f"({salted}; cat {file}) | sha256sum"
    digest = f"sha256sum < {file} | cut -c1-64 | xxd -r -p"
    return f"(printf {shlex.quote(CONTENT_HASH_LABEL_TEXT)}; {salted}; {digest}) | sha256sum"


def _leaf_command(path: str) -> str:
    # '\000' rather than '\x00': octal escapes work in every printf (dash, bash, zsh, BSD).
    return f"printf '\\000' | cat - {shlex.quote(path)} | sha256sum"


def _check(command: str, output: str) -> list[str]:
    return [f"$ {command}", output]
