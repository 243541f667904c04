"""Haven's configuration: one TOML file for settings, the environment for secrets.

Why it looks like this:

- Every table is a frozen pydantic model that forbids unknown keys, so a typo such as
  `colour` for `color` is refused at start-up instead of being silently ignored.
- Models are strict: `enabled = "yes"` is not quietly read as true and `user_id = 123`
  is not quietly turned into text. What the file says is what Haven runs with.
- Errors come back as one `ConfigError` line naming the file, the dotted key and what
  was expected, because the person reading it is an operator at a terminal, not a
  Python developer reading a traceback.
- Secrets (bot tokens, signing secrets, the master key) are never read from the file: a
  config file gets copied, pasted into tickets and committed. They come from `HAVEN_*`
  environment variables into `Secrets`, whose repr shows no values.
- Loading only reads: it never creates the data directory or any other file, so a bad
  config leaves the disk exactly as it was.
"""

from __future__ import annotations

import datetime as dt
import difflib
import ipaddress
import json
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

Locale = Literal["zh-CN", "en"]
Platform = Literal["console", "telegram", "slack"]
AdapterName = Literal["console", "telegram", "slack", "web"]
Role = Literal["operator", "admin", "auditor"]

TELEGRAM_TOKEN_ENV = "HAVEN_TELEGRAM_TOKEN"
SLACK_BOT_TOKEN_ENV = "HAVEN_SLACK_BOT_TOKEN"
SLACK_SIGNING_SECRET_ENV = "HAVEN_SLACK_SIGNING_SECRET"
SLACK_APP_TOKEN_ENV = "HAVEN_SLACK_APP_TOKEN"
MASTER_KEY_ENV = "HAVEN_MASTER_KEY"
DATABASE_PASSWORD_ENV = "HAVEN_DATABASE_PASSWORD"
SECRET_ENV_VARS = (
    TELEGRAM_TOKEN_ENV,
    SLACK_BOT_TOKEN_ENV,
    SLACK_SIGNING_SECRET_ENV,
    SLACK_APP_TOKEN_ENV,
    MASTER_KEY_ENV,
    DATABASE_PASSWORD_ENV,
)

DATABASE_SCHEMES = ("sqlite+aiosqlite://", "postgresql+asyncpg://")

_CLOCK_TIME = r"^([01]\d|2[0-3]):[0-5]\d$"
_DURATION = re.compile(r"^(\d+)(m|h|d|wd)$")
_ITEM_ID = re.compile(r"^[a-z_][a-z0-9_]*$")
_CHANNEL = re.compile(r"^[a-z][a-z0-9_]*:\S+$")
_SECRET_KEY = re.compile(
    r"(token|secret|secrets|password|passwd|passphrase|master_key|api_key|private_key)$",
    re.IGNORECASE,
)


class ConfigError(Exception):
    """One line, names the key and what is expected."""


@dataclass(frozen=True)
class Secrets:
    """Credentials from the environment. Values never appear in repr, logs or errors."""

    telegram_token: str | None = field(default=None, repr=False)
    slack_bot_token: str | None = field(default=None, repr=False)
    slack_signing_secret: str | None = field(default=None, repr=False)
    slack_app_token: str | None = field(default=None, repr=False)
    master_key: str | None = field(default=None, repr=False)
    database_password: str | None = field(default=None, repr=False)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Secrets:
        """An empty variable counts as unset: `export X=` is how people clear one."""

        def get(name: str) -> str | None:
            return environ.get(name) or None

        return cls(
            telegram_token=get(TELEGRAM_TOKEN_ENV),
            slack_bot_token=get(SLACK_BOT_TOKEN_ENV),
            slack_signing_secret=get(SLACK_SIGNING_SECRET_ENV),
            slack_app_token=get(SLACK_APP_TOKEN_ENV),
            master_key=get(MASTER_KEY_ENV),
            database_password=get(DATABASE_PASSWORD_ENV),
        )


# --- value checks shared by several tables --------------------------------------------


def _time_as_text(value: object) -> object:
    """Accept a bare TOML time (`time = 09:00`) as well as the string "09:00"."""
    if isinstance(value, dt.time) and value.second == 0 and value.microsecond == 0:
        return value.strftime("%H:%M")
    return value


def _host_port(value: str) -> str:
    """`host:port` for a listening socket; IPv6 hosts go in brackets ([::1]:8443)."""
    host, sep, port = value.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if sep and host and port.isdigit() and 1 <= int(port) <= 65535:
        return value
    raise ValueError(f'expected "host:port" such as "127.0.0.1:8443", got {_show(value)}')


def _http_url(value: str) -> str:
    if value.startswith(("http://", "https://")):
        return value
    raise ValueError(f"expected a URL starting with http:// or https://, got {_show(value)}")


