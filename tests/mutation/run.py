"""`make mutation`: mutmut over the modules of tests/mutation/modules.toml, one at a time.

Each module gets a working directory of its own under build/mutation/ (links to the
sources and tests, and this project's pyproject.toml with a [tool.mutmut] section naming
that one module and its tests), so each run sees only its own tests and keeps its own
cache: run again and only mutants of changed functions are tried again.

A surviving mutant is either killed by a better test or listed, with the reason it cannot
be killed, in tests/mutation/equivalent.md. The report names every survivor not listed
there, and the command fails while there is one.

    python -m tests.mutation.run                       # every module
    python -m tests.mutation.run storage/merkle.py     # some of them
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time
import tomllib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
WORK = ROOT / "build" / "mutation"
LINKED = ("bot", "storage", "adapters", "tests")
SOURCES = ("bot", "storage", "adapters")
# mutmut's exit codes (mutmut.stats.status_by_exit_code) that count as the tests noticing.
KILLED = {1, 3, 24, -24, 152, 255, 36, 37, -9, -11}
SURVIVED = 0
NO_TESTS = {5, 33}
LISTED = re.compile(r"`([\w.ǁ]+__mutmut_\d+)`")
# Address space per process (mutmut and each of its children, which inherit the limit).
MEMORY_CAP = 4 << 30


@dataclass(frozen=True)
class Module:
    path: str
    tests: tuple[str, ...]
    # Tests that also run on PostgreSQL: what only its row locks or its reading order can
    # show (SKIP LOCKED, an advisory lock, an ORDER BY that SQLite's index makes moot).
    postgresql_tests: tuple[str, ...] = ()

    @property
    def slug(self) -> str:
        return self.path.removesuffix(".py").replace("/", ".")


@dataclass(frozen=True)
class Score:
    module: str
    killed: int
    total: int
    survivors: tuple[str, ...]
    untested: tuple[str, ...]

    def unlisted(self, listed: set[str]) -> list[str]:
        """Survivors, and mutants no test reached (as good as survivors), not listed."""
        return [name for name in self.survivors + self.untested if name not in listed]

    def line(self, listed: set[str]) -> str:
        unlisted = self.unlisted(listed)
        text = f"{self.module:<28} {self.killed:>4}/{self.total:<4} killed"
        text += f", {len(self.survivors)} survived"
        if self.untested:
            text += f", {len(self.untested)} without a test reaching them"
        return text + f" ({len(unlisted)} not listed as equivalent)"


def modules() -> list[Module]:
    table = tomllib.loads((HERE / "modules.toml").read_text(encoding="utf-8"))
    return [
        Module(entry["path"], tuple(entry["tests"]), tuple(entry.get("postgresql_tests", ())))
        for entry in table["module"]
    ]


def equivalents() -> set[str]:
    text = (HERE / "equivalent.md").read_text(encoding="utf-8")
    return set(LISTED.findall(text))


def selected(module: Module, tests_dir: Path) -> list[str]:
    """The module's tests that exist under ``tests_dir`` (another tree's tests, to score
    what they catch, may lack some)."""
    found = []
    for test in module.tests:
        if (tests_dir.parent / test.partition("::")[0]).exists():
            found.append(test)
        elif tests_dir == ROOT / "tests":
            raise SystemExit(f"tests/mutation/modules.toml: {test} does not exist")
        else:
            print(f"{module.path}: {test} is not in {tests_dir}, left out", flush=True)
    return found


def postgresql_args(module: Module) -> list[str]:
    names = (test.rpartition("::")[2] for test in module.postgresql_tests)
    return [arg for name in names for arg in ("--postgresql-for", name)]


def prepare(module: Module, tests_dir: Path) -> Path:
    tests = selected(module, tests_dir)
    tests += [test for test in module.postgresql_tests if test not in tests]
    workdir = WORK / module.slug
    workdir.mkdir(parents=True, exist_ok=True)
    for name in LINKED:
        link = workdir / name
        link.unlink(missing_ok=True)
        link.symlink_to(tests_dir if name == "tests" else ROOT / name)
    # Tests find the shared test vectors beside the checkout (../shared); the mutants'
    # copy of the tests lives in workdir/mutants, so the vectors must be beside that.
    shared = workdir / "shared"
    if (ROOT.parent / "shared").is_dir() and not shared.is_symlink():
        shared.symlink_to(ROOT.parent / "shared")
    settings = {
        "source_paths": list(SOURCES),
        "only_mutate": [module.path],
        "pytest_add_cli_args_test_selection": tests,
        # SQLite: a mutant lives in Python, which both backends run the same; halves each
        # run. Only the module's `postgresql_tests` run on PostgreSQL too.
        # Hypothesis without shrinking (tests/conftest.py): a failing example is enough.
        "pytest_add_cli_args": [
            *("-p", "no:cacheprovider", "-W", "ignore"),
            *("--backend", "sqlite", "--hypothesis-profile", "mutation"),
            *postgresql_args(module),
        ],
    }
    section = "\n[tool.mutmut]\n" + "".join(
        f"{key} = {json.dumps(value)}\n" for key, value in settings.items()
    )
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8") + section
    (workdir / "pyproject.toml").write_text(pyproject, encoding="utf-8")
    return workdir


def cap_memory() -> None:
    """A mutant that turns a loop endless can grow a list until the machine runs out of
    memory before mutmut's timeout stops it (storage.merkle's range_ids reached 9.8 GB);
    capped, it fails with MemoryError, which counts as killed."""
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def run_mutmut(workdir: Path, children: int, names: tuple[str, ...] = ()) -> None:
    mutmut = Path(sys.executable).with_name("mutmut")
    log = workdir / "mutmut.log"
    with log.open("a", encoding="utf-8") as out:
        done = subprocess.run(
            [str(mutmut), "run", "--max-children", str(children), *names],
            cwd=workdir,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
            preexec_fn=cap_memory,
            check=False,
        )
    if done.returncode != 0:
        tail = log.read_text(encoding="utf-8", errors="replace")[-3000:]
        raise SystemExit(f"mutmut failed in {workdir} (see {log}):\n{tail}")


def tests_digest(tests_dir: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(tests_dir.rglob("*.py")):
        if path.parent.name == "mutation":
            continue  # this tool, not a test
        digest.update(str(path.relative_to(tests_dir)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def retry(
    workdir: Path, survivors: tuple[str, ...], children: int, tests_dir: Path, started: str
) -> None:
    """mutmut keeps a verdict until the function changes; when the tests changed since the
    verdicts were made (since the last run, or during this one: tests written to kill the
    first survivors while the rest ran), the survivors (and mutants no test reached) are
    tried again, so that a test written to kill one is seen."""
    stamp = workdir / "tests.sha256"
    seen = stamp.read_text(encoding="utf-8") if stamp.exists() else started
    now = tests_digest(tests_dir)
    if survivors and seen != now:
        run_mutmut(workdir, children, survivors)
    stamp.write_text(now, encoding="utf-8")


def score(module: Module, workdir: Path) -> Score:
    meta = json.loads((workdir / "mutants" / f"{module.path}.meta").read_text(encoding="utf-8"))
    codes: dict[str, int | None] = meta["exit_code_by_key"]
    counts = Counter("killed" if code in KILLED else code for code in codes.values())
    survivors = tuple(sorted(name for name, code in codes.items() if code == SURVIVED))
    untested = tuple(sorted(name for name, code in codes.items() if code in NO_TESTS))
    return Score(module.path, counts["killed"], len(codes), survivors, untested)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", help="modules to run (default: all listed)")
    parser.add_argument("--children", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--fresh", action="store_true", help="forget earlier verdicts")
    parser.add_argument(
        "--tests-dir",
        type=Path,
        default=ROOT / "tests",
        help="score another tree's tests/ (e.g. an older commit's, exported)",
    )
    args = parser.parse_args(argv)
    chosen = [m for m in modules() if not args.paths or m.path in args.paths]
    if not chosen:
        raise SystemExit(f"none of {args.paths} is in tests/mutation/modules.toml")
    listed = equivalents()
    scores = []
    for module in chosen:
        started = time.monotonic()
        tests_dir = args.tests_dir.resolve()
        workdir = prepare(module, tests_dir)
        if args.fresh:
            shutil.rmtree(workdir / "mutants", ignore_errors=True)
        started_with = tests_digest(tests_dir)
        run_mutmut(workdir, args.children)
        first = score(module, workdir)
        retry(workdir, first.survivors + first.untested, args.children, tests_dir, started_with)
        scores.append(score(module, workdir))
        print(f"{scores[-1].line(listed)}  [{time.monotonic() - started:.0f} s]", flush=True)
    unlisted = [name for s in scores for name in s.unlisted(listed)]
    for name in unlisted:
        print(f"survived or untested, not listed in tests/mutation/equivalent.md: {name}")
    if unlisted:
        print("see one with: cd build/mutation/<module> && ../../../.venv/bin/mutmut show NAME")
    return 1 if unlisted else 0


if __name__ == "__main__":
    sys.exit(main())
