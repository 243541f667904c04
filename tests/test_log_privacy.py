"""`haven run --verbose` logs at DEBUG, and still no message, evidence or secret reaches
the log: the platform libraries quote request and response bodies (and python-telegram-bot
its API address, which holds the token) in their own DEBUG lines."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.runtime import configure_logging
from tests.adapters import test_slack as slack
from tests.adapters import test_telegram as telegram
from tests.fakes import telegram_updates as tu
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.telegram_api import FakeBotAPI

VICTIMS_WORDS = "she sent my messages to everyone at work"
VICTIMS_NAME = "Mei Lanfang-Zhou"
EVIDENCE = "pay 20000 or the screenshots go to your family"


@pytest.fixture
def verbose_log(tmp_path: Path) -> Iterator[Path]:
    """The logging `haven run --verbose` sets up, undone afterwards."""
    root = logging.getLogger()
    handlers, levels = list(root.handlers), _levels()
    configure_logging(tmp_path, verbose=True)
    yield tmp_path / "haven.log"
    for handler in set(root.handlers) - set(handlers):
        root.removeHandler(handler)
        handler.close()
    for name, logger in _loggers().items():
        logger.setLevel(levels.get(name, logging.NOTSET))


def _loggers() -> dict[str, logging.Logger]:
    known = logging.Logger.manager.loggerDict.items()
    return {"": logging.getLogger(), **{n: g for n, g in known if isinstance(g, logging.Logger)}}


def _levels() -> dict[str, int]:
    return {name: logger.level for name, logger in _loggers().items()}


@pytest.fixture
async def slack_api() -> AsyncIterator[FakeSlackAPI]:
    api = FakeSlackAPI()
    await api.start()
    api.add_user(slack.VICTIM, VICTIMS_NAME)
    yield api
    await api.close()


@pytest.fixture
async def bot_api() -> AsyncIterator[FakeBotAPI]:
    api = FakeBotAPI()
    await api.start()
    yield api
    await api.close()


def logged(path: Path) -> str:
    for handler in logging.getLogger().handlers:
        handler.flush()
    return path.read_text(encoding="utf-8")


async def test_slack_messages_evidence_and_secrets_stay_out_of_a_verbose_log(
    verbose_log: Path, tmp_path: Path, slack_api: FakeSlackAPI
) -> None:
    async with slack.running(tmp_path, slack_api) as rig:
        assert await rig.say(VICTIMS_WORDS)
        shared = rig.traffic.shared(
            slack.DM,
            slack.VICTIM,
            author="U0LEAKER1",
            author_name="Wang",
            origin="g",
            text=EVIDENCE,
        )
        assert await rig.exchange(rig.traffic.callback(shared))
    text = logged(verbose_log)
    assert "slack:" in text, "the adapter's own lines are there"
    for secret in (
        VICTIMS_WORDS,
        VICTIMS_NAME,
        EVIDENCE,
        slack_api.bot_token,
        slack_api.signing_secret,
    ):
        assert secret not in text


async def test_telegram_messages_evidence_and_the_token_stay_out_of_a_verbose_log(
    verbose_log: Path, tmp_path: Path, bot_api: FakeBotAPI
) -> None:
    async with telegram.running(tmp_path, bot_api) as rig:
        assert await rig.exchange(
            rig.updates.message(telegram.VICTIM_CHAT, telegram.VICTIM, VICTIMS_WORDS)
        )
        stranger = tu.user(7002, "Wang")
        forward = rig.updates.forward(
            telegram.VICTIM_CHAT, telegram.VICTIM, tu.origin_user(stranger, 1762180200), EVIDENCE
        )
        assert await rig.exchange(forward)
    text = logged(verbose_log)
    assert "telegram:" in text, "the adapter's own lines are there"
    for secret in (VICTIMS_WORDS, EVIDENCE, bot_api.token):
        assert secret not in text