def _duration(value: object) -> object:
    """Deadlines: minutes, hours, days or working days ("15wd" skips weekends/holidays)."""
    match = _DURATION.match(value) if isinstance(value, str) else None
    if match and 0 < int(match.group(1)) <= _DURATION_CEILINGS[match.group(2)]:
        return value
    raise ValueError(
        'expected a duration such as "30m", "24h", "3d" or "15wd" (working days) '
        f"of at most {MAX_YEARS} years, got {_show(value)}"
    )


def _item_id(value: str) -> str:
    if _ITEM_ID.match(value):
        return value
    raise ValueError(
        "is not a playbook item id (expected lowercase letters, digits and _, "
        "not starting with a digit)"
    )


def _channel(value: str) -> str:
    if value.startswith("web:"):
        raise ValueError("the web chat is for victims only: staff channels are on other platforms")
    if _CHANNEL.match(value):
        return value
    raise ValueError(
        'expected "platform:chat_id" such as "console:staff" or "slack:C0123456789", '
        f"got {_show(value)}"
    )


ClockTime = Annotated[str, BeforeValidator(_time_as_text), Field(pattern=_CLOCK_TIME)]
HostPort = Annotated[str, AfterValidator(_host_port)]
HttpUrl = Annotated[str, AfterValidator(_http_url)]
Duration = Annotated[str, BeforeValidator(_duration)]
ItemId = Annotated[str, AfterValidator(_item_id)]
Channel = Annotated[str, AfterValidator(_channel)]

# Every number in the file has a ceiling, so that none can overflow a date, a timer or a
# buffer once Haven runs (`inf`, or 10**30 minutes, would pass "> 0" and crash later). A
# field's ceiling follows the unit its name ends in; a field may set a tighter `le`.
MAX_YEARS = 100
_DAYS = 36_525  # MAX_YEARS
_UNIT_CEILINGS = (
    ("_seconds", _DAYS * 86_400),
    ("_minutes", _DAYS * 1_440),
    ("_hours", _DAYS * 24),
    ("_days", _DAYS),
    ("_bytes", 1 << 40),
    ("_ids", (1 << 63) - 1),
)
_DURATION_CEILINGS = {"m": _DAYS * 1_440, "h": _DAYS * 24, "d": _DAYS, "wd": _DAYS}
_COUNT_CEILING = 1_000_000_000


def _ceiling(field_name: str) -> int:
    for suffix, ceiling in _UNIT_CEILINGS:
        if field_name.endswith(suffix):
            return ceiling
    return _COUNT_CEILING


def _numbers_in(value: object) -> list[int | float]:
    if isinstance(value, bool):
        return []
    if isinstance(value, int | float):
        return [value]
    if isinstance(value, list | tuple):
        return [number for item in value for number in _numbers_in(item)]
    return []


_HH_MM = 'a time of day "HH:MM" between "00:00" and "23:59"'
_POSITIVE_INT = "an integer >= 1"
_POSITIVE_NUMBER = "a number > 0"


def split_duration(text: str) -> tuple[int, str]:
    """ "15wd" → (15, "wd"). For code that turns a validated deadline into a due time."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"not a duration: {text!r}")
    return int(match.group(1)), match.group(2)


# --- the tables -----------------------------------------------------------------------


class _Table(BaseModel):
    """Frozen, no unknown keys, no silent type conversion."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)

    @field_validator("*", mode="after")
    @classmethod
    def _bounded(cls, value: object, info: ValidationInfo) -> object:
        ceiling = _ceiling(info.field_name or "")
        for number in _numbers_in(value):
            if abs(number) > ceiling:
                raise ValueError(f"expected a number of at most {ceiling:,}, got {_show(number)}")
        return value


class Contact(_Table):
    """A phone line shown to victims: emergency numbers and support hotlines."""

    name: str = Field(min_length=1, description="a non-empty name")
    number: str = Field(min_length=1, description='the number as a string, such as "110"')
    hours: str = Field(default="", description='a string such as "24h" or "Mon-Fri 9:00-18:00"')
    note: str = Field(default="", description="a string")


def _cn_emergency_numbers() -> list[Contact]:
    """The national numbers from the legal reference; the right default only inside CN."""
    return [
        Contact(name="报警 / Police", number="110"),
        Contact(name="急救 / Ambulance", number="120"),
    ]


class Storage(_Table):
    database_url: str = Field(
        default="",
        description='"" for SQLite in data_dir, or a sqlite+aiosqlite:// or '
        "postgresql+asyncpg:// URL",
    )

    @field_validator("database_url")
    @classmethod
    def _known_driver_no_password(cls, value: str) -> str:
        """The URL is never echoed back: it may hold a host name worth keeping private."""
        if value and not value.startswith(DATABASE_SCHEMES):
            raise ValueError(
                '"" (SQLite in data_dir) or a URL starting with sqlite+aiosqlite:// '
                "or postgresql+asyncpg:// is expected"
            )
        if value and urlsplit(value).password is not None:
            raise ValueError(
                "the URL holds a password; secrets are not read from the config file: "
                f"remove it and set {DATABASE_PASSWORD_ENV} in the environment "
                "(or name a libpq service file entry with ?service=)"
            )
        return value

    # The path, never the key: the file itself is created 0600 and read only by Haven.
    master_key_file: str = Field(
        default="",
        description='"" for master.key in data_dir, or the path of the master key file',
    )

    @field_validator("master_key_file")
    @classmethod
    def _absolute_key_path(cls, value: str) -> str:
        """Pinned to the working directory now, as data_dir is, so a chdir cannot move it."""
        if not value:
            return value
        path = Path(value).expanduser()
        return str(path if path.is_absolute() else Path.cwd() / path)


