"""Shared fixtures: a real Haven (real database, real flow) behind the in-memory adapter.

Every test that asks for ``backend`` (directly, or through ``config`` or ``haven``) runs
twice: on SQLite and on PostgreSQL (tests/backends.py). ``--backend sqlite`` or
``--backend postgresql`` runs one half only.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from hypothesis import Phase, settings

from adapters.memory import MemoryAdapter, victim_event
from bot.clock import ManualClock
from bot.config import Config, load_config
from bot.events import Button, InboundKind, Outbound
from bot.runtime import Haven
from tests import backends
from tests.backends import BACKENDS, POSTGRESQL, SQLITE, Backend, PostgresSession

TEST_CONFIG = """
[support]
hotlines = [{ name = "Test support line", number = "000-TEST", hours = "24h" }]

[[escalation.levels]]
channels = ["memory:staff"]
"""


def make_config(data_dir: Path, extra: str = "") -> Config:
    """A config file beside ``data_dir`` for the test's database backend."""
    path = data_dir.parent / f"{data_dir.name}.toml"
    path.write_text(backends.active.config_text(TEST_CONFIG + extra), encoding="utf-8")
    return load_config(path, data_dir_override=data_dir)


# `make mutation` (tests/mutation/run.py) runs with --hypothesis-profile mutation: a mutant
# only needs a failing example, and shrinking one can take minutes per mutant.
settings.register_profile(
    "mutation", phases=[Phase.explicit, Phase.reuse, Phase.generate], database=None
)


@pytest.fixture(autouse=True)
def _log_levels_as_they_were() -> Iterator[None]:
    """A test that configures logging as `haven run` does (tests/ops/test_startup.py,
    tests/test_log_privacy.py) sets the root logger to INFO; left so, every later test's
    caplog would also hold other loggers' INFO lines. Levels are put back after each test."""
    manager = logging.Logger.manager
    levels = {name: logging.getLogger(name).level for name in list(manager.loggerDict)}
    root = logging.getLogger().level
    yield
    logging.getLogger().setLevel(root)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


# ---- the two backends ------------------------------------------------------------------

_postgres: dict[str, PostgresSession] = {}
_skipped_postgres: list[str] = []


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--backend",
        choices=(*BACKENDS, "both"),
        default="both",
        help="run the database tests on SQLite, PostgreSQL or both (default)",
    )
    parser.addoption(
        "--postgresql-for",
        action="append",
        default=[],
        metavar="TEST",
        help="run the test function TEST on PostgreSQL whatever --backend says (the "
        "mutation run, SQLite otherwise, uses it for what only PostgreSQL can show)",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" not in metafunc.fixturenames:
        return
    chosen = metafunc.config.getoption("--backend")
    names = BACKENDS if chosen == "both" else (chosen,)
    if metafunc.function.__name__ in metafunc.config.getoption("--postgresql-for"):
        names = tuple(dict.fromkeys((*names, POSTGRESQL)))
    # @pytest.mark.only_on("sqlite"): what it checks is one engine's own (its query plans).
    only = metafunc.definition.get_closest_marker("only_on")
    if only is not None:
        names = tuple(name for name in names if name in only.args)
    metafunc.parametrize("backend", names, indirect=True, ids=names)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "only_on(*backends): run on these database backends only")


