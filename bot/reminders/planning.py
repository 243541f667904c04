"""Planning reminders: which ones a turn creates or ends, and when each is sent.

Pure: no I/O and no clock of its own. The rules:

- An item's `deadline` is a schedule ("24h,7d"): one reminder per entry, each counted
  from the same start. `until_done` items start counting when first shown and their
  reminders end when the item is done or skipped (or leaves the checklist); `after_done`
  items start counting when marked done — check-ins on how it went.
- A reminder is *due* at `remind_at` and *sent* at `fire_at`: remind_at moved out of the
  person's quiet hours, unless it is urgent (an urgent item, or a case with a safety or
  extortion reason), which is never held.
- Snoozing sets a new remind_at: one hour on, or tomorrow morning (the end of quiet hours).
- `delay_factor` shrinks every delay, for demos; 1 in production.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from bot.content.deadlines import (
    Duration,
    QuietHours,
    WorkingDays,
    deliver_at,
    due_at,
    parse_schedule,
    tomorrow_morning,
)
from bot.content.playbook import Playbook
from storage.cases import CaseRecord
from storage.reminders import NewReminder

SNOOZE_HOUR = timedelta(hours=1)
# Sent more than this after its time, a reminder says it is late and when it was due.
LATE_AFTER = timedelta(minutes=1)

UNTIL_DONE = "until_done"
AFTER_DONE = "after_done"

# Reminder buttons are "r:<action>:<id>.<round>", quiet-hours buttons "r:quiet:on|off".
# They carry no prompt number: a reminder's buttons stay valid while the case moves on.
BUTTON_PREFIX = "r:"


class Action(StrEnum):
    DONE = "done"
    HOUR = "hour"
    MORNING = "morning"
    NOT_RELEVANT = "no"


@dataclass(frozen=True)
class Press:
    """A reminder button: what to do, to which reminder, from which copy of its message."""

    action: Action
    reminder_id: int
    rounds: int

    @property
    def data(self) -> str:
        return f"{BUTTON_PREFIX}{self.action}:{self.reminder_id}.{self.rounds}"


@dataclass(frozen=True)
class QuietPress:
    on: bool

    @property
    def data(self) -> str:
        return f"{BUTTON_PREFIX}quiet:{'on' if self.on else 'off'}"


def parse_button(data: str) -> Press | QuietPress | None:
    """A reminder or quiet-hours button, or None for anything malformed."""
    if not data.startswith(BUTTON_PREFIX):
        return None
    verb, _, arg = data[len(BUTTON_PREFIX) :].partition(":")
    if verb == "quiet" and arg in ("on", "off"):
        return QuietPress(arg == "on")
    reminder_id, _, rounds = arg.partition(".")
    if verb not in set(Action) or not (reminder_id.isdigit() and rounds.isdigit()):
        return None
    return Press(Action(verb), int(reminder_id), int(rounds))


@dataclass(frozen=True)
class ReminderPolicy:
    """The deployment's reminder rules, from the playbook and the configuration."""

    zone: ZoneInfo
    quiet: QuietHours
    workdays: WorkingDays
    schedules: Mapping[str, tuple[Duration, ...]]
    modes: Mapping[str, str]
    urgent_items: frozenset[str]
    urgent_reasons: frozenset[str]
    delay_factor: float = 1.0

    @classmethod
    def build(
        cls,
        playbook: Playbook,
        *,
        zone: ZoneInfo,
        quiet: QuietHours,
        overrides: Mapping[str, str],
        delay_factor: float,
        workdays: WorkingDays | None = None,
    ) -> ReminderPolicy:
        """Raises ValueError naming an override for an item the playbook does not have."""
        items = {item.id: item for step in playbook.steps for item in step.items}
        unknown = sorted(set(overrides) - set(items))
        if unknown:
            raise ValueError(f"deadlines.{unknown[0]}: the playbook has no such checklist item")
        specs = {item_id: item.deadline for item_id, item in items.items() if item.deadline}
        specs.update(overrides)
        return cls(
            zone=zone,
            quiet=quiet,
            workdays=workdays or WorkingDays(),
            schedules={item_id: parse_schedule(spec) for item_id, spec in specs.items()},
            modes={item_id: item.remind for item_id, item in items.items()},
            urgent_items=frozenset(item_id for item_id, item in items.items() if item.urgent),
            urgent_reasons=playbook.urgent_reasons,
            delay_factor=delay_factor,
        )

    def knows(self, item_id: str) -> bool:
        return item_id in self.modes

    def quiet_for(self, person_on: bool | None) -> QuietHours:
        """The deployment's quiet hours, unless this person switched theirs off."""
        if person_on is False and self.quiet.enabled:
            return replace(self.quiet, enabled=False)
        return self.quiet

    def is_urgent(self, item_id: str, reasons: Iterable[str]) -> bool:
        return item_id in self.urgent_items or not self.urgent_reasons.isdisjoint(reasons)

    def fire_time(self, remind_at: datetime, *, urgent: bool, quiet: QuietHours) -> datetime:
        return deliver_at(remind_at, self.zone, quiet, urgent)

    def scaled(self, start: datetime, target: datetime) -> datetime:
        return start + (target - start) * self.delay_factor

    def plan_item(
        self, case: CaseRecord, item_id: str, start: datetime, quiet: QuietHours
    ) -> tuple[NewReminder, ...]:
        urgent = self.is_urgent(item_id, case.reasons)
        planned = []
        for follow_up, duration in enumerate(self.schedules.get(item_id, ())):
            remind_at = self.scaled(start, due_at(start, duration, self.zone, self.workdays))
            planned.append(
                NewReminder(
                    case_id=case.id,
                    item_id=item_id,
                    follow_up=follow_up,
                    mode=self.modes[item_id],
                    urgent=urgent,
                    remind_at=remind_at,
                    fire_at=self.fire_time(remind_at, urgent=urgent, quiet=quiet),
                )
            )
        return tuple(planned)

    def snooze_until(self, action: Action, now: datetime, quiet: QuietHours) -> datetime:
        if action is Action.HOUR:
            return self.scaled(now, now + SNOOZE_HOUR)
        return self.scaled(now, tomorrow_morning(now, self.zone, quiet))


