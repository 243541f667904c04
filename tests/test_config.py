"""The config loader: defaults, the example file, and one-line errors that name the key."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import get_args

import pytest
from pydantic import BaseModel

from bot.config import (
    Config,
    ConfigError,
    Contact,
    Secrets,
    default_config,
    load_config,
    split_duration,
)

EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"
NO_ENV: dict[str, str] = {}


def write(tmp_path: Path, text: str, name: str = "config.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error_of(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> str:
    """Load `text` expecting a refusal; return the message after checking it is one line."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ=NO_ENV if environ is None else environ)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    return message


def test_defaults_without_a_file() -> None:
    config = load_config(None, environ=NO_ENV)
    assert config.data_dir == Path.cwd() / "data"
    assert config.default_locale == "zh-CN"
    assert config.timezone == "Asia/Shanghai"
    assert config.tz.key == "Asia/Shanghai"
    assert config.jurisdiction == "CN"
    assert config.database_url == f"sqlite+aiosqlite:///{Path.cwd() / 'data' / 'haven.db'}"
    assert config.retention.closed_case_days == 180
    assert config.limits.max_text_chars == 4000
    assert config.limits.max_item_bytes == 20 * 1024 * 1024
    assert config.limits.max_case_bytes == 500 * 1024 * 1024
    assert (config.limits.flood_messages, config.limits.flood_window_seconds) == (30, 60)
    assert [c.number for c in config.support.emergency_numbers] == ["110", "120"]
    assert config.support.hotlines == []
    assert config.adapters.enabled == ["console"]
    assert config.adapters.console.staff_role == "admin"
    assert config.adapters.telegram.mode == "polling"
    assert config.adapters.slack.api_base_url == "https://slack.com/api/"
    assert config.staff == []
    assert config.escalation.threshold == "high"
    assert [lvl.channels for lvl in config.escalation.levels] == [["console:staff"]]
    assert config.briefing.time_of_day == dt.time(9, 0)
    assert config.reminders.quiet_start == dt.time(22, 0)
    assert config.reminders.quiet_end == dt.time(8, 0)
    assert config.deadlines == {}
    assert config == default_config()


def test_example_file_loads_and_matches_the_defaults() -> None:
    config = load_config(EXAMPLE, environ=NO_ENV)
    assert config == default_config()
    assert config.support.emergency_numbers == [
        Contact(name="报警 / Police", number="110"),
        Contact(name="急救 / Ambulance", number="120"),
    ]


def test_example_file_documents_every_key_and_every_secret_variable() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    for variable in (
        "HAVEN_TELEGRAM_TOKEN",
        "HAVEN_SLACK_BOT_TOKEN",
        "HAVEN_SLACK_SIGNING_SECRET",
        "HAVEN_SLACK_APP_TOKEN",
        "HAVEN_MASTER_KEY",
    ):
        assert variable in text
    for key in leaf_keys(Config):
        shown = f"{key} =" in text or f"{key}]" in text  # a key, or a [table] / [[array]]
        assert shown, f"{key} is not in config.example.toml"


def leaf_keys(model: type[BaseModel]) -> list[str]:
    """Every settable key name, descending into tables and arrays of tables."""
    keys = []
    for name, info in model.model_fields.items():
        if name == "secrets":
            continue
        inner = [a for a in (info.annotation, *get_args(info.annotation)) if is_model(a)]
        keys += leaf_keys(inner[0]) if inner else []
        if not inner or get_args(info.annotation):
            keys.append(name)
    return keys


def is_model(annotation: object) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def test_outside_cn_there_are_no_default_emergency_numbers_so_start_is_refused(
    tmp_path: Path,
) -> None:
    message = error_of(tmp_path, 'jurisdiction = "GB"\n')
    assert 'support.emergency_numbers: jurisdiction "GB" has no default' in message
    numbers = '[support]\nemergency_numbers = [{ name = "Emergency", number = "999" }]\n'
    config = load_config(write(tmp_path, 'jurisdiction = "GB"\n' + numbers), environ=NO_ENV)
    assert [c.number for c in config.support.emergency_numbers] == ["999"]
    assert config.support.hotlines == []


def test_an_empty_list_of_emergency_numbers_is_refused_in_cn_too(tmp_path: Path) -> None:
    message = error_of(tmp_path, "[support]\nemergency_numbers = []\n")
    assert "support.emergency_numbers is empty" in message


def test_unknown_top_level_key_is_named(tmp_path: Path) -> None:
    message = error_of(tmp_path, 'locale = "en"\n')
    assert message.endswith("locale: unknown key")


