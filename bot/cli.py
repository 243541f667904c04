"""The `haven` command line: run the bot, replay the demo."""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from bot import verify
from bot.config import Config, ConfigError, load_config
from bot.content import ContentError
from bot.demo import DEMO_SCRIPT
from bot.outbox_admin import outbox_command
from bot.runtime import StartupError, configure_logging, prepare_data_dir, run
from storage.database import SchemaError

EXIT_USAGE = 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        if args.command == "demo":
            return _demo(args)
        if args.command == "outbox":
            return _outbox(args)
        if args.command == "verify":
            return verify.run(args.bundle, args.key)
        return _run(args)
    except (ConfigError, StartupError, SchemaError, ContentError) as exc:
        print(f"haven: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except SQLAlchemyError as exc:
        print(f"haven: the database cannot be used: {_first_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="haven", description="Haven: a response guide for leaked private chats."
    )
    commands = parser.add_subparsers(dest="command")
    run_cmd = commands.add_parser("run", help="start Haven (console adapter + SQLite by default)")
    _common(run_cmd)
    run_cmd.add_argument(
        "--adapter",
        choices=["console", "telegram", "slack"],
        help="run only this adapter (default: adapters.enabled from the config)",
    )
    run_cmd.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    demo_cmd = commands.add_parser("demo", help="replay a short scripted incident end to end")
    _common(demo_cmd)
    outbox_cmd = commands.add_parser(
        "outbox", help="count undelivered messages; `haven outbox retry` re-queues dead letters"
    )
    _common(outbox_cmd)
    outbox_cmd.add_argument("action", nargs="?", choices=["retry"], help="re-queue dead letters")
    verify_cmd = commands.add_parser(
        "verify", help="check an evidence bundle offline (exit 0 only if everything verifies)"
    )
    verify_cmd.add_argument("bundle", type=Path, metavar="BUNDLE.zip")
    verify_cmd.add_argument(
        "--key", type=Path, metavar="PEM", help="the log's public key, obtained independently"
    )
    return parser


def _common(command: argparse.ArgumentParser) -> None:
    command.add_argument("--config", type=Path, help="config file (default: $HAVEN_CONFIG)")
    command.add_argument("--data-dir", type=Path, help="data directory (default: ./data)")


def _load(args: argparse.Namespace, data_dir: Path | None = None) -> Config:
    path = args.config or (
        Path(os.environ["HAVEN_CONFIG"]) if os.environ.get("HAVEN_CONFIG") else None
    )
    override = data_dir or args.data_dir
    config = load_config(path, data_dir_override=override.resolve() if override else None)
    if getattr(args, "adapter", None):
        config = config.with_adapters([args.adapter])
    return config


def _run(args: argparse.Namespace) -> int:
    config = _load(args)
    prepare_data_dir(config.data_dir)
    configure_logging(config.data_dir, args.verbose)
    if sys.stdin.isatty():
        print(f"Haven is listening (data: {config.data_dir}). Type /start; Ctrl-D to quit.\n")
    asyncio.run(run(config))
    return 0


def _outbox(args: argparse.Namespace) -> int:
    config = _load(args)
    prepare_data_dir(config.data_dir)
    print(asyncio.run(outbox_command(config, retry=args.action == "retry")))
    return 0


def _demo(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="haven-demo-") as scratch:
        config = _load(args, data_dir=args.data_dir or Path(scratch))
        prepare_data_dir(config.data_dir)
        configure_logging(config.data_dir, verbose=False)
        for part, script in enumerate(DEMO_SCRIPT, start=1):
            print(f"──── demo, part {part} of {len(DEMO_SCRIPT)} ────\n")
            asyncio.run(run(config, stdin=io.StringIO(script)))
    return 0


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
