"""What the extraction record and the case report share: their words, and turning their
HTML into a PDF a clerk can print.

PDFs are made with WeasyPrint, in Noto Sans CJK (Debian's fonts-noto-cjk), which covers
Chinese and Latin alike; WeasyPrint embeds only the glyphs a document uses (a subset),
so the file opens the same on any machine. One face only (regular; headings stand out
by size, hashes are set small): subsetting a CJK face holds some 45 MB while it runs,
so a bold and a monospaced face would each add that again. Long lists are plain blocks,
not tables: WeasyPrint lays a thousand-row table out several times slower.
"""

from __future__ import annotations

import html
import logging
import shutil
import subprocess
import tomllib
from functools import cache
from typing import Any

from bot.content.playbook import CONTENT_DIR, LOCALES, ContentError

log = logging.getLogger(__name__)

TEXTS = CONTENT_DIR / "case-documents.toml"
FONT = "Noto Sans CJK SC"

_STYLE = """
@page {{ size: A4; margin: 16mm 14mm 18mm 14mm;
  @bottom-right {{ content: counter(page) " / " counter(pages); font-size: 7pt; color: #555; }} }}
html {{ font-family: "{font}", sans-serif; font-size: 9pt; line-height: 1.35; color: #111; }}
* {{ font-weight: normal; font-style: normal; }}
h1 {{ font-size: 17pt; margin: 0 0 4pt 0; color: #000; }}
h2 {{ font-size: 12pt; margin: 12pt 0 4pt 0; border-bottom: 0.8pt solid #666; color: #000; }}
p {{ margin: 0 0 5pt 0; }}
.muted {{ color: #555; }}
.mono {{ font-size: 7.5pt; word-break: break-all; }}
.row {{ margin: 0 0 3pt 0; padding: 0 0 2pt 0; border-bottom: 0.3pt solid #ccc;
  page-break-inside: avoid; font-size: 7.5pt; }}
.entry {{ font-size: 8pt; }}
.lines {{ white-space: pre-line; }}
.field {{ margin: 0 0 2pt 0; }}
.label {{ color: #444; }}
.box {{ border: 0.6pt solid #888; padding: 5pt; margin: 6pt 0; }}
.thumb {{ float: right; max-width: 32mm; max-height: 32mm; margin: 0 0 2pt 6pt; }}
pre {{ font-family: "{font}", sans-serif; font-size: 7.5pt; white-space: pre-wrap;
  word-break: break-all; margin: 0; }}
.clear {{ clear: both; }}
.cover {{ page-break-after: always; padding-top: 40mm; }}
.cover h1 {{ font-size: 26pt; margin-bottom: 12pt; }}
.cover .field {{ font-size: 11pt; margin-bottom: 5pt; }}
"""


@cache
def document_texts() -> dict[str, dict[str, Any]]:
    """The words of every locale, checked to have the same keys."""
    try:
        with TEXTS.open("rb") as handle:
            raw = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ContentError(f"{TEXTS.name}: {exc}") from exc
    missing = [locale for locale in LOCALES if not isinstance(raw.get(locale), dict)]
    if missing:
        raise ContentError(f"{TEXTS.name}: no texts for {', '.join(missing)}")
    keys = {locale: set(raw[locale]) for locale in LOCALES}
    if len({frozenset(k) for k in keys.values()}) != 1:
        raise ContentError(f"{TEXTS.name}: the locales do not have the same keys")
    return {locale: raw[locale] for locale in LOCALES}


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def field(label: str, value: str, colon: str) -> str:
    """A labelled line; ``colon`` is the language's own (": " or "：")."""
    return (
        f"<div class='field'><span class='label'>{esc(label)}{esc(colon)}</span>{esc(value)}</div>"
    )


def page(locale: str, title: str, body: str) -> str:
    lang = "zh-Hans" if locale.startswith("zh") else "en"
    style = _STYLE.format(font=FONT)
    return (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        f"<title>{esc(title)}</title><style>{style}</style></head><body>{body}</body></html>"
    )


def render_pdf(document: str) -> bytes:
    """The HTML document as PDF bytes, its fonts embedded as subsets."""
    from weasyprint import HTML  # imported here: it loads Pango, which the chat never needs

    _warn_if_fonts_missing()
    pdf = HTML(string=document).write_pdf()
    if pdf is None:
        raise RuntimeError("WeasyPrint wrote no PDF")
    return bytes(pdf)


@cache
def _warn_if_fonts_missing() -> None:
    """Without Noto CJK, Chinese would come out as boxes: say so once, in the log."""
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return
    found = subprocess.run(
        [fc_list, f":family={FONT}", "family"], capture_output=True, text=True, check=False
    )
    if FONT not in found.stdout:
        log.warning(
            "the font %s is not installed (Debian: apt-get install fonts-noto-cjk): "
            "Chinese in PDFs will not show",
            FONT,
        )