def test_unknown_nested_key_names_the_dotted_key_and_suggests(tmp_path: Path) -> None:
    message = error_of(tmp_path, '[adapters.console]\ncolour = "never"\n')
    assert "config.toml: adapters.console.colour: unknown key" in message
    assert 'did you mean "color"' in message


def test_wrong_type_names_key_and_expectation(tmp_path: Path) -> None:
    message = error_of(tmp_path, '[limits]\nmax_text_chars = "abc"\n')
    assert message.endswith('limits.max_text_chars: expected an integer >= 1, got "abc"')


def test_out_of_range_and_bad_choice_are_joined_on_one_line(tmp_path: Path) -> None:
    message = error_of(tmp_path, 'default_locale = "fr"\n[retention]\nclosed_case_days = 0\n')
    assert 'default_locale: expected "zh-CN" or "en", got "fr"' in message
    assert "retention.closed_case_days: expected an integer >= 1, got 0" in message
    assert "; " in message


def test_no_silent_conversion_of_types(tmp_path: Path) -> None:
    message = error_of(tmp_path, '[briefing]\nenabled = "yes"\n')
    assert 'briefing.enabled: expected true or false, got "yes"' in message
    message = error_of(tmp_path, '[[staff]]\nplatform = "telegram"\nuser_id = 42\nrole = "admin"\n')
    assert "staff.0.user_id: expected the user id as a string" in message


def test_bad_timezone(tmp_path: Path) -> None:
    message = error_of(tmp_path, 'timezone = "Mars/Base"\n')
    assert message.endswith(
        'timezone: "Mars/Base" is not a known time zone '
        "(expected an IANA name such as Asia/Shanghai)"
    )


def test_bad_jurisdiction(tmp_path: Path) -> None:
    message = error_of(tmp_path, 'jurisdiction = "cn"\n')
    assert "jurisdiction: expected a two-letter ISO 3166 country code" in message
    assert 'got "cn"' in message


def test_bad_time_of_day(tmp_path: Path) -> None:
    message = error_of(tmp_path, '[briefing]\ntime = "25:00"\n')
    assert 'briefing.time: expected a time of day "HH:MM"' in message
    assert 'got "25:00"' in message
    message = error_of(tmp_path, '[reminders]\nquiet_hours_end = "8am"\n')
    assert "reminders.quiet_hours_end: expected a time of day" in message


def test_toml_time_value_is_accepted(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "[briefing]\ntime = 07:30:00\n"), environ=NO_ENV)
    assert config.briefing.time == "07:30"


def test_secret_in_file_is_refused_naming_the_variable(tmp_path: Path) -> None:
    message = error_of(tmp_path, '[adapters.telegram]\ntoken = "123:abc"\n')
    assert message.endswith(
        "adapters.telegram.token: secrets are not read from the config file; "
        "set HAVEN_TELEGRAM_TOKEN in the environment"
    )
    assert "123:abc" not in message


def test_every_kind_of_secret_key_is_refused(tmp_path: Path) -> None:
    message = error_of(
        tmp_path,
        'master_key = "k"\n'
        '[adapters.slack]\nsigning_secret = "s"\napp_token = "a"\nbot_token = "b"\n'
        '[storage]\npassword = "p"\n',
    )
    assert "master_key: secrets are not read from the config file; set HAVEN_MASTER_KEY" in message
    assert "adapters.slack.signing_secret: " in message
    assert "set HAVEN_SLACK_SIGNING_SECRET" in message
    assert "set HAVEN_SLACK_APP_TOKEN" in message
    assert "set HAVEN_SLACK_BOT_TOKEN" in message
    assert "storage.password: secrets are not read" in message


def test_password_in_database_url_is_refused_without_echoing_it(tmp_path: Path) -> None:
    message = error_of(
        tmp_path, '[storage]\ndatabase_url = "postgresql+asyncpg://u:hunter2@db/haven"\n'
    )
    assert "storage.database_url: the URL holds a password" in message
    assert "HAVEN_DATABASE_PASSWORD" in message
    assert "hunter2" not in message


def test_database_url_scheme_is_checked(tmp_path: Path) -> None:
    message = error_of(tmp_path, '[storage]\ndatabase_url = "mysql://db/haven"\n')
    assert "storage.database_url: " in message
    assert "postgresql+asyncpg://" in message
    url = "postgresql+asyncpg://haven@db/haven"
    config = load_config(write(tmp_path, f'[storage]\ndatabase_url = "{url}"\n'), environ=NO_ENV)
    assert config.database_url == url


