"""Slack's inbound traffic as Slack sends it: Events API callbacks (JSON), block_actions
interactions and slash commands (form-encoded), ready to be signed and posted."""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from tests.fakes.slack_api import TEAM_ID

Json = dict[str, Any]


@dataclass(frozen=True)
class Request:
    """A body and its content type; the fake signs it."""

    body: str
    content_type: str


@dataclass
class Traffic:
    """Makes events with increasing ts and event ids."""

    _ts: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _events: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def ts(self) -> str:
        return f"{int(time.time())}.{next(self._ts):06d}"

    def callback(self, event: Json) -> Request:
        body = {
            "token": "unused-verification-token",
            "team_id": TEAM_ID,
            "api_app_id": "AHAVEN",
            "type": "event_callback",
            "event_id": f"Ev{next(self._events):08d}",
            "event_time": int(time.time()),
            "event": event,
        }
        return Request(json.dumps(body), "application/json")

    def message(self, channel: str, user: str, text: str = "", **extra: Any) -> Json:
        channel_type = "im" if channel.startswith("D") else "channel"
        ts = self.ts()
        return {
            "type": "message",
            "channel": channel,
            "channel_type": channel_type,
            "user": user,
            "text": text,
            "ts": ts,
            "event_ts": ts,
            **extra,
        }

    def shared(
        self,
        channel: str,
        user: str,
        *,
        author: str,
        author_name: str,
        origin: str,
        text: str,
        comment: str = "",
    ) -> Json:
        """A message from #`origin` shared into `channel`, as the share button makes it,
        with the sharer's own `comment` if any."""
        original_ts = "1762180200.000200"
        permalink = "https://haven-test.slack.com/archives/CORIGIN01/p1762180200000200"
        share = {
            "is_msg_unfurl": True,
            "is_share": True,
            "author_id": author,
            "author_name": author_name,
            "author_subname": author_name,
            "channel_id": "CORIGIN01",
            "channel_name": origin,
            "text": text,
            "fallback": f"[November 3rd, 2025] {author_name}: {text}",
            "from_url": permalink,
            "ts": original_ts,
            "footer": f"Posted in #{origin}",
            "mrkdwn_in": ["text"],
        }
        return self.message(channel, user, comment, attachments=[share])

    def file_share(self, channel: str, user: str, file: Json, text: str = "") -> Json:
        return self.message(channel, user, text, subtype="file_share", files=[file])

    def edited(self, original: Json, text: str) -> Json:
        ts = self.ts()
        changed = {**original, "text": text, "edited": {"user": original["user"], "ts": ts}}
        changed.pop("channel", None)
        return {
            "type": "message",
            "subtype": "message_changed",
            "hidden": True,
            "channel": original["channel"],
            "channel_type": original["channel_type"],
            "message": changed,
            "previous_message": original,
            "ts": ts,
            "event_ts": ts,
        }

    def deleted(self, original: Json) -> Json:
        ts = self.ts()
        return {
            "type": "message",
            "subtype": "message_deleted",
            "hidden": True,
            "channel": original["channel"],
            "channel_type": original["channel_type"],
            "deleted_ts": original["ts"],
            "previous_message": original,
            "ts": ts,
            "event_ts": ts,
        }

    def press(self, channel: str, user: str, value: str, message_ts: str = "") -> Request:
        action_ts = self.ts()
        payload = {
            "type": "block_actions",
            "team": {"id": TEAM_ID, "domain": "haven-test"},
            "user": {"id": user, "username": user.lower(), "name": user.lower()},
            "api_app_id": "AHAVEN",
            "token": "unused-verification-token",
            "container": {
                "type": "message",
                "message_ts": message_ts or action_ts,
                "channel_id": channel,
                "is_ephemeral": False,
            },
            "trigger_id": f"trig.{action_ts}",
            "channel": {"id": channel, "name": "directmessage"},
            "response_url": "https://hooks.slack.com/actions/T0HAVEN/1/unused",
            "actions": [
                {
                    "action_id": "haven-0-0",
                    "block_id": "haven-row-0-0",
                    "text": {"type": "plain_text", "text": "·"},
                    "value": value,
                    "type": "button",
                    "action_ts": action_ts,
                }
            ],
        }
        form = urlencode({"payload": json.dumps(payload)})
        return Request(form, "application/x-www-form-urlencoded")

    def command(self, channel: str, user: str, text: str, channel_name: str = "") -> Request:
        form = {
            "token": "unused-verification-token",
            "team_id": TEAM_ID,
            "team_domain": "haven-test",
            "channel_id": channel,
            "channel_name": channel_name or ("directmessage" if channel.startswith("D") else "x"),
            "user_id": user,
            "user_name": user.lower(),
            "command": "/haven",
            "text": text,
            "api_app_id": "AHAVEN",
            "response_url": "https://hooks.slack.com/commands/T0HAVEN/1/unused",
            "trigger_id": f"trig.{self.ts()}",
        }
        return Request(urlencode(form), "application/x-www-form-urlencoded")
