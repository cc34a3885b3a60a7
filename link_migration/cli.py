"""The command line: parses arguments, wires the pieces together, prints, returns the status."""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import traceback
from pathlib import Path
from typing import Sequence, TextIO

from . import __version__, report
from .config import Config, load_config
from .discovery import Catalogue, MigrationLoader, discover, locate_migrations
from .errors import LinkMigrationError, UsageError
from .plan import DOWN, UP, Plan, Request, Step, make_plan
from .lock import DEFAULT_TIMEOUT, held, lock_for
from .runner import run_plan
from .signals import Interrupted, SignalGuard
from .state import MODIFIED, migration_states
from .stores import open_store

PROG = "link-migration"
EXIT_INTERRUPTED = 130
EXIT_INTERNAL = 70

EPILOG = """\
examples:
  link-migration -c conf.py            apply every pending migration
  link-migration -c conf.py --to 57    go up or down to version 57
  link-migration -c conf.py --down     roll back the last applied migration
  link-migration -c conf.py --dry-run  show the plan, run nothing
  link-migration -c conf.py status     every migration's state
  link-migration -c conf.py current    print the current version

exit status: 0 done, 1 a migration failed, 2 bad usage or configuration (nothing changed),
  3 another runner held the lock too long, 130/143 stopped by SIGINT/SIGTERM
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message, f"Run '{PROG} --help' for usage.")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Run schema and data migrations in version order.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    _add_config_option(parser, default=None)
    direction = parser.add_mutually_exclusive_group()
    direction.add_argument(
        "-u", "--up", nargs="?", const=-1, type=_count, metavar="N",
        help="apply all pending migrations (the default), or the next N",
    )
    direction.add_argument(
        "-d", "--down", nargs="?", const=1, type=_count, metavar="N",
        help="roll back the last applied migration, or the last N",
    )
    direction.add_argument(
        "-t", "--to", type=_version, metavar="V",
        help="migrate up or down to exactly version V (0: roll back everything)",
    )
    parser.add_argument(
        "--dry-run", "--no-exec", action="store_true",
        help="print the plan with each step's docstrings; run and record nothing",
    )
    parser.add_argument(
        "--fake", action="store_true",
        help="record the plan's versions without running the migrations",
    )
    parser.add_argument(
        "--lock-timeout", type=_seconds, default=DEFAULT_TIMEOUT, metavar="S",
        help=f"wait up to S seconds for another runner's lock (default {DEFAULT_TIMEOUT:g})",
    )
    parser.add_argument(
        "--out-of-order", action="store_true",
        help="also apply pending migrations below the current version (SQL stores)",
    )
    parser.set_defaults(handler=_run)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    for name, handler, summary in (
        ("status", _status, "show every migration's state, and the store's current version"),
        ("current", _current, "print the current version alone, for scripts"),
        ("history", _history, "show the log of every up, down and fake, newest first (SQL stores)"),
        ("unlock", _unlock, "break the lock a dead runner left behind, and say whose it was"),
    ):
        command = commands.add_parser(name, help=summary, description=summary[0].upper() + summary[1:] + ".")
        # SUPPRESS: -c after the command must not reset one given before it.
        _add_config_option(command, default=argparse.SUPPRESS)
        if name in ("status", "history"):
            command.add_argument("--json", action="store_true", help="one JSON document on stdout")
        if name == "history":
            command.add_argument("--limit", type=_count, metavar="N", help="show the newest N only")
        command.set_defaults(handler=handler)
    return parser


def _add_config_option(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument(
        "-c", "--config-file", dest="config", metavar="CONF", default=default,
        help="conf.py path or dotted module (default: $LINK_MIGRATION_CONFIG, then ./conf.py)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    stdout, stderr = sys.stdout, sys.stderr
    try:
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as exc:  # --help and --version end here
            return exc.code if isinstance(exc.code, int) else 0
        return args.handler(args, stdout, stderr)
    except LinkMigrationError as exc:
        print(f"{PROG}: error: {exc.message}", file=stderr)
        if exc.detail:
            print(exc.detail.rstrip("\n"), file=stderr)
        if exc.hint:
            print(exc.hint, file=stderr)
        return exc.exit_code
    except Interrupted as exc:
        print(f"{PROG}: error: interrupted by {exc}", file=stderr)
        print("The store holds every migration that completed; run again to go on.", file=stderr)
        return 128 + exc.signum
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=stderr)
        return EXIT_INTERRUPTED
    except Exception:
        traceback.print_exc(file=stderr)
        print(f"{PROG}: internal error: this is a bug in link-migration; please report it "
              "with the traceback above.", file=stderr)
        return EXIT_INTERNAL


def _run(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    config = _load(args)
    with contextlib.closing(open_store(config)) as store, SignalGuard(stderr) as guard:
        catalogue, loader = _discover(config, stderr)
        # The lock comes before the store is read, so that of several runners started at
        # once, one migrates and the others then find nothing to do. A dry run changes
        # nothing and needs none.
        exclusive = contextlib.nullcontext() if args.dry_run else held(
            lock_for(config, store),
            args.lock_timeout,
            on_wait=lambda message: _say(stderr, message),
            on_break=lambda message: _warn(stderr, message),
        )
        with exclusive:
            state = store.read_state()
            for row in migration_states(catalogue.migrations, state):
                if row.state == MODIFIED and row.migration is not None:
                    _warn(stderr, f"migration {row.version} ({row.migration.path}) has changed "
                                  "since it was applied (its checksum differs)")
            plan = make_plan(
                catalogue.migrations,
                state.current,
                _request(args),
                applied=None if state.applied is None else state.applied.keys(),
                allow_out_of_order=args.out_of_order,
            )
            for warning in plan.warnings:
                _warn(stderr, warning)
            if not plan.steps:
                if not catalogue.migrations:
                    print(f"No migrations in {catalogue.folder.path}: nothing to do.", file=stdout)
                else:
                    print(f"Already at version {state.current}: nothing to do.", file=stdout)
                return 0
            if args.dry_run:
                print(report.plan_header(plan, store.describe(), dry_run=True), file=stdout)
                _print_dry_run(plan, stdout)
                return 0
            progress = _PrintedProgress(stdout, store.describe(), fake=args.fake)
            try:
                result = run_plan(
                    plan, store, config, loader, progress, fake=args.fake, guard=guard
                )
            finally:
                progress.close()
            print(report.summary(result), file=stdout)
            return 0


def _current(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    with contextlib.closing(open_store(_load(args))) as store:
        print(store.read_state().current, file=stdout)
    return 0


def _status(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    config = _load(args)
    with contextlib.closing(open_store(config)) as store:
        catalogue, _ = _discover(config, stderr)
        state = store.read_state()
        rows = migration_states(catalogue.migrations, state)
        if args.json:
            print(report.status_json(rows, state.current, store.describe()), file=stdout)
        else:
            print(report.status_table(rows, state.current, store.describe()), file=stdout)
    return 0


def _unlock(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    config = _load(args)
    with contextlib.closing(open_store(config)) as store:
        print(lock_for(config, store).break_lock(), file=stdout)
    return 0


def _history(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    with contextlib.closing(open_store(_load(args))) as store:
        entries = store.read_log(args.limit)
        if entries is None:
            raise UsageError(
                f"history needs a SQL store; {store.describe()} keeps only the current version",
                "Use DATABASE or get_connection() in conf.py to keep a history.",
            )
        if args.json:
            print(report.history_json(entries, store.describe()), file=stdout)
        else:
            print(report.history_table(entries, store.describe()), file=stdout)
    return 0


def _load(args: argparse.Namespace) -> Config:
    return load_config(getattr(args, "config", None), Path.cwd(), os.environ)


def _discover(config: Config, stderr: TextIO) -> tuple[Catalogue, MigrationLoader]:
    folder = locate_migrations(config, Path.cwd())
    loader = MigrationLoader(folder)
    catalogue = discover(folder, loader, exclude=[config.path])
    for path in catalogue.skipped:
        _warn(stderr, f"skipped {path}: it has no `version`, so it is not a migration")
    return catalogue, loader


def _request(args: argparse.Namespace) -> Request:
    if args.to is not None:
        return Request("to", target=args.to)
    if args.down is not None:
        return Request(DOWN, count=args.down)
    return Request(UP, count=None if args.up in (None, -1) else args.up)


def _print_dry_run(plan: Plan, stdout: TextIO) -> None:
    total = len(plan.steps)
    for index, step in enumerate(plan.steps, start=1):
        print(report.step_line(index, total, step), file=stdout)
        doc = report.step_docstring(step)
        if doc:
            print(doc, file=stdout)


def _warn(stderr: TextIO, message: str) -> None:
    print(f"{PROG}: warning: {message}", file=stderr, flush=True)


def _say(stderr: TextIO, message: str) -> None:
    print(f"{PROG}: {message}", file=stderr, flush=True)


class _PrintedProgress:
    """Prints each step as it starts and ends, and indents what the migration prints."""

    def __init__(self, stdout: TextIO, store: str, *, fake: bool) -> None:
        self._stdout = stdout
        self._store = store
        self._fake = fake
        self._output = _IndentedStream(stdout, report.INDENT)

    def run_started(self, plan: Plan) -> None:
        print(report.plan_header(plan, self._store, fake=self._fake), file=self._stdout, flush=True)

    def step_started(self, index: int, total: int, step: Step) -> None:
        print(report.step_line(index, total, step, fake=self._fake), file=self._stdout, flush=True)

    def step_finished(self, index: int, total: int, step: Step, seconds: float) -> None:
        self._output.end_line()
        print(report.step_done(seconds), file=self._stdout, flush=True)

    def migration_output(self) -> TextIO:
        return self._output

    def close(self) -> None:
        """End a line a failing migration left open, before the error is printed."""
        self._output.end_line()
        self._stdout.flush()


class _IndentedStream(io.TextIOBase):
    """A write-through stream that indents every line a migration prints.

    Anything else a migration asks of sys.stdout (fileno() for a subprocess, encoding, buffer)
    is the real stream's: output written that way is not indented, but it works.
    """

    def __init__(self, target: TextIO, indent: str) -> None:
        self._target = target
        self._indent = indent
        self._at_line_start = True

    def write(self, text: str) -> int:
        for piece in text.splitlines(keepends=True):
            if self._at_line_start:
                self._target.write(self._indent)
            self._target.write(piece)
            self._at_line_start = piece.endswith(("\n", "\r"))
        return len(text)

    def end_line(self) -> None:
        """Finish a last line the migration left open, so our next line starts clean."""
        if not self._at_line_start:
            self._target.write("\n")
            self._at_line_start = True

    def flush(self) -> None:
        self._target.flush()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self._target.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._target, "encoding", "utf-8")

    def __getattr__(self, name: str) -> object:
        return getattr(self._target, name)


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of migrations") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value}: the number of migrations must be 1 or more")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{text}: the timeout must be 0 or more seconds")
    return value


def _version(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a version (a whole number)") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value}: a version is 0 or more")
    return value