def test_telegram_enabled_without_token_names_the_variable(tmp_path: Path) -> None:
    message = error_of(tmp_path, '[adapters]\nenabled = ["telegram"]\n')
    assert message.endswith(
        'adapters.enabled: "telegram" is enabled but HAVEN_TELEGRAM_TOKEN is not set '
        "in the environment"
    )


def test_telegram_token_comes_from_the_environment(tmp_path: Path) -> None:
    path = write(tmp_path, '[adapters]\nenabled = ["console", "telegram"]\n')
    config = load_config(path, environ={"HAVEN_TELEGRAM_TOKEN": "123:abc"})
    assert config.secrets.telegram_token == "123:abc"
    assert config.secrets.slack_bot_token is None


def test_slack_modes_need_their_own_secrets(tmp_path: Path) -> None:
    http = error_of(tmp_path, '[adapters]\nenabled = ["slack"]\n')
    assert "HAVEN_SLACK_BOT_TOKEN" in http
    assert "HAVEN_SLACK_SIGNING_SECRET" in http
    assert "HAVEN_SLACK_APP_TOKEN" not in http
    socket = error_of(
        tmp_path,
        '[adapters]\nenabled = ["slack"]\n[adapters.slack]\nmode = "socket"\n',
        environ={"HAVEN_SLACK_BOT_TOKEN": "xoxb-1"},
    )
    assert socket.endswith(
        'adapters.enabled: "slack" (socket mode) is enabled but HAVEN_SLACK_APP_TOKEN '
        "is not set in the environment"
    )


def test_webhook_mode_needs_a_url(tmp_path: Path) -> None:
    message = error_of(
        tmp_path,
        '[adapters]\nenabled = ["telegram"]\n[adapters.telegram]\nmode = "webhook"\n',
        environ={"HAVEN_TELEGRAM_TOKEN": "t"},
    )
    assert 'adapters.telegram: webhook_url is required when mode = "webhook"' in message


def test_listen_address_and_slack_api_url_are_checked(tmp_path: Path) -> None:
    message = error_of(
        tmp_path, '[adapters.slack]\nlisten = "localhost"\napi_base_url = "https://x/api"\n'
    )
    assert 'adapters.slack.listen: expected "host:port"' in message
    assert 'adapters.slack.api_base_url: expected a URL ending in "/"' in message


def test_enabled_adapters_must_be_known_unique_and_not_empty(tmp_path: Path) -> None:
    assert 'adapters.enabled: "console" is listed more than once' in error_of(
        tmp_path, '[adapters]\nenabled = ["console", "console"]\n'
    )
    assert "adapters.enabled.0: expected one of " in error_of(
        tmp_path, '[adapters]\nenabled = ["irc"]\n'
    )
    assert "adapters.enabled: expected a non-empty list" in error_of(
        tmp_path, "[adapters]\nenabled = []\n"
    )


def test_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    message = error_of(tmp_path, 'default_locale = "en"\nthis is [not toml\n')
    assert "config.toml: not valid TOML" in message
    assert "line 2" in message


def test_missing_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == f"{path}: config file not found"
    assert list(tmp_path.iterdir()) == []


def test_directory_instead_of_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path)


def test_loading_creates_nothing_on_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path, 'data_dir = "relative/data"\n[storage]\ndatabase_url = ""\n')
    before = sorted(p.name for p in tmp_path.rglob("*"))
    config = load_config(path, environ=NO_ENV)
    load_config(None, environ=NO_ENV)
    load_config(None, data_dir_override=tmp_path / "override", environ=NO_ENV)
    with pytest.raises(ConfigError):
        load_config(write(tmp_path, "[limits]\nbogus = 1\n", "bad.toml"), environ=NO_ENV)
    assert config.data_dir == tmp_path / "relative" / "data"
    assert sorted(p.name for p in tmp_path.rglob("*")) == sorted([*before, "bad.toml"])


def test_data_dir_override_replaces_the_file_value(tmp_path: Path) -> None:
    path = write(tmp_path, 'data_dir = "/somewhere/else"\n')
    config = load_config(path, data_dir_override=tmp_path / "d", environ=NO_ENV)
    assert config.data_dir == tmp_path / "d"
    assert config.database_url == f"sqlite+aiosqlite:///{tmp_path / 'd' / 'haven.db'}"


