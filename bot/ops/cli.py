"""The `haven` command line: run the bot, replay the demo."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import io
import os
import sys
import tempfile
from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy.exc import SQLAlchemyError

from bot.config import Config, ConfigError, load_config
from bot.content.playbook import ContentError
from bot.delivery.outbox_admin import outbox_command
from bot.evidence import case_report, erasure, export, retention, rotation, verify
from bot.evidence.bundle import key_fingerprint
from bot.evidence.keyfiles import (
    holds_haven_data,
    log_key_path,
    log_verifier,
    master_key_path,
    publish_public_key,
)
from bot.evidence.store import OPERATOR, OperatorError, Store
from bot.ops import backup as backups
from bot.ops import startup
from bot.ops.demo import DEMO_SCRIPT
from bot.ops.migrate import migrate
from bot.ops.operator import audit_store, open_store
from bot.ops.progress import terminal_progress
from bot.runtime import StartupError, configure_logging, run
from storage.data_dir import DataDirError, exposure_warning, prepare_data_dir
from storage.database import SchemaError
from storage.dir_lock import data_dir_lock
from storage.work_progress import Progress

ROTATION = "haven keys rotate"
EXIT_USAGE = 2
EXIT_FAILED = 1


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
            with terminal_progress() as progress:
                return verify.run(args.bundle, args.key, args.tsa_ca, args.verbose, progress)
        if args.command in _OPERATOR_COMMANDS:
            return _operator(args)
        if args.command == "migrate":
            return _migrate(args)
        if args.command == "backup":
            return _backup(args)
        if args.command == "restore":
            return _restore(args)
        return _run(args)
    except OperatorError as exc:
        print(f"haven: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except (ConfigError, StartupError, DataDirError, SchemaError, ContentError) as exc:
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
        choices=["console", "telegram", "slack", "web"],
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
        "--key",
        type=Path,
        metavar="KEY",
        help="the log's public key, obtained independently (PEM, or the .vkey verifier key)",
    )
    verify_cmd.add_argument(
        "--tsa-ca",
        type=Path,
        metavar="PEM",
        help="CA certificate(s) of the time-stamping authorities, to check the timestamps",
    )
    verify_cmd.add_argument(
        "-v", "--verbose", action="store_true", help="a line for every item and custody event"
    )
    _operator_parsers(commands)
    return parser


def _operator_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    init_cmd = commands.add_parser(
        "init", help="create the data directory, database and keys; print the log's public key"
    )
    _common(init_cmd)
    audit_cmd = commands.add_parser("audit", help="check the evidence store against its log")
    audit_cmd.add_argument("action", choices=["verify"])
    _common(audit_cmd)
    export_cmd = commands.add_parser("export", help="write a case's evidence bundle")
    export_cmd.add_argument("case", type=int, metavar="CASE")
    export_cmd.add_argument("--out", type=Path, required=True, metavar="FILE")
    export_cmd.add_argument("--reason", required=True, help="why (logged as a custody event)")
    export_cmd.add_argument(
        "--force", action="store_true", help="replace FILE if it exists (a link is replaced)"
    )
    _common(export_cmd)
    report_cmd = commands.add_parser(
        "report", help="write a case report (PDF) for a lawyer or the police"
    )
    report_cmd.add_argument("case", type=int, metavar="CASE")
    report_cmd.add_argument("--out", type=Path, required=True, metavar="FILE")
    report_cmd.add_argument("--reason", required=True, help="why (logged as a custody event)")
    report_cmd.add_argument(
        "--force", action="store_true", help="replace FILE if it exists (a link is replaced)"
    )
    _common(report_cmd)
    hold_cmd = commands.add_parser("hold", help="put a case on legal hold (no erasure)")
    hold_cmd.add_argument("case", type=int, metavar="CASE")
    hold_cmd.add_argument("--reason", required=True)
    _common(hold_cmd)
    release_cmd = commands.add_parser("release", help="release a case's legal hold")
    release_cmd.add_argument("case", type=int, metavar="CASE")
    release_cmd.add_argument("--reason", default="")
    _common(release_cmd)
    erase_cmd = commands.add_parser("erase", help="crypto-shred a case's evidence, for good")
    erase_cmd.add_argument("case", type=int, metavar="CASE")
    erase_cmd.add_argument("--reason", default="operator request")
    erase_cmd.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    _common(erase_cmd)
    retention_cmd = commands.add_parser(
        "retention", help="list (--dry-run) or erase (--apply) cases past retention"
    )
    mode = retention_cmd.add_mutually_exclusive_group(required=True)
    mode.add_argument("--dry-run", action="store_true")
    mode.add_argument("--apply", action="store_true")
    _common(retention_cmd)
    keys_cmd = commands.add_parser("keys", help="`haven keys rotate`: replace the master key")
    keys_cmd.add_argument("action", choices=["rotate"])
    _common(keys_cmd)
    backup_cmd = commands.add_parser(
        "backup", help="write a signed backup of the data (SQLite; never the key files)"
    )
    backup_cmd.add_argument("--out", type=Path, required=True, metavar="FILE")
    backup_cmd.add_argument(
        "--force", action="store_true", help="replace FILE if it exists (a link is replaced)"
    )
    _common(backup_cmd)
    restore_cmd = commands.add_parser(
        "restore", help="restore a backup into an empty data directory (--data-dir)"
    )
    restore_cmd.add_argument("archive", type=Path, metavar="FILE")
    restore_cmd.add_argument(
        "--key",
        type=Path,
        metavar="KEY",
        help="the log's published public key (PEM or .vkey): the backup must be signed by it",
    )
    _common(restore_cmd)
    migrate_cmd = commands.add_parser(
        "migrate", help="copy this SQLite deployment into an empty PostgreSQL database"
    )
    migrate_cmd.add_argument(
        "--to", required=True, metavar="URL", help="postgresql+asyncpg://user@host/db"
    )
    _common(migrate_cmd)


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


def _existing(args: argparse.Namespace) -> Config:
    """The config of a data directory Haven has been set up in (see _require_data)."""
    config = _load(args)
    _require_data(config)
    return config


def _require_data(config: Config) -> None:
    """Anything but a data directory Haven has been set up in (a typo in --data-dir, a
    missing mount) is refused before a file is made there, so a command never reports on
    a store it has just created empty."""
    if not holds_haven_data(config):
        raise DataDirError(
            f"{config.data_dir} holds no Haven data: check --data-dir (or data_dir in the "
            "config); `haven init` or `haven run` sets up a new one"
        )


def _run(args: argparse.Namespace) -> int:
    config = _load(args)
    refused = startup.refusals(config, sys.stdin)
    if refused:
        raise StartupError(refused[0])
    new_data_dir = not holds_haven_data(config)
    _prepare(config)
    with writer_lock(config, "haven run"):
        configure_logging(config.data_dir, args.verbose)
        if sys.stdin.isatty():
            print(f"Haven is listening (data: {config.data_dir}). Type /start; Ctrl-D to quit.\n")
        announce = functools.partial(startup.announce, config, new_data_dir=new_data_dir)
        asyncio.run(run(config, announce=announce))
    return 0


def _migrate(args: argparse.Namespace) -> int:
    config = _existing(args)
    _prepare(config)
    with writer_lock(config, "haven migrate"):
        return asyncio.run(migrate(config, args.to))


def _backup(args: argparse.Namespace) -> int:
    config = _load(args)
    backups.sqlite_only(config)
    _require_data(config)
    out = writable(args.out, args.force)
    _prepare(config)
    done = asyncio.run(backups.backup(config, out))
    print(f"backup of {done.files} file(s), {done.size} bytes, signed -> {done.path}")
    print(backups.keys_note(config))
    return 0


def _restore(args: argparse.Namespace) -> int:
    config = _load(args)
    backups.sqlite_only(config)
    backups.empty_or_missing(config.data_dir)
    _prepare(config)
    with writer_lock(config, "haven restore"):
        done = backups.restore(config, args.archive, args.key)
    print(
        f"restored {done.files} file(s), {done.size} bytes, from the backup of "
        f"{done.created_at} into {config.data_dir}"
    )
    print(
        f"  signed by the log key with SHA-256 fingerprint {backups.fingerprint(done.public_key)}"
    )
    print(
        "Now put the key files back (master.key, or HAVEN_MASTER_KEY, and "
        f"log-signing.key in {config.data_dir}), then run `haven audit verify`."
    )
    return 0


def _prepare(config: Config) -> None:
    """The data directory made ready; a warning if others can look into it."""
    prepare_data_dir(config.data_dir)
    warning = exposure_warning(config.data_dir)
    if warning:
        print(f"haven: warning: {warning}", file=sys.stderr)


def writer_lock(config: Config, doing: str) -> AbstractContextManager[None]:
    """The data directory's lock for a command that changes what a running Haven relies
    on (storage/dir_lock.py). On SQLite each holds it alone. On PostgreSQL several
    `haven run` share it, and only key rotation needs it alone; the other commands are
    made safe among instances by the database."""
    on_postgresql = not config.database_url.startswith("sqlite")
    if doing == "haven run":
        return data_dir_lock(config.data_dir, doing, shared=on_postgresql)
    if on_postgresql and doing != ROTATION:
        return contextlib.nullcontext()
    return data_dir_lock(config.data_dir, doing)


def _outbox(args: argparse.Namespace) -> int:
    config = _existing(args)
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


def writable(out: Path, force: bool) -> Path:
    """Where to write an operator's file: made absolute without following any symbolic
    link (the file is written beside it and renamed over it, so a link named FILE is
    replaced, never its target), and refused if something is there already, unless
    ``force``."""
    path = Path(os.path.abspath(out))
    if path.is_symlink() or path.exists():
        if not force:
            raise OperatorError(f"{path} exists; choose another file, or add --force to replace it")
        if path.is_dir() and not path.is_symlink():
            raise OperatorError(f"{path} is a directory")
    return path


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


_OPERATOR_COMMANDS = (
    "init",
    "audit",
    "export",
    "report",
    "hold",
    "release",
    "erase",
    "retention",
    "keys",
)


# The operator commands that take the data directory's lock (see writer_lock).
_WRITERS = {"init": "haven init", "erase": "haven erase", "keys": ROTATION}


def _operator(args: argparse.Namespace) -> int:
    config = _load(args) if args.command == "init" else _existing(args)
    if args.command == "erase" and not args.yes and not _confirmed(args.case):
        print("haven: not erased", file=sys.stderr)
        return EXIT_FAILED
    _prepare(config)
    doing = _WRITERS.get(args.command)
    if args.command == "retention" and args.apply:
        doing = "haven retention --apply"
    lock = writer_lock(config, doing) if doing else contextlib.nullcontext()
    with lock, terminal_progress() as progress:
        return asyncio.run(_operate(config, args, progress))


def _confirmed(case_id: int) -> bool:
    if not sys.stdin.isatty():
        print("haven: erasing needs --yes when not run on a terminal", file=sys.stderr)
        return False
    answer = input(
        f"Erase case {case_id}? Its evidence can never be read again. "
        f"Type the case number to confirm: "
    )
    return answer.strip() == str(case_id)


async def _operate(config: Config, args: argparse.Namespace, progress: Progress) -> int:
    async with open_store(config) as store:
        return await _OPERATIONS[args.command](store, args, progress)


async def _init(store: Store, args: argparse.Namespace, progress: Progress) -> int:
    config = store.config
    public = publish_public_key(config, store.log_key)
    raw = store.log_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    source = "HAVEN_MASTER_KEY" if config.secrets.master_key else master_key_path(config)
    print(f"Haven is set up in {config.data_dir}")
    print(f"  database         {config.database_url}")
    print(f"  master key       {source} (id {store.keyring.current.key_id})")
    print(f"  log signing key  {log_key_path(config)}")
    print(f"  log public key   {public}")
    print(f"                   SHA-256 fingerprint {key_fingerprint(raw).hex()}")
    print(f"  verifier key     {log_verifier(config, store.log_key).vkey()}")
    print(
        "Back up the master key somewhere safe and apart from the data: without it no "
        "evidence can be read.\nPublish the log public key (or its fingerprint) where "
        "Haven cannot change it, so whoever checks a bundle can pin it: "
        "`haven verify BUNDLE.zip --key log-public-key.pem`."
    )
    return 0


async def _audit(store: Store, args: argparse.Namespace, progress: Progress) -> int:
    findings = await audit_store(store, progress)
    for finding in findings:
        print(finding)
    if findings:
        print(f"audit failed: {len(findings)} finding(s)")
        return EXIT_FAILED
    print("audit passed: the log, the records and the content agree")
    return 0


async def _export(store: Store, args: argparse.Namespace, progress: Progress) -> int:
    done = await export.export_case(
        store,
        args.case,
        writable(args.out, args.force),
        actor=OPERATOR,
        reason=args.reason,
        progress=progress,
    )
    print(
        f"exported case {args.case}: {done.items} item(s), tree size {done.tree_size}, "
        f"verified -> {done.path}"
    )
    return 0


async def _report(store: Store, args: argparse.Namespace, progress: Progress) -> int:
    done = await case_report.write_report(
        store, args.case, writable(args.out, args.force), actor=OPERATOR, reason=args.reason
    )
    print(f"case {args.case}: report with {done.items} item(s) -> {done.path}")
    return 0


async def _hold(store: Store, args: argparse.Namespace, progress: Progress) -> int:
    await erasure.hold(store, args.case, actor=OPERATOR, reason=args.reason)
    print(f"case {args.case} is on legal hold")
    return 0


async def _release(store: Store, args: argparse.Namespace, progress: Progress) -> int:
    await erasure.release(store, args.case, actor=OPERATOR, reason=args.reason)
    print(f"case {args.case}: hold released")
    return 0


async def _erase(store: Store, args: argparse.Namespace, progress: Progress) -> int:
    done = await erasure.erase(store, args.case, actor=OPERATOR, reason=args.reason)
    print(
        f"case {done.case_id} erased: {done.items} item(s) unreadable for good, "
        f"{done.reminders_cancelled} reminder(s) cancelled, "
        f"{done.messages_dropped} unsent message(s) dropped"
    )
    return 0


async def _retention(store: Store, args: argparse.Namespace, progress: Progress) -> int:
    days = store.config.retention.closed_case_days
    if args.dry_run:
        due = await retention.due(store)
        for case in due:
            note = "  (on hold: kept)" if case.held else ""
            print(f"case {case.case_id}  closed {case.closed_at:%Y-%m-%d}{note}")
        print(f"{sum(not c.held for c in due)} case(s) would be erased (closed > {days} days)")
        leftovers = len(await retention.leftover_blobs(store))
        print(f"{leftovers} leftover blob file(s) that no item names would be deleted")
        return 0
    erased, kept = await retention.apply(store, progress=progress)
    for case in erased:
        print(f"case {case.case_id} erased")
    for case in kept:
        print(f"case {case.case_id} kept: on legal hold")
    print(f"{len(erased)} case(s) erased, {len(kept)} kept on hold")
    removed = await retention.remove_leftover_blobs(store)
    print(f"{removed} leftover blob file(s) that no item names deleted")
    return 0


async def _keys(store: Store, args: argparse.Namespace, progress: Progress) -> int:
    done = await rotation.rotate(store, progress=progress)
    print(
        f"master key rotated: {done.old_key_id} -> {done.new_key_id}, "
        f"{done.rewrapped} case key(s) re-wrapped"
    )
    return 0


_OPERATIONS = {
    "init": _init,
    "audit": _audit,
    "export": _export,
    "report": _report,
    "hold": _hold,
    "release": _release,
    "erase": _erase,
    "retention": _retention,
    "keys": _keys,
}
