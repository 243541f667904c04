"""Haven's outbound messages as Slack Block Kit: plain-text sections and button rows.

Haven's texts are plain text written for every platform, so they go in `plain_text`
sections: a `*` or `_` in them stays a character instead of turning into formatting. The
top-level `text` is what notifications and screen readers show; Slack reads it as mrkdwn,
so its three control characters are escaped there.

Limits that real Slack enforces and the fake API checks: 3000 characters in a section,
50 blocks in a message, 75 characters on a button, 2000 in its value, 25 buttons in a row.
"""

from __future__ import annotations

from typing import Any

from adapters.text_split import split_text
from bot.events import Button

SECTION_LIMIT = 3000
# Sections per message: well under the 50-block ceiling (button rows need room) and under
# the 40,000 characters at which Slack cuts the notification text.
SECTIONS_PER_MESSAGE = 12
BUTTON_LABEL_LIMIT = 75
BUTTONS_PER_ROW = 25
ACTION_PREFIX = "haven"

Block = dict[str, Any]


def message_pieces(text: str) -> list[list[str]]:
    """The text cut into messages, each a list of section texts."""
    sections = split_text(text, SECTION_LIMIT)
    return [
        sections[at : at + SECTIONS_PER_MESSAGE]
        for at in range(0, len(sections), SECTIONS_PER_MESSAGE)
    ]


def blocks_of(sections: list[str], buttons: tuple[tuple[Button, ...], ...] = ()) -> list[Block]:
    blocks: list[Block] = [
        {"type": "section", "text": {"type": "plain_text", "text": section, "emoji": True}}
        for section in sections
        if section
    ]
    for row_index, row in enumerate(buttons):
        for start in range(0, len(row), BUTTONS_PER_ROW):
            chunk = row[start : start + BUTTONS_PER_ROW]
            blocks.append(
                {
                    "type": "actions",
                    "block_id": f"{ACTION_PREFIX}-row-{row_index}-{start}",
                    "elements": [
                        _button(button, f"{row_index}-{start + n}")
                        for n, button in enumerate(chunk)
                    ],
                }
            )
    return blocks


def fallback_text(sections: list[str]) -> str:
    """The notification text: mrkdwn, so &, < and > are escaped as Slack asks."""
    text = "\n\n".join(sections)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _button(button: Button, place: str) -> Block:
    label = button.label
    if len(label) > BUTTON_LABEL_LIMIT:
        label = label[: BUTTON_LABEL_LIMIT - 1] + "…"
    return {
        "type": "button",
        "text": {"type": "plain_text", "text": label or "·", "emoji": True},
        # action_id must be unique in the message; the core's data travels in `value`.
        "action_id": f"{ACTION_PREFIX}-{place}",
        "value": button.data,
    }