def test_relative_data_dir_is_pinned_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config(None, data_dir_override=Path("here"), environ=NO_ENV)
    assert config.data_dir == tmp_path / "here"
    assert config.data_dir.is_absolute()


def test_secrets_repr_hides_values() -> None:
    environ = {
        "HAVEN_TELEGRAM_TOKEN": "tg-SECRET-1",
        "HAVEN_SLACK_BOT_TOKEN": "xoxb-SECRET-2",
        "HAVEN_SLACK_SIGNING_SECRET": "SECRET-3",
        "HAVEN_SLACK_APP_TOKEN": "xapp-SECRET-4",
        "HAVEN_MASTER_KEY": "SECRET-5",
    }
    config = load_config(None, environ=environ)
    assert config.secrets == Secrets(
        telegram_token="tg-SECRET-1",
        slack_bot_token="xoxb-SECRET-2",
        slack_signing_secret="SECRET-3",
        slack_app_token="xapp-SECRET-4",
        master_key="SECRET-5",
    )
    for shown in (repr(config.secrets), str(config.secrets), repr(config), str(config)):
        assert "SECRET" not in shown
    assert "SECRET" not in str(config.model_dump())


def test_secrets_default_to_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HAVEN_MASTER_KEY", "from-os")
    assert load_config(None).secrets.master_key == "from-os"
    monkeypatch.setenv("HAVEN_MASTER_KEY", "")
    assert load_config(None).secrets.master_key is None
    assert os.environ["HAVEN_MASTER_KEY"] == ""


def test_duplicate_staff_is_refused(tmp_path: Path) -> None:
    entry = '[[staff]]\nplatform = "telegram"\nuser_id = "42"\nrole = "{role}"\n'
    message = error_of(tmp_path, entry.format(role="admin") + entry.format(role="operator"))
    assert message.endswith('staff: telegram user "42" is listed twice')


def test_staff_entries_load(tmp_path: Path) -> None:
    text = (
        '[[staff]]\nplatform = "slack"\nuser_id = "U1"\nrole = "auditor"\n'
        'totp_secret_env = "HAVEN_TOTP_U1"\n'
        '[[staff]]\nplatform = "telegram"\nuser_id = "U1"\nrole = "operator"\n'
    )
    config = load_config(write(tmp_path, text), environ=NO_ENV)
    assert [(s.platform, s.role) for s in config.staff] == [
        ("slack", "auditor"),
        ("telegram", "operator"),
    ]
    assert config.staff[0].totp_secret_env == "HAVEN_TOTP_U1"


def test_staff_role_must_be_known(tmp_path: Path) -> None:
    message = error_of(tmp_path, '[[staff]]\nplatform = "console"\nuser_id = "x"\nrole = "boss"\n')
    assert 'staff.0.role: expected "operator", "admin" or "auditor", got "boss"' in message


def test_deadline_format_is_validated(tmp_path: Path) -> None:
    message = error_of(
        tmp_path, '[deadlines]\npreserve_evidence = "3 days"\nreport = 30\nnever = "0h"\n'
    )
    assert 'deadlines.preserve_evidence: expected a duration such as "30m"' in message
    assert 'got "3 days"' in message
    assert "deadlines.report: expected a duration" in message
    assert 'got "0h"' in message


def test_deadline_keys_are_identifiers(tmp_path: Path) -> None:
    message = error_of(tmp_path, '[deadlines]\nBad-Item = "3d"\n')
    assert "deadlines.Bad-Item: is not a playbook item id" in message


def test_valid_deadlines_load(tmp_path: Path) -> None:
    text = '[deadlines]\na = "30m"\nb_2 = "24h"\n_c = "3d"\nd = "15wd"\n'
    config = load_config(write(tmp_path, text), environ=NO_ENV)
    assert config.deadlines == {"a": "30m", "b_2": "24h", "_c": "3d", "d": "15wd"}
    assert split_duration(config.deadlines["d"]) == (15, "wd")


def test_escalation_levels_are_checked(tmp_path: Path) -> None:
    message = error_of(
        tmp_path,
        '[[escalation.levels]]\nchannels = ["console:staff", "nochannel"]\ntimeout_minutes = 0\n',
    )
    assert 'escalation.levels.0.channels.1: expected "platform:chat_id"' in message
    assert "escalation.levels.0.timeout_minutes: expected a number > 0, got 0" in message
    assert "escalation.levels: expected at least one" in error_of(
        tmp_path, "[escalation]\nlevels = []\n"
    )


