"""Every command README.md shows is run by a test, or the README says beside it why not.

The README's fenced `sh` blocks are read as a shell would see them (continuation lines,
here-documents, trailing comments). Each command is then one of:

- a `haven …` command: parsed by the real command line (argparse), and the operator
  commands run, in the README's order, against a temporary data directory;
- `make TARGET`: the target exists and resolves (`make -n`);
- a benchmark or a test file: run by tests/test_benches.py or by the suite itself;
- part of a block run here as a whole: the console demos, the hand checks of a bundle;
- or marked in its comment with the reason it is not run (`…: not run by the tests`).

Every `toml` block must be a configuration Haven accepts.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.config import load_config
from bot.ops.cli import _parser, main
from tests.test_benches import SMALL

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BIN = Path(sys.executable).parent
NOT_RUN = re.compile(r"\S.*: not run by the tests")
FENCE = re.compile(r"^(\s*)```(\S*)\s*$")
HAVEN_PROGRAMS = ("haven", ".venv/bin/haven")
# Commands the README runs on a data directory, and what stands for their placeholders.
OPERATOR_COMMANDS = {"init", "audit", "export", "report", "verify", "hold", "release", "erase"}
OPERATOR_COMMANDS |= {"retention", "keys", "outbox", "backup", "restore"}


@dataclass(frozen=True)
class Block:
    language: str
    lines: tuple[str, ...]
    number: int  # its place among the README's blocks

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@dataclass(frozen=True)
class Command:
    code: str
    comment: str
    block: Block

    def words(self) -> list[str]:
        return shlex.split(self.code.split("\n", 1)[0].split("<<", 1)[0])


def blocks() -> list[Block]:
    found: list[Block] = []
    lines = README.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        index += 1
        if opening is None:
            continue
        indent, language = opening.groups()
        body = []
        while not FENCE.match(lines[index]):
            body.append(lines[index].removeprefix(indent))
            index += 1
        index += 1
        found.append(Block(language, tuple(body), len(found)))
    return found


def split_comment(line: str) -> tuple[str, str]:
    """The code and the trailing comment of one shell line (quotes respected)."""
    quote = ""
    for position, char in enumerate(line):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (position == 0 or line[position - 1].isspace()):
            return line[:position].rstrip(), line[position + 1 :].strip()
    return line.rstrip(), ""


def commands_of(block: Block) -> Iterator[Command]:
    lines = list(block.lines)
    pending: Command | None = None
    while lines:
        line = lines.pop(0)
        code, comment = split_comment(line)
        if not code.strip():
            if comment and pending is not None:  # a comment that goes on from the last line
                pending = Command(pending.code, f"{pending.comment} {comment}", block)
            continue
        if pending is not None:
            yield pending
        parts, comments = [code], [comment]
        heredoc = re.search(r"<<'?(\w+)'?", code)
        if heredoc:
            while lines:
                body = lines.pop(0)
                parts.append(body)
                if body.strip() == heredoc.group(1):
                    break
        while parts[-1].endswith("\\") and lines:
            more_code, more_comment = split_comment(lines.pop(0))
            parts[-1] = parts[-1].removesuffix("\\")
            parts.append(more_code.strip())
            comments.append(more_comment)
        joiner = "\n" if heredoc else " "
        pending = Command(joiner.join(parts), " ".join(c for c in comments if c), block)
    if pending is not None:
        yield pending


def shell_commands() -> list[Command]:
    return [c for b in blocks() if b.language == "sh" for c in commands_of(b)]


def haven_argv(command: Command) -> list[str] | None:
    """The arguments `haven` is given, or None when the command does not run Haven."""
    words = command.words()
    if "|" in words:
        words = words[len(words) - words[::-1].index("|") :]
    while words and re.match(r"^[A-Z_]+=", words[0]):
        words = words[1:]
    if words[:3] == ["python", "-m", "bot"]:
        words = ["haven", *words[3:]]
    if not words or words[0] not in HAVEN_PROGRAMS:
        return None
    argv = words[1:]
    if "<" in argv:
        argv = argv[: argv.index("<")]
    return argv


def expanded(argv: list[str], *, optional: bool) -> list[str]:
    """Usage notation made into real arguments: `[--force]` kept when ``optional``,
    `A|B` the first of them, placeholders given values a parser accepts."""
    text = " ".join(argv)
    text = re.sub(r"\[([^\]]*)\]", lambda m: m.group(1) if optional else "", text)
    words = [word.split("|")[0] for word in text.split()]
    values = {"CASE": "1", "TEXT": "readme", "FILE": "out.zip", "DIR": "somewhere"}
    return [values.get(word, word) for word in words]


BLOCKS_RUN_WHOLE = (
    "sha256sum -c SHA256SUMS",
    "| .venv/bin/haven run --config",
    "haven restore /backups/",
)


def run_as_a_whole(block: Block) -> bool:
    return any(marker in block.text for marker in BLOCKS_RUN_WHOLE)


def how_it_is_tested(command: Command) -> str | None:
    words = command.words()
    if NOT_RUN.search(command.comment):
        return "not run, the README says why"
    if haven_argv(command) is not None:
        return "parsed by the real CLI (and run below when it is an operator command)"
    if words[0] == "make" and len(words) == 2:
        return "make target"
    if words[0].endswith("/python") and words[1].startswith("bench/"):
        name = Path(words[1]).stem
        return "tests/test_benches.py" if name in SMALL or name == "scale" else None
    if words[0].endswith("/pytest") and (ROOT / words[1]).is_file():
        return "a file of the suite"
    if run_as_a_whole(command.block):
        return "its block is run as a whole"
    return None


# What the README's configurations need from the environment, never real here.
STAND_IN_SECRETS = {
    "HAVEN_TELEGRAM_TOKEN": "123456:stand-in",
    "HAVEN_SLACK_BOT_TOKEN": "xoxb-stand-in",
    "HAVEN_SLACK_SIGNING_SECRET": "stand-in",
    "HAVEN_SLACK_APP_TOKEN": "xapp-stand-in",
}


# ---- every command is accounted for ---------------------------------------------------


def test_the_readme_shows_commands_and_every_one_is_tested_or_says_why_not() -> None:
    commands = shell_commands()
    assert len(commands) > 30
    untested = [c.code for c in commands if how_it_is_tested(c) is None]
    assert untested == [], "add a test, or say beside it why it is not run"


def test_the_two_commands_stay() -> None:
    codes = [c.code for c in shell_commands()]
    assert codes[:2] == ["make run", "make test"]


@pytest.mark.parametrize(
    "argv",
    [haven_argv(c) for c in shell_commands() if haven_argv(c) is not None],
    ids=lambda argv: " ".join(argv or [])[:60],
)
def test_each_haven_command_parses_with_the_real_cli(argv: list[str]) -> None:
    try:
        _parser().parse_args(expanded(argv, optional=True))
    except SystemExit as exc:
        pytest.fail(f"`haven {' '.join(argv)}` does not parse: exit {exc.code}")


@pytest.mark.parametrize(
    "target",
    sorted({c.words()[1] for c in shell_commands() if c.words()[0] == "make"}),
)
def test_each_make_target_exists(target: str) -> None:
    done = subprocess.run(
        ["make", "-n", target], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr


def test_every_toml_block_is_a_configuration_haven_accepts(tmp_path: Path) -> None:
    configs = [b for b in blocks() if b.language == "toml"]
    assert len(configs) >= 5
    for block in configs:
        tomllib.loads(block.text)
        path = tmp_path / f"block-{block.number}.toml"
        path.write_text(block.text, encoding="utf-8")
        load_config(path, data_dir_override=tmp_path / "data", environ=STAND_IN_SECRETS)


# ---- the operator commands, run ---------------------------------------------------------


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory with case 1 and two evidence items, made the way a person would."""
    path = tmp_path_factory.mktemp("readme") / "data"
    script = "/start\nEnglish\n/forward Zhang San | pay or else\n/forward Li Si | the screenshot\n"
    done = subprocess.run(
        [str(BIN / "haven"), "run", "--data-dir", str(path)],
        input=script,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": str(BIN) + ":/usr/bin:/bin", "HOME": str(path.parent)},
    )
    assert done.returncode == 0, done.stderr
    return path