def pytest_sessionstart(session: pytest.Session) -> None:
    """In CI, an unreachable PostgreSQL stops the run before any test, with its reason.
    Checked here too, not only at collection: pytest-xdist's controller collects nothing,
    and an exit in a worker reads as a crash."""
    config = session.config
    if not backends.in_ci() or hasattr(config, "workerinput"):
        return
    if config.getoption("--backend") == SQLITE:
        return
    problem = backends.reachable(backends.admin_url())
    if problem is not None:
        pytest.exit(f"CI=true and PostgreSQL is unreachable ({problem})", returncode=1)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without a reachable PostgreSQL, leave its half out (or stop, in CI)."""
    on_postgres = [item for item in items if f"[{POSTGRESQL}" in item.nodeid]
    if not on_postgres:
        return
    problem = backends.reachable(backends.admin_url())
    if problem is None:
        return
    if backends.in_ci():
        pytest.exit(f"CI=true and PostgreSQL is unreachable ({problem})", returncode=1)
    _skipped_postgres.append(problem)
    # Under pytest-xdist (`make test`) this runs in each worker; the summary is printed by
    # the controller, which hears of it when the worker ends (pytest_testnodedown).
    workeroutput = getattr(config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["skipped_postgres"] = problem
    config.hook.pytest_deselected(items=on_postgres)
    items[:] = [item for item in items if item not in on_postgres]


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: object, error: object) -> None:
    """pytest-xdist's controller: a worker that left PostgreSQL's half out says why."""
    problem = getattr(node, "workeroutput", {}).get("skipped_postgres")
    if problem is not None and problem not in _skipped_postgres:
        _skipped_postgres.append(problem)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for problem in _skipped_postgres:
        terminalreporter.write_line(
            f"PostgreSQL suite skipped ({problem}): {backends.HOW_TO_RUN}", yellow=True
        )


def pytest_sessionfinish() -> None:
    for session in _postgres.values():
        session.stop()
    _postgres.clear()


def _postgres_session() -> PostgresSession:
    if POSTGRESQL not in _postgres:
        session = PostgresSession(backends.admin_url())
        _postgres[POSTGRESQL] = session
        session.start()
    return _postgres[POSTGRESQL]


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    """The database this test runs on; PostgreSQL's is emptied first."""
    if request.param == SQLITE:
        chosen = backends.SQLITE_BACKEND
    else:
        session = _postgres_session()
        session.reset()
        chosen = Backend(POSTGRESQL, session.url, session)
    backends.active = chosen
    try:
        yield chosen
    finally:
        backends.active = backends.SQLITE_BACKEND


class Victim:
    """Plays one victim in a private chat, the way a person would: type, tap, read."""

    def __init__(self, haven: Haven, adapter: MemoryAdapter, user: str = "v1") -> None:
        self.haven = haven
        self.adapter = adapter
        self.user = user

    async def _send(self, kind: InboundKind, **fields: object) -> list[Outbound]:
        before = len(self.adapter.sent[self.user])
        await self.haven.handle_and_deliver(
            victim_event(self.adapter.platform, self.user, kind, **fields)
        )
        return self.adapter.sent[self.user][before:]

    async def text(self, text: str, **fields: object) -> list[Outbound]:
        return await self._send(InboundKind.TEXT, text=text, **fields)

    async def command(self, command: str, args: str = "") -> list[Outbound]:
        return await self._send(InboundKind.COMMAND, command=command, args=args)

    async def press(self, key: str) -> list[Outbound]:
        """Tap the button of the latest prompt whose data ends with `key` (e.g. "safety=no")."""
        for button in self.prompt_buttons():
            if button.data.split(":", 2)[-1] == key or button.data.endswith(":" + key):
                return await self._send(InboundKind.BUTTON, button_data=button.data)
        offered = [b.data for b in self.prompt_buttons()]
        raise AssertionError(f"no button {key!r} among {offered}")

    def prompt_buttons(self) -> tuple[Button, ...]:
        """The buttons of the latest prompt: a receipt's "Details" button is not one."""
        for message in reversed(self.adapter.sent[self.user]):
            buttons = tuple(b for row in message.buttons for b in row)
            if buttons and not all(b.data.startswith("evd:") for b in buttons):
                return buttons
        return ()

    async def raw_press(self, data: str) -> list[Outbound]:
        return await self._send(InboundKind.BUTTON, button_data=data)

    def transcript(self) -> str:
        return "\n".join(m.text for m in self.adapter.sent[self.user])


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def config(tmp_path: Path, backend: Backend) -> Config:
    return make_config(tmp_path / "data")


@pytest.fixture
async def haven(config: Config, clock: ManualClock) -> AsyncIterator[tuple[Haven, MemoryAdapter]]:
    adapter = MemoryAdapter()
    opened = await Haven.open(config, {adapter.platform: adapter}, clock)
    yield opened, adapter
    await opened.close()


@pytest.fixture
def victim(haven: tuple[Haven, MemoryAdapter]) -> Victim:
    return Victim(*haven)