@dataclass(frozen=True)
class TurnChanges:
    """What one turn of the flow means for reminders (before the database is asked)."""

    candidates: tuple[str, ...]
    done: tuple[str, ...]
    dropped: tuple[str, ...]
    resumed: bool
    became_urgent: bool

    @property
    def empty(self) -> bool:
        return not (
            self.candidates or self.done or self.dropped or self.resumed or self.became_urgent
        )


def changes_of(
    policy: ReminderPolicy, before: CaseRecord, after: CaseRecord, shown: Iterable[str]
) -> TurnChanges:
    """Items that may need new reminders, items done or dropped, pause and urgency changes.

    `shown` are the items the flow presented in this turn. Candidates still have to be
    checked against the reminders the case already has.
    """
    was = {entry.item_id: entry.state for entry in before.checklist}
    now = {entry.item_id: entry.state for entry in after.checklist}
    left_pending = [item for item, state in was.items() if state == "pending"]
    done = tuple(item for item in left_pending if now.get(item) == "done")
    dropped = tuple(
        item for item in left_pending if now.get(item, "gone") not in ("pending", "done")
    )
    opened = [
        item
        for item in dict.fromkeys(shown)
        if now.get(item) == "pending" and policy.modes.get(item) == UNTIL_DONE
    ]
    followed = [item for item in done if policy.modes.get(item) == AFTER_DONE]
    candidates = tuple(item for item in opened + followed if item in policy.schedules)
    urgent_before = not policy.urgent_reasons.isdisjoint(before.reasons)
    return TurnChanges(
        candidates=candidates,
        done=done,
        dropped=dropped,
        resumed=before.status == "paused" and after.status != "paused",
        became_urgent=not urgent_before and not policy.urgent_reasons.isdisjoint(after.reasons),
    )