class Retention(_Table):
    closed_case_days: int = Field(default=180, ge=1, description=_POSITIVE_INT)


class Limits(_Table):
    max_text_chars: int = Field(default=4000, ge=1, description=_POSITIVE_INT)
    max_item_bytes: int = Field(
        default=20 * 1024 * 1024, ge=1, description=f"{_POSITIVE_INT} (bytes)"
    )
    max_case_bytes: int = Field(
        default=500 * 1024 * 1024, ge=1, description=f"{_POSITIVE_INT} (bytes)"
    )
    flood_messages: int = Field(default=30, ge=1, description=_POSITIVE_INT)
    flood_window_seconds: int = Field(default=60, ge=1, description=_POSITIVE_INT)
    # Evidence (forwards, files) is never dropped: past these it is kept more slowly.
    evidence_items_per_minute: int = Field(
        default=300, ge=1, le=100_000, description="a whole number from 1 to 100000"
    )
    evidence_bytes_per_minute: int = Field(
        default=500 * 1024 * 1024,
        ge=1024 * 1024,
        le=1024**4,
        description="a whole number of bytes from 1048576 (1 MiB) to 1099511627776 (1 TiB)",
    )

    @model_validator(mode="after")
    def _item_fits_in_case(self) -> Limits:
        if self.max_item_bytes > self.max_case_bytes:
            raise ValueError("max_item_bytes must not be larger than max_case_bytes")
        return self


class Support(_Table):
    emergency_numbers: list[Contact] = Field(
        default_factory=list, description="a list of { name, number, hours, note } tables"
    )
    # Deliberately empty: a wrong or dead hotline number is worse than none.
    hotlines: list[Contact] = Field(
        default_factory=list, description="a list of { name, number, hours, note } tables"
    )
    organisation_contact: str = Field(default="", description="a string")


class ConsoleSettings(_Table):
    staff_user: str = Field(default="staff", min_length=1, description="a non-empty string")
    staff_role: Role = Field(default="admin", description='"operator", "admin" or "auditor"')
    victim_user: str = Field(default="victim", min_length=1, description="a non-empty string")
    color: Literal["auto", "always", "never"] = Field(
        default="auto", description='"auto", "always" or "never"'
    )

    @model_validator(mode="after")
    def _two_people(self) -> ConsoleSettings:
        if self.staff_user == self.victim_user:
            raise ValueError("staff_user and victim_user must be different users")
        return self


class TelegramSettings(_Table):
    mode: Literal["polling", "webhook"] = Field(
        default="polling", description='"polling" or "webhook"'
    )
    staff_chat_ids: list[int] = Field(
        default_factory=list, description="a list of integer chat ids, such as [-1001234567890]"
    )
    api_base_url: HttpUrl = Field(default="https://api.telegram.org/bot", description="a URL")
    file_base_url: HttpUrl = Field(default="https://api.telegram.org/file/bot", description="a URL")
    webhook_listen: HostPort = Field(default="127.0.0.1:8443", description='"host:port"')
    webhook_url: str = Field(default="", description="an https:// URL, or empty for polling")
    rate_global_per_second: float = Field(default=30, gt=0, description=_POSITIVE_NUMBER)
    rate_per_chat_per_second: float = Field(default=1, gt=0, description=_POSITIVE_NUMBER)
    rate_per_group_per_minute: float = Field(default=20, gt=0, description=_POSITIVE_NUMBER)
    # api.telegram.org hands out files up to 20 MB; a self-hosted Bot API server lifts it.
    max_download_bytes: int = Field(
        default=20_000_000, ge=1, description=f"{_POSITIVE_INT} (bytes)"
    )

    @model_validator(mode="after")
    def _webhook_needs_public_https_url(self) -> TelegramSettings:
        """Telegram only delivers webhooks to HTTPS; catching it here beats a silent bot."""
        if self.webhook_url and not self.webhook_url.startswith("https://"):
            raise ValueError("webhook_url must start with https:// (Telegram requires HTTPS)")
        if self.mode == "webhook" and not self.webhook_url:
            raise ValueError(
                'webhook_url is required when mode = "webhook" '
                "(the public https:// address Telegram posts to)"
            )
        return self