def test_escalation_levels_from_file_replace_the_default(tmp_path: Path) -> None:
    text = (
        '[[escalation.levels]]\nchannels = ["telegram:-100123"]\ntimeout_minutes = 5\n'
        '[[escalation.levels]]\nchannels = ["slack:C1", "console:staff"]\nrepeat_minutes = 2.5\n'
    )
    config = load_config(write(tmp_path, text), environ=NO_ENV)
    assert [lvl.channels for lvl in config.escalation.levels] == [
        ["telegram:-100123"],
        ["slack:C1", "console:staff"],
    ]
    assert config.escalation.levels[0].timeout_minutes == 5
    assert config.escalation.levels[1].repeat_minutes == 2.5


def test_quiet_hours_cross_midnight() -> None:
    reminders = default_config().reminders
    assert reminders.is_quiet(dt.time(23, 30))
    assert reminders.is_quiet(dt.time(7, 59))
    assert not reminders.is_quiet(dt.time(8, 0))
    assert not reminders.is_quiet(dt.time(12, 0))


def test_config_is_frozen() -> None:
    config = default_config()
    with pytest.raises(ValueError, match="frozen"):
        config.limits.max_text_chars = 1


def test_with_adapters_rechecks_secrets() -> None:
    config = default_config()
    with pytest.raises(ConfigError, match="HAVEN_TELEGRAM_TOKEN"):
        config.with_adapters(["telegram"])
    with pytest.raises(ConfigError, match=r"adapters\.enabled\.0: expected one of"):
        config.with_adapters(["irc"])
    assert config.with_adapters(["console"]).adapters.enabled == ["console"]


def test_ocr_cannot_be_turned_on_in_this_build(tmp_path: Path) -> None:
    message = error_of(tmp_path, "[search]\nocr = true\n")
    assert "search.ocr" in message and "not available in this build" in message
    assert (
        load_config(write(tmp_path, "[search]\nocr = false\n"), environ=NO_ENV).search.ocr is False
    )


def _numeric_fields(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every number-valued key of the scalar tables, as a path of table names and the key."""
    found: list[tuple[str, ...]] = []
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            found += _numeric_fields(annotation, (*prefix, name))
        elif annotation in (int, float) and prefix:
            found.append((*prefix, name))
    return found


NUMERIC_FIELDS = _numeric_fields(Config)


def test_every_numeric_key_is_found() -> None:
    assert ("escalation", "repeat_minutes") not in NUMERIC_FIELDS  # a list of tables
    assert ("adapters", "web", "poll_seconds") in NUMERIC_FIELDS
    assert len(NUMERIC_FIELDS) > 20


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "1e300", str(10**30)])
@pytest.mark.parametrize("key", NUMERIC_FIELDS, ids=".".join)
def test_every_number_is_bounded(tmp_path: Path, key: tuple[str, ...], value: str) -> None:
    """`inf` or a huge number once passed "> 0" and crashed Haven after it had created the
    database and the keys (OverflowError)."""
    message = error_of(tmp_path, f"[{'.'.join(key[:-1])}]\n{key[-1]} = {value}\n")
    assert ".".join(key) + ": expected" in message


@pytest.mark.parametrize(
    "text",
    [
        '[[escalation.levels]]\nchannels = ["console:staff"]\ntimeout_minutes = inf\n',
        '[[escalation.levels]]\nchannels = ["console:staff"]\ntimeout_minutes = '
        + str(10**30)
        + "\n",
        "[adapters.telegram]\nstaff_chat_ids = [" + str(10**30) + "]\n",
        '[deadlines]\nvenue_preservation = "99999999999999d"\n',
    ],
)
def test_numbers_in_lists_and_durations_are_bounded(tmp_path: Path, text: str) -> None:
    error_of(tmp_path, text)


def test_the_largest_allowed_numbers_do_not_overflow(tmp_path: Path) -> None:
    """At the ceilings, the durations still make a date Haven can use."""
    config = load_config(
        write(
            tmp_path,
            '[[escalation.levels]]\nchannels = ["console:staff"]\n'
            "timeout_minutes = 52596000\nrepeat_minutes = 52596000\n"
            "[retention]\nclosed_case_days = 36525\n",
        ),
        environ=NO_ENV,
    )
    level = config.escalation.levels[0]
    now = dt.datetime.now(dt.UTC)
    assert now + dt.timedelta(minutes=level.timeout_minutes) > now
    assert now + dt.timedelta(days=config.retention.closed_case_days) > now
