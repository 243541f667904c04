"""What the victim reads about reminders, in their language and local time.

Texts are labels that a time or a title follows ("I'll remind you at:" + time), so the
content files need no placeholders for them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.content.deadlines import QuietHours, describe_local
from bot.content.playbook import Texts
from bot.content.prompts import Reply
from bot.events import Button
from bot.reminders.planning import LATE_AFTER, UNTIL_DONE, Action, Press, QuietPress
from storage.reminders import Fired, NewReminder, Reminder

_SEPARATOR = {"zh-CN": "；", "en": "; "}


class ReminderTexts:
    def __init__(self, texts: Texts, zone: ZoneInfo) -> None:
        self.texts = texts
        self.zone = zone

    def t(self, locale: str, key: str) -> str:
        return self.texts.get(locale, f"reminder.{key}")

    def plain(self, locale: str, key: str) -> Reply:
        return Reply(self.t(locale, key))

    def when(self, locale: str, moment: datetime, now: datetime) -> str:
        return describe_local(moment, self.zone, locale, now)

    def title(self, locale: str, item_id: str) -> str:
        return self.texts.get(locale, f"item.{item_id}.title")

    def scheduled(self, locale: str, planned: Sequence[NewReminder], now: datetime) -> Reply:
        """The "I'll remind you at …" line, said when an item's reminders are set."""
        key = "scheduled" if planned[0].mode == UNTIL_DONE else "scheduled_check_in"
        times = _SEPARATOR.get(locale, "; ").join(
            self.when(locale, r.fire_at, now) for r in planned
        )
        text = f"{self.t(locale, key)} {times}"
        if any(r.fire_at != r.remind_at for r in planned):
            text += "\n" + self.t(locale, "after_quiet")
        return Reply(text)

    def message(self, fired: Fired, now: datetime) -> Reply:
        """The reminder itself, with its buttons; late ones say when they were due."""
        locale = fired.locale
        head, hint = (
            ("due", "due_hint") if fired.mode == UNTIL_DONE else ("check_in", "check_in_hint")
        )
        parts = [
            f"{self.t(locale, head)}\n{self.title(locale, fired.item_id)}",
            self.t(locale, hint),
        ]
        if now - fired.fire_at > LATE_AFTER:
            parts.append(f"{self.t(locale, 'late')} {self.when(locale, fired.fire_at, now)}")
        return Reply("\n\n".join(parts), self._buttons(locale, fired.id, fired.rounds))

    def _buttons(
        self, locale: str, reminder_id: int, rounds: int
    ) -> tuple[tuple[Button, ...], ...]:
        def button(key: str, action: Action) -> Button:
            return Button(self.t(locale, key), Press(action, reminder_id, rounds).data)

        return (
            (button("btn_done", Action.DONE), button("btn_hour", Action.HOUR)),
            (
                button("btn_morning", Action.MORNING),
                button("btn_not_relevant", Action.NOT_RELEVANT),
            ),
        )

    def snoozed(self, locale: str, fire_at: datetime, now: datetime) -> Reply:
        return Reply(f"{self.t(locale, 'snoozed')} {self.when(locale, fire_at, now)}")

    def listing(
        self,
        locale: str,
        pending: Sequence[Reminder],
        quiet: QuietHours,
        *,
        offered: bool,
        now: datetime,
    ) -> Reply:
        """`/reminders`: what is coming, and the quiet-hours switch."""
        if pending:
            lines = [self.t(locale, "list_header")]
            lines += [
                f"• {self.when(locale, r.fire_at, now)} · {self.title(locale, r.item_id)}"
                for r in pending
            ]
        else:
            lines = [self.t(locale, "list_empty")]
        status = self.quiet_status(locale, quiet, offered=offered)
        return Reply("\n".join(lines) + "\n\n" + status.text, status.buttons)

    def quiet_status(self, locale: str, quiet: QuietHours, *, offered: bool) -> Reply:
        """Whether quiet hours hold this person's reminders, with a button to switch."""
        if not offered:
            return self.plain(locale, "quiet_unavailable")
        if quiet.enabled:
            hours = f"{quiet.start:%H:%M}–{quiet.end:%H:%M}"
            switch = Button(self.t(locale, "btn_quiet_off"), QuietPress(on=False).data)
            return Reply(f"{self.t(locale, 'quiet_on')} {hours}", ((switch,),))
        switch = Button(self.t(locale, "btn_quiet_on"), QuietPress(on=True).data)
        return Reply(self.t(locale, "quiet_off"), ((switch,),))