class SlackSettings(_Table):
    mode: Literal["http", "socket"] = Field(default="http", description='"http" or "socket"')
    listen: HostPort = Field(default="127.0.0.1:3000", description='"host:port"')
    api_base_url: HttpUrl = Field(default="https://slack.com/api/", description="a URL ending in /")
    staff_channels: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=list, description='a list of channel ids, such as ["C0123456789"]'
    )
    rate_per_channel_per_second: float = Field(default=1, gt=0, description=_POSITIVE_NUMBER)

    @field_validator("api_base_url")
    @classmethod
    def _ends_with_slash(cls, value: str) -> str:
        """Method names are appended to it ("chat.postMessage"), so the slash matters."""
        if not value.endswith("/"):
            raise ValueError(f'expected a URL ending in "/", got {_show(value)}')
        return value


def _ip_address(value: str) -> str:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(f"expected an IP address such as 127.0.0.1, got {_show(value)}") from None
    return value


IpAddress = Annotated[str, AfterValidator(_ip_address)]


def _local_proxies() -> list[str]:
    return ["127.0.0.1", "::1"]


# As VAPID libraries accept it (py_vapid): an address, or an https site with no path.
_PUSH_CONTACT = re.compile(r"^(mailto:[^@\s]+@[\w-]+(\.[\w-]+)+|https://[\w-]+(\.[\w-]+)+)$")
_HTTP_ORIGIN = re.compile(r"^http://[^/\s]+$")


class WebSettings(_Table):
    """The web chat (adapters/web); files are limited by limits.max_item_bytes."""

    listen: HostPort = Field(default="127.0.0.1:8080", description='"host:port"')
    quick_exit_url: HttpUrl = Field(default="https://www.baidu.com/", description="a URL")
    idle_minutes: float = Field(default=30, gt=0, description=_POSITIVE_NUMBER)
    trusted_proxies: list[IpAddress] = Field(
        default_factory=_local_proxies, description='a list of IP addresses, such as ["127.0.0.1"]'
    )
    requests_per_minute: int = Field(default=120, ge=1, description=_POSITIVE_INT)
    request_burst: int = Field(default=60, ge=1, description=_POSITIVE_INT)
    new_chats_per_hour: int = Field(default=10, ge=1, description=_POSITIVE_INT)
    messages_per_minute: int = Field(default=30, ge=1, description=_POSITIVE_INT)
    connections_per_address: int = Field(default=20, ge=1, description=_POSITIVE_INT)
    max_connections: int = Field(default=5000, ge=1, description=_POSITIVE_INT)
    max_uploads: int = Field(default=8, ge=1, description=_POSITIVE_INT)
    free_guesses: int = Field(default=5, ge=1, description=_POSITIVE_INT)
    guess_backoff_seconds: float = Field(default=2, gt=0, description=_POSITIVE_NUMBER)
    guess_backoff_cap_seconds: float = Field(default=3600, gt=0, description=_POSITIVE_NUMBER)
    poll_seconds: float = Field(default=25, gt=0, le=60, description="a number above 0, at most 60")
    push: bool = Field(default=False, description="true or false")
    push_contact: str = Field(
        default="", description='"mailto:" and an address, or "https://" and a host'
    )
    push_http_origins: list[str] = Field(
        default_factory=list, description='a list of origins such as ["http://127.0.0.1:9999"]'
    )

    @model_validator(mode="after")
    def _push_needs_a_contact(self) -> WebSettings:
        if self.push and not _PUSH_CONTACT.match(self.push_contact):
            raise ValueError(
                'push_contact is required when push = true: "mailto:" and an address, or '
                '"https://" and a host, where push services can reach the operator'
            )
        for origin in self.push_http_origins:
            if not _HTTP_ORIGIN.match(origin):
                raise ValueError(
                    f'push_http_origins: expected an origin such as "http://127.0.0.1:9999", '
                    f"got {_show(origin)}"
                )
        return self


def _console_only() -> list[AdapterName]:
    """The embedded default: works with no platform account at all."""
    return ["console"]


class Adapters(_Table):
    enabled: list[AdapterName] = Field(
        default_factory=_console_only,
        min_length=1,
        description='a non-empty list from "console", "telegram", "slack" and "web"',
    )
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)
    telegram: TelegramSettings = Field(default_factory=TelegramSettings)
    slack: SlackSettings = Field(default_factory=SlackSettings)
    web: WebSettings = Field(default_factory=WebSettings)

    @field_validator("enabled")
    @classmethod
    def _no_duplicates(cls, value: list[AdapterName]) -> list[AdapterName]:
        for name in value:
            if value.count(name) > 1:
                raise ValueError(f'"{name}" is listed more than once')
        return value


class StaffMember(_Table):
    platform: Platform = Field(description='"console", "telegram" or "slack"')
    user_id: str = Field(
        min_length=1, description='the user id as a string in quotes, such as "123456789"'
    )
    role: Role = Field(description='"operator", "admin" or "auditor"')
    name: str = Field(default="", description="a string")
    # What a victim sees when this person talks with them: never the platform handle.
    display_name: str = Field(
        default="", max_length=40, description="a string of 40 characters at most"
    )
    totp_secret_env: str = Field(
        default="",
        pattern=r"^([A-Z_][A-Z0-9_]*)?$",
        description='the NAME of an environment variable such as "HAVEN_TOTP_ALICE" '
        "(never the secret itself)",
    )