def operator_commands() -> list[list[str]]:
    """The commands of the README's list of operator commands (the block with `haven init`)."""
    (block,) = [b for b in blocks() if b.language == "sh" and "haven init " in b.text]
    found = []
    for command in commands_of(block):
        argv = haven_argv(command)
        if argv and argv[0] in OPERATOR_COMMANDS and "|" not in command.words():
            found.append(expanded(argv, optional=False))
    return found


def test_the_operator_commands_run_in_the_readmes_order(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("HAVEN_CONFIG", "HAVEN_MASTER_KEY", "HAVEN_TELEGRAM_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    commands = operator_commands()
    assert [argv[0] for argv in commands][:3] == ["init", "audit", "export"]
    bundle, backup = str(tmp_path / "bundle.zip"), str(tmp_path / "backup.tar")
    files = {"report": str(tmp_path / "report.pdf"), "backup": backup, "restore": backup}
    for argv in commands:
        if argv[0] == "erase":
            argv = [*argv, "--yes"]  # not on a terminal: the question is answered here
        places = {"out.zip": files.get(argv[0], bundle), "BUNDLE.zip": bundle}
        words = [places.get(word, word) for word in argv]
        if argv[0] == "restore":  # into an empty data directory, as it must be
            words += ["--data-dir", str(tmp_path / "restored")]
        elif argv[0] != "verify":
            words += ["--data-dir", str(data)]
        status = main(words)
        assert status == 0, (words, capsys.readouterr())
    assert (tmp_path / "bundle.zip").is_file() and (tmp_path / "report.pdf").is_file()
    assert (tmp_path / "restored" / "haven.db").is_file()


# ---- blocks run as a whole ------------------------------------------------------------------


def test_the_hand_checks_of_a_bundle_say_what_the_readme_says(tmp_path: Path) -> None:
    (block,) = [b for b in blocks() if "sha256sum -c SHA256SUMS" in b.text]
    data = tmp_path / "data"
    bundle = tmp_path / "bundle.zip"
    script = "/start\nEnglish\n/forward Zhang San | pay or else\n"
    done = subprocess.run(
        [str(BIN / "haven"), "run", "--data-dir", str(data)],
        input=script,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    argv = ["export", "1", "--out", str(bundle), "--reason", "readme", "--data-dir", str(data)]
    assert main(argv) == 0
    folder = tmp_path / "unzipped"
    with zipfile.ZipFile(bundle) as archive:  # our own bundle: safe to extract
        archive.extractall(folder)
    checked = 0
    for command in commands_of(block):
        if NOT_RUN.search(command.comment):
            continue
        done = subprocess.run(
            ["sh", "-c", command.code], cwd=folder, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, (command.code, done.stderr)
        promised = command.comment
        if promised and promised[0].isupper():  # the output the README promises
            assert promised in done.stdout + done.stderr, command.code
        checked += 1
    assert checked >= 4


@pytest.mark.parametrize(
    "marker", ["delay_factor = 0.001", "staff-demo.toml"], ids=["reminders", "staff"]
)
def test_the_console_demos_run_as_shown(marker: str, tmp_path: Path) -> None:
    (block,) = [b for b in blocks() if marker in b.text]
    script = block.text.replace(".venv/bin/", f"{BIN}/").replace("/tmp/haven-", f"{tmp_path}/")
    done = subprocess.run(
        ["sh", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=110
    )
    assert done.returncode == 0, done.stderr
    assert "Haven ›" in done.stdout
    if marker == "staff-demo.toml":
        assert "[staff]" in done.stdout and "Retrieval #1 approved" in done.stdout
    else:
        assert "⏰" in done.stdout or "Reminder" in done.stdout or "reminder" in done.stdout


def test_the_backup_and_restore_block_runs_as_shown(data: Path, tmp_path: Path) -> None:
    (block,) = [b for b in blocks() if "haven restore /backups/" in b.text]
    shutil.copytree(data, tmp_path / "data")  # the default --data-dir, ./data
    for name in ("master.key", "log-signing.key", "log-public-key.pem"):
        shutil.copy2(data / name, tmp_path / name)  # kept apart, as the README asks
    (tmp_path / "backups").mkdir()
    script = block.text.replace("/backups/", f"{tmp_path}/backups/")
    script = script.replace("/srv/haven/data", str(tmp_path / "restored"))
    environment = {"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run(
        ["sh", "-ec", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=110,
        env=environment,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "audit passed" in done.stdout
