"""What `haven run` says and refuses at start, before anyone relies on it.

A deployment that cannot work as configured is refused in one line that says how to fix
it: an escalation channel on a platform that is not enabled (its alerts would wait for
ever while the victim is told staff were alerted), or a console-only Haven whose input is
/dev/null (as under systemd: it would read nothing and stop at once, and be restarted
again and again). One that can run but quietly lacks something gets a warning each. Then
one summary says what is running, where.
"""

from __future__ import annotations

import io
import logging
import os
import stat
import sys
from collections.abc import Mapping, Sequence
from typing import TextIO

from sqlalchemy.engine import make_url

from bot.config import (
    SLACK_APP_TOKEN_ENV,
    SLACK_BOT_TOKEN_ENV,
    TELEGRAM_TOKEN_ENV,
    Config,
)

log = logging.getLogger(__name__)

# The platforms whose adapters can carry a staff channel (the web chat is for victims).
_STAFF_PLATFORMS = ("console", "telegram", "slack")


def refusals(config: Config, stdin: TextIO | None) -> list[str]:
    """Every reason the configured deployment cannot work (empty: it can start)."""
    found = _disabled_channels(config)
    if config.adapters.enabled == ["console"] and reads_nothing(stdin):
        found.append(
            "only the console adapter is enabled and its input is /dev/null (as under "
            "systemd): Haven would read nothing and stop at once, and a service manager "
            "would restart it again and again. For a service, enable telegram, slack or web "
            "in [adapters] enabled; to try Haven, run it in a terminal or pipe a script in"
        )
    return found


def _disabled_channels(config: Config) -> list[str]:
    enabled = config.adapters.enabled
    found = []
    for number, level in enumerate(config.escalation.levels, start=1):
        for channel in level.channels:
            platform = channel.partition(":")[0]
            if platform in enabled:
                continue
            found.append(
                f'escalation channel "{channel}" (level {number}) is on {platform}, which is '
                f"not enabled ([adapters] enabled = {_listed(enabled)}): its alerts would "
                f"never arrive. {_fix(platform, enabled)}"
            )
    return found


def _fix(platform: str, enabled: Sequence[str]) -> str:
    staff_platforms = [name for name in enabled if name in _STAFF_PLATFORMS]
    if not staff_platforms:
        return (
            'The web chat has no staff channel: add "telegram" or "slack" to [adapters] '
            "enabled for your staff, with a level on it in [[escalation.levels]]"
        )
    if platform == "console":
        # Most often the default level, kept by a deployment that never set its own.
        return (
            f"Give [[escalation.levels]] a channel on {' or '.join(staff_platforms)} "
            f'instead, such as "{staff_platforms[0]}:<staff channel id>" '
            '(README: "Connect Telegram or Slack")'
        )
    if platform in _STAFF_PLATFORMS:
        return f'Add "{platform}" to [adapters] enabled, or change the channel'
    return f"Use a channel on {' or '.join(staff_platforms)}"


def reads_nothing(stream: TextIO | None) -> bool:
    """The stream is missing or is the null device (systemd's StandardInput=null)."""
    if stream is None:
        return True
    try:
        descriptor = stream.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation, ValueError):
        return False  # an in-memory stream: a script
    try:
        mode = os.fstat(descriptor)
        null = os.stat(os.devnull)
    except OSError:
        return False
    return stat.S_ISCHR(mode.st_mode) and mode.st_rdev == null.st_rdev


def warnings(config: Config, environ: Mapping[str, str]) -> list[str]:
    """What an operator should fix, though Haven can run without it."""
    enabled = config.adapters.enabled
    found = []
    secrets = config.secrets
    if secrets.telegram_token and "telegram" not in enabled:
        found.append(
            f"{TELEGRAM_TOKEN_ENV} is set but the telegram adapter is not enabled: Haven "
            'does not answer on Telegram. Add "telegram" to [adapters] enabled (or unset '
            "the variable)."
        )
    if (secrets.slack_bot_token or secrets.slack_app_token) and "slack" not in enabled:
        found.append(
            f"{SLACK_BOT_TOKEN_ENV} or {SLACK_APP_TOKEN_ENV} is set but the slack adapter is "
            'not enabled: Haven does not answer on Slack. Add "slack" to [adapters] enabled '
            "(or unset the variables)."
        )
    for member in config.staff:
        variable = member.totp_secret_env
        if variable and not environ.get(variable):
            who = member.name or f"{member.platform}:{member.user_id}"
            found.append(
                f"staff member {who} has totp_secret_env = {variable!r}, but {variable} is "
                "not set: every approval they give will be refused until it is."
            )
    if not config.support.hotlines:
        found.append(
            "no support line is set ([support] hotlines): a person who writes about ending "
            "their life is shown the emergency numbers only. config.example.toml lists "
            "public national lines to confirm before you add them."
        )
    return found


def summary(config: Config, *, new_data_dir: bool) -> list[str]:
    """The lines that say what is starting, where."""
    data = str(config.data_dir)
    if new_data_dir:
        data += " (new: no Haven data was there, so a new deployment starts in it)"
    levels = config.escalation.levels
    support = config.support
    emergency = ", ".join(c.number for c in support.emergency_numbers) or "none"
    return [
        "Haven is starting",
        f"  adapters        {', '.join(config.adapters.enabled)}",
        f"  data directory  {data}",
        f"  database        {_database(config.database_url)}",
        f"  staff           {len(config.staff)} in [[staff]]; alerts go to "
        f"{', '.join(levels[0].channels)}"
        + (f" (then {len(levels) - 1} more level(s))" if len(levels) > 1 else ""),
        f"  support lines   {len(support.hotlines)} ([support] hotlines); "
        f"emergency numbers {emergency}",
    ]


def _database(url: str) -> str:
    """The database URL without its password."""
    return make_url(url).render_as_string(hide_password=True)


def _listed(names: Sequence[str]) -> str:
    return "[" + ", ".join(f'"{name}"' for name in names) + "]"


def announce(config: Config, *, new_data_dir: bool) -> None:
    """The summary and a warning for each thing to fix: on stderr, which the console chat
    does not use, and in the log."""
    lines = summary(config, new_data_dir=new_data_dir)
    log.info("\n".join(lines))
    for warning in warnings(config, os.environ):
        log.warning(warning)
        lines.append(f"haven: warning: {warning}")
    print("\n".join(lines), file=sys.stderr)