class EscalationLevel(_Table):
    channels: list[Channel] = Field(
        min_length=1, description='a non-empty list of "platform:chat_id" strings'
    )
    timeout_minutes: float = Field(default=30, gt=0, description=_POSITIVE_NUMBER)
    repeat_minutes: float = Field(default=30, gt=0, description=_POSITIVE_NUMBER)


def _default_levels() -> list[EscalationLevel]:
    return [EscalationLevel(channels=["console:staff"], timeout_minutes=30, repeat_minutes=30)]


class Escalation(_Table):
    threshold: Literal["normal", "high", "critical"] = Field(
        default="high", description='"normal", "high" or "critical"'
    )
    # At least one level: a serious case must always reach somebody.
    levels: list[EscalationLevel] = Field(
        default_factory=_default_levels,
        min_length=1,
        description="at least one [[escalation.levels]] table",
    )


class Briefing(_Table):
    time: ClockTime = Field(default="09:00", description=_HH_MM)
    enabled: bool = Field(default=True, description="true or false")
    victim_progress_notes: bool = Field(default=False, description="true or false")

    @property
    def time_of_day(self) -> dt.time:
        """When the daily briefing is posted, in `Config.tz`."""
        return dt.time.fromisoformat(self.time)


class Retrieval(_Table):
    """Four-eyes access to a victim's evidence by the staff."""

    expires_hours: float = Field(default=24, gt=0, description=_POSITIVE_NUMBER)


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = get_args(Weekday)


class Handoff(_Table):
    """A staff member talking with a victim through Haven once they take a case."""

    relay: Literal["dm", "thread"] = Field(default="dm", description='"dm" or "thread"')
    answer_minutes: float = Field(default=15, gt=0, description=_POSITIVE_NUMBER)
    pause_reminders: bool = Field(default=True, description="true or false")
    staffed_from: ClockTime = Field(default="00:00", description=_HH_MM)
    staffed_until: ClockTime = Field(default="00:00", description=_HH_MM)
    staffed_days: list[Weekday] = Field(
        default_factory=lambda: list(WEEKDAYS),
        min_length=1,
        description='a non-empty list of "mon" … "sun"',
    )

    def staffed_at(self, moment: dt.datetime) -> bool:
        """Whether someone is expected to be on duty at a local moment; equal from and
        until mean the whole day, and the span may cross midnight."""
        if WEEKDAYS[moment.weekday()] not in self.staffed_days:
            return False
        start = dt.time.fromisoformat(self.staffed_from)
        end = dt.time.fromisoformat(self.staffed_until)
        now = moment.time()
        if start == end:
            return True
        if start < end:
            return start <= now < end
        return now >= start or now < end


class Reminders(_Table):
    quiet_hours_start: ClockTime = Field(default="22:00", description=_HH_MM)
    quiet_hours_end: ClockTime = Field(default="08:00", description=_HH_MM)
    quiet_hours_enabled: bool = Field(default=True, description="true or false")
    # For demos and trying Haven out: 0.001 turns a 30-minute deadline into 1.8 seconds.
    delay_factor: float = Field(
        default=1.0, gt=0, le=1, description="a number above 0 and at most 1"
    )

    @model_validator(mode="after")
    def _start_differs_from_end(self) -> Reminders:
        """Equal ends are ambiguous (never quiet? always quiet?), so ask for the switch."""
        if self.quiet_hours_enabled and self.quiet_hours_start == self.quiet_hours_end:
            raise ValueError(
                "quiet_hours_start and quiet_hours_end are equal; "
                "set quiet_hours_enabled = false to turn quiet hours off"
            )
        return self

    @property
    def quiet_start(self) -> dt.time:
        return dt.time.fromisoformat(self.quiet_hours_start)

    @property
    def quiet_end(self) -> dt.time:
        return dt.time.fromisoformat(self.quiet_hours_end)

    def is_quiet(self, moment: dt.time) -> bool:
        """Whether a local time falls in the quiet hours; the span may cross midnight."""
        if not self.quiet_hours_enabled:
            return False
        start, end = self.quiet_start, self.quiet_end
        if start < end:
            return start <= moment < end
        return moment >= start or moment < end


class Signals(_Table):
    """Danger signals in what victims write (README, "Danger signals")."""

    # When the classifier is unsure, Haven asks the person directly ("are you thinking
    # about ending your life?"); with no answer after this long, the staff get a
    # lower-priority alert.
    unanswered_alert_minutes: float = Field(default=15, gt=0, description=_POSITIVE_NUMBER)
    # After a "no" to the direct question, words it is unsure of again within this many
    # hours are not asked about again (asking after every message would say "we don't
    # believe you"); the staff are told instead. Clear words are answered at once, ever.
    ask_again_after_hours: float = Field(default=24, gt=0, description=_POSITIVE_NUMBER)


