"""Words for the staff channel: the staff's language, local times, spans, people's names."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.content.playbook import Severity, Texts
from bot.staff.access import Roster


class StaffTexts:
    def __init__(
        self,
        texts: Texts,
        locale: str,
        zone: ZoneInfo,
        roster: Roster,
        mask: Callable[[str], str],
    ) -> None:
        self.texts = texts
        self.locale = locale
        self.zone = zone
        self.roster = roster
        self._mask = mask

    def masked(self, text: str) -> str:
        """Free text shown to staff (notes, reasons), with personal data masked."""
        return self._mask(text)

    def t(self, key: str, /, **fields: object) -> str:
        return self.texts.get(self.locale, key, **fields)

    def victim(self, locale: str, key: str, /, **fields: object) -> str:
        """Words for the victim, in the victim's language."""
        return self.texts.get(locale, key, **fields)

    def span(self, delta: timedelta) -> str:
        if delta < timedelta(minutes=1):  # shortened timeouts of a demo
            return self.t("staff.duration_s", n=max(1, int(delta.total_seconds())))
        minutes = int(delta / timedelta(minutes=1))
        if minutes < 120:
            return self.t("ui.duration_m", n=minutes)
        if minutes < 48 * 60:
            return self.t("ui.duration_h", n=minutes // 60)
        return self.t("ui.duration_d", n=minutes // (24 * 60))

    def step(self, number: int) -> str:
        """Where a case is: its step, or the first questions (step 0)."""
        return self.t("staff.step_n", n=number) if number else self.t("staff.step_triage")

    def at(self, moment: datetime) -> str:
        return moment.astimezone(self.zone).strftime("%Y-%m-%d %H:%M")

    def who(self, actor: str) -> str:
        return self.roster.label(actor)

    def severity(self, severity: str) -> str:
        return self.t(f"severity.{Severity(severity)}")

    def reasons(self, reasons: tuple[str, ...]) -> str:
        """Why a case was raised, about the person (not to them, as the victim reads it)."""
        return self.t("meta.list_separator").join(self._reason(r) for r in reasons) or "—"

    def _reason(self, reason: str) -> str:
        key = f"staff_reason.{reason}"
        return self.t(key if self.texts.has(self.locale, key) else f"reason.{reason}")

    def custody_action(self, action: str) -> str:
        key = f"custody.{action}"
        if self.texts.has(self.locale, key):
            return self.t(key)
        return self.t("custody.other", action=action)

    def actor(self, actor: str) -> str:
        """Who did something in the custody log: a staff member's name, the person, an
        operator at the command line."""
        key = f"custody.actor_{actor}"
        return self.t(key) if self.texts.has(self.locale, key) else self.who(actor)

    def language(self, locale: str) -> str:
        return self.texts.get(locale, "meta.language_name")

    def platform(self, platform: str) -> str:
        """Where the victim talks to Haven ("web chat"); a platform without a name of its
        own (a test backend) by its id."""
        key = f"platform.{platform}"
        return self.t(key) if self.texts.has(self.locale, key) else platform
