"""The package cut holds: each package's own modules stay its own.

import-linter (`make lint`) checks the layers between packages; this checks what the
packages' ``__all__`` promise: a module a package does not list there is imported only
from inside that package (tests aside).
"""

from __future__ import annotations

import importlib
import pkgutil

import grimp
import pytest

import bot

PACKAGES = sorted(info.name for info in pkgutil.iter_modules(bot.__path__) if info.ispkg)


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("bot", "adapters", "storage")


def test_bot_holds_only_packages_and_the_root_modules() -> None:
    loose = {info.name for info in pkgutil.iter_modules(bot.__path__) if not info.ispkg}
    assert loose == {"__main__", "adapter", "clock", "config", "dispatch", "events", "runtime"}


@pytest.mark.parametrize("package", PACKAGES)
def test_every_listed_module_exists(package: str) -> None:
    module = importlib.import_module(f"bot.{package}")
    assert module.__doc__, f"bot.{package} says what it holds"
    present = {info.name for info in pkgutil.iter_modules(module.__path__)}
    assert set(module.__all__) <= present


@pytest.mark.parametrize("package", PACKAGES)
def test_unlisted_modules_are_imported_only_inside_their_package(
    package: str, graph: grimp.ImportGraph
) -> None:
    module = importlib.import_module(f"bot.{package}")
    offered = {f"bot.{package}.{name}" for name in module.__all__}
    for name in graph.find_children(f"bot.{package}"):
        if name in offered:
            continue
        outside = {
            importer
            for importer in graph.find_modules_that_directly_import(name)
            if not importer.startswith(f"bot.{package}.")
        }
        assert not outside, f"{name} serves bot.{package} alone, yet {sorted(outside)} import it"