class Search(_Table):
    # Text inside pictures is searchable only with text recognition (OCR). This build has
    # no OCR engine, so the switch refuses to be turned on rather than pretend: searches
    # say how many pictures they could not look into.
    ocr: bool = Field(default=False, description="false (OCR is not available in this build)")

    @field_validator("ocr")
    @classmethod
    def _ocr_available(cls, value: bool) -> bool:
        if value:
            raise ValueError(
                "text recognition (OCR) is not available in this build of Haven; "
                "set ocr = false (searches then say that pictures were not searched)"
            )
        return value


_ORIGIN = re.compile(r"^[^\s+\x00-\x1f\x7f]{1,255}$")


class Evidence(_Table):
    """How the evidence log presents itself to others, and who vouches for its time."""

    log_origin: str = Field(
        default="",
        description='"" (haven/ and the first 16 hex digits of the log key\'s fingerprint) '
        "or a name such as haven.example.org/evidence: no spaces or '+', at most 255 characters",
    )
    tsa_urls: list[str] = Field(
        default_factory=list,
        max_length=8,
        description="a list of at most 8 http:// or https:// URLs of RFC 3161 "
        "time-stamping authorities",
    )
    tsa_timeout_seconds: float = Field(
        default=10.0, gt=0, le=300, description="a number above 0 and at most 300"
    )

    @field_validator("log_origin")
    @classmethod
    def _origin_is_a_key_name(cls, value: str) -> str:
        if value and not _ORIGIN.fullmatch(value):
            raise ValueError("no spaces, '+' or control characters, at most 255 characters")
        return value

    @field_validator("tsa_urls")
    @classmethod
    def _http_urls(cls, value: list[str]) -> list[str]:
        for url in value:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > 512:
                raise ValueError(f"{_show(url)} is not an http:// or https:// URL")
        if len(set(value)) != len(value):
            raise ValueError("a URL is listed twice")
        return value


class Outbox(_Table):
    """Retries of outbound messages; rate budgets are per adapter, in [adapters.*]."""

    attempts: int = Field(default=6, ge=1, description=_POSITIVE_INT)
    backoff_base_seconds: float = Field(default=1.0, gt=0, description=_POSITIVE_NUMBER)
    backoff_cap_seconds: float = Field(default=300.0, gt=0, description=_POSITIVE_NUMBER)

    @model_validator(mode="after")
    def _cap_not_below_base(self) -> Outbox:
        if self.backoff_cap_seconds < self.backoff_base_seconds:
            raise ValueError("backoff_cap_seconds must not be smaller than backoff_base_seconds")
        return self


class Health(_Table):
    """Health checks for a load balancer: /healthz and /readyz (adapters/health.py)."""

    listen: str = Field(
        default="", description='"" (no health listener) or "host:port" such as "0.0.0.0:8081"'
    )

    @field_validator("listen")
    @classmethod
    def _off_or_address(cls, value: str) -> str:
        return _host_port(value) if value else value


class Config(_Table):
    """The whole configuration. Build it with `load_config` or `default_config`."""

    data_dir: Path = Field(
        default=Path("./data"),
        strict=False,
        validate_default=True,
        description="a directory path as a string",
    )
    default_locale: Locale = Field(default="zh-CN", description='"zh-CN" or "en"')
    timezone: str = Field(default="Asia/Shanghai", description="an IANA time zone name")
    jurisdiction: str = Field(
        default="CN",
        pattern=r"^[A-Z]{2}$",
        description='a two-letter ISO 3166 country code in capitals, such as "CN"',
    )
    storage: Storage = Field(default_factory=Storage)
    retention: Retention = Field(default_factory=Retention)
    limits: Limits = Field(default_factory=Limits)
    support: Support = Field(default_factory=Support)
    adapters: Adapters = Field(default_factory=Adapters)
    staff: list[StaffMember] = Field(default_factory=list, description="a list of [[staff]] tables")
    escalation: Escalation = Field(default_factory=Escalation)
    briefing: Briefing = Field(default_factory=Briefing)
    retrieval: Retrieval = Field(default_factory=Retrieval)
    handoff: Handoff = Field(default_factory=Handoff)
    reminders: Reminders = Field(default_factory=Reminders)
    outbox: Outbox = Field(default_factory=Outbox)
    search: Search = Field(default_factory=Search)
    health: Health = Field(default_factory=Health)
    evidence: Evidence = Field(default_factory=Evidence)
    signals: Signals = Field(default_factory=Signals)
    deadlines: dict[ItemId, Duration] = Field(
        default_factory=dict, description='a table of item_id = "duration"'
    )
    # Filled from the environment by load_config; the file can never set it.
    secrets: Secrets = Field(default_factory=Secrets, repr=False, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _emergency_numbers_for_jurisdiction(cls, data: Any) -> Any:
        """110/120 are right in CN and wrong anywhere else, so default them only there."""
        if not isinstance(data, dict) or data.get("jurisdiction", "CN") != "CN":
            return data
        support = data.get("support")
        if support is None:
            return {**data, "support": {"emergency_numbers": _cn_emergency_numbers()}}
        if isinstance(support, dict) and "emergency_numbers" not in support:
            return {**data, "support": {**support, "emergency_numbers": _cn_emergency_numbers()}}
        if isinstance(support, Support) and "emergency_numbers" not in support.model_fields_set:
            patched = support.model_copy(update={"emergency_numbers": _cn_emergency_numbers()})
            return {**data, "support": patched}
        return data

    @model_validator(mode="after")
    def _someone_to_call(self) -> Config:
        """Anyone in danger is shown these numbers; an empty list would show them nothing."""
        if self.support.emergency_numbers:
            return self
        if self.jurisdiction == "CN":
            raise ValueError(
                "support.emergency_numbers is empty: Haven shows these numbers to anyone in "
                "danger; leave the key out for 110 and 120, or list the numbers to show"
            )
        raise ValueError(
            f'support.emergency_numbers: jurisdiction "{self.jurisdiction}" has no default '
            "emergency numbers, and Haven shows them to anyone in danger: list your local "
            'ones, such as { name = "Emergency services", number = "…" }'
        )

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        """Pin relative paths to the working directory now, so a later chdir cannot move
        the data. Only computes the path: nothing is created or even looked at."""
        path = value.expanduser()
        return path if path.is_absolute() else Path.cwd() / path

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{_show(value)} is not a known time zone "
                "(expected an IANA name such as Asia/Shanghai)"
            ) from None
        return value

    @field_validator("staff")
    @classmethod
    def _one_entry_per_person(cls, value: list[StaffMember]) -> list[StaffMember]:
        """Two entries for one account would leave its role ambiguous."""
        seen: set[tuple[str, str]] = set()
        for member in value:
            key = (member.platform, member.user_id)
            if key in seen:
                raise ValueError(f'{member.platform} user "{member.user_id}" is listed twice')
            seen.add(key)
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def database_url(self) -> str:
        """The SQLAlchemy URL: the configured one, or SQLite inside the data directory."""
        if self.storage.database_url:
            return self.storage.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'haven.db').as_posix()}"

    def missing_secrets(self) -> list[str]:
        """One message per environment variable an enabled adapter needs but lacks."""
        wanted: list[tuple[str, str, str | None]] = []
        enabled = self.adapters.enabled
        if "telegram" in enabled:
            wanted.append(('"telegram"', TELEGRAM_TOKEN_ENV, self.secrets.telegram_token))
        if "slack" in enabled:
            slack = f'"slack" ({self.adapters.slack.mode} mode)'
            wanted.append((slack, SLACK_BOT_TOKEN_ENV, self.secrets.slack_bot_token))
            if self.adapters.slack.mode == "http":
                wanted.append((slack, SLACK_SIGNING_SECRET_ENV, self.secrets.slack_signing_secret))
            else:
                wanted.append((slack, SLACK_APP_TOKEN_ENV, self.secrets.slack_app_token))
        return [
            f"adapters.enabled: {adapter} is enabled but {variable} is not set in the environment"
            for adapter, variable, value in wanted
            if not value
        ]

    def with_adapters(self, enabled: Sequence[str]) -> Config:
        """The same config starting only these adapters (`haven run --adapter`), re-checked:
        a plain model_copy would skip validation and the secrets check."""
        try:
            adapters = Adapters.model_validate(
                {**self.adapters.model_dump(), "enabled": list(enabled)}
            )
        except ValidationError as exc:
            raise ConfigError(_format_errors(exc, prefix=("adapters",))) from exc
        config = self.model_copy(update={"adapters": adapters})
        _require_secrets(config, where="")
        return config


# --- loading --------------------------------------------------------------------------


def load_config(
    path: Path | None,
    *,
    data_dir_override: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Read and check the config; raise ConfigError with one line if anything is wrong.

    `path=None` gives the defaults. `environ` defaults to `os.environ` (tests pass their
    own). Nothing on disk is created or modified, whatever the outcome.
    """
    data = {} if path is None else _read_toml(path)
    where = "" if path is None else f"{path}: "
    secret_keys = _secret_keys(data, ())
    if secret_keys:
        raise ConfigError(where + "; ".join(secret_keys))
    if data_dir_override is not None:
        data["data_dir"] = data_dir_override
    data["secrets"] = Secrets.from_environ(os.environ if environ is None else environ)
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(where + _format_errors(exc)) from exc
    _require_secrets(config, where)
    return config


def default_config() -> Config:
    """All defaults and no secrets, without reading any file or the environment."""
    return load_config(None, environ={})


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a config file") from None
    except PermissionError:
        raise ConfigError(f"{path}: cannot read the config file (permission denied)") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not valid TOML: the file is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        # The message already ends with "(at line N, column M)".
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def _require_secrets(config: Config, where: str) -> None:
    missing = config.missing_secrets()
    if missing:
        raise ConfigError(where + "; ".join(missing))


def _secret_keys(value: object, loc: tuple[str | int, ...]) -> list[str]:
    """Every secret-looking key anywhere in the file, with where its value should live."""
    problems: list[str] = []
    if isinstance(value, list):
        for index, item in enumerate(value):
            problems += _secret_keys(item, (*loc, index))
    if not isinstance(value, dict):
        return problems
    for key, item in value.items():
        here = (*loc, key)
        if _SECRET_KEY.search(key):
            problems.append(
                f"{_dotted(here)}: secrets are not read from the config file; "
                f"{_where_secret_goes(here)}"
            )
        else:
            problems += _secret_keys(item, here)
    return problems


def _where_secret_goes(loc: tuple[str | int, ...]) -> str:
    key = str(loc[-1]).lower()
    if key == "master_key":
        return f"set {MASTER_KEY_ENV} in the environment"
    if loc[0] == "storage":
        return f"set {DATABASE_PASSWORD_ENV} in the environment"
    if "telegram" in loc:
        return f"set {TELEGRAM_TOKEN_ENV} in the environment"
    if "slack" in loc:
        if "signing" in key or key == "secret":
            return f"set {SLACK_SIGNING_SECRET_ENV} in the environment"
        if "app" in key:
            return f"set {SLACK_APP_TOKEN_ENV} in the environment"
        return f"set {SLACK_BOT_TOKEN_ENV} in the environment"
    if loc[0] == "staff":
        return "put it in an environment variable and give that variable's name in totp_secret_env"
    return "set it in the environment (" + ", ".join(SECRET_ENV_VARS) + ")"


# --- turning pydantic errors into one line --------------------------------------------

_TYPE_EXPECTATIONS = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "string_type": "a string in quotes",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list [...]",
    "dict_type": "a table",
    "model_type": "a table",
    "model_attributes_type": "a table",
    "path_type": "a path as a string",
    "string_too_short": "a non-empty string",
}


def _format_errors(exc: ValidationError, prefix: tuple[str | int, ...] = ()) -> str:
    return "; ".join(_describe(error, prefix) for error in exc.errors())


def _describe(error: ErrorDetails, prefix: tuple[str | int, ...]) -> str:
    loc = (*prefix, *(part for part in error["loc"] if part != "[key]"))
    where = f"{_dotted(loc)}: " if loc else ""
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"{where}unknown key{_suggestion(loc)}"
    if kind == "missing":
        return f"{where}required key is missing"
    if kind == "value_error":
        return where + error["msg"].removeprefix("Value error, ")
    expected = _field_expectation(loc) or _type_expectation(error)
    return f"{where}expected {expected}, got {_show(error['input'])}"


def _type_expectation(error: ErrorDetails) -> str:
    ctx = error.get("ctx", {})
    kind = error["type"]
    if kind == "literal_error":
        return "one of " + str(ctx.get("expected", "")).replace("'", '"')
    if kind == "greater_than_equal":
        return f"a number >= {ctx.get('ge')}"
    if kind == "greater_than":
        return f"a number > {ctx.get('gt')}"
    if kind == "too_short":
        return f"at least {ctx.get('min_length')} item(s)"
    if kind == "string_pattern_mismatch":
        return f"text matching {ctx.get('pattern')}"
    return _TYPE_EXPECTATIONS.get(kind, error["msg"].lower())


def _field_expectation(loc: tuple[str | int, ...]) -> str | None:
    """The `description` of the field the error is about, when it ends on a named key."""
    if not loc or not isinstance(loc[-1], str):
        return None
    parent = _model_at(loc[:-1])
    info = parent.model_fields.get(loc[-1]) if parent else None
    return info.description if info else None


def _suggestion(loc: tuple[str | int, ...]) -> str:
    parent = _model_at(loc[:-1])
    if parent is None or not isinstance(loc[-1], str):
        return ""
    known = [name for name in parent.model_fields if name != "secrets"]
    close = difflib.get_close_matches(loc[-1], known, n=1, cutoff=0.75)
    return f' (did you mean "{close[0]}"?)' if close else ""


def _model_at(loc: tuple[str | int, ...]) -> type[BaseModel] | None:
    """Follow a location through the nested tables; list indexes stay on the item model."""
    model: type[BaseModel] | None = Config
    for part in loc:
        if isinstance(part, int):
            continue
        info: FieldInfo | None = model.model_fields.get(part) if model else None
        if info is None:
            return None
        model = _model_in(info.annotation)
    return model


def _model_in(annotation: object) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _dotted(loc: tuple[str | int, ...]) -> str:
    return ".".join(str(part) for part in loc)


def _show(value: object) -> str:
    """A value as it would look in TOML, short and on one line."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, dict):
        text = "a table"
    elif isinstance(value, str | list):
        text = json.dumps(value, ensure_ascii=False, default=str)
    else:
        text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."
