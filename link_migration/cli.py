"""The command line: a thin layer over the Migrator API that parses, prints and returns a status.

Handlers import what they use when they run: `--help`, `--version` and `current` must not pay
for the machinery of a migration run (see bench/).
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path
TYPE_CHECKING = False  # typing itself costs milliseconds to import; type checkers know this name

from . import __version__
from .config import DEFAULT_LOCK_TIMEOUT as DEFAULT_TIMEOUT
from .errors import Interrupted, LinkMigrationError, UsageError
from .terminal import PROG, Output, printable

if TYPE_CHECKING:
    from typing import Iterator, Sequence

    from .api import Migrator
    from .config import Config
    from .fleet import Fleet
    from .plan import Plan, Request
    from .signals import SignalGuard
    from .terminal import PrintedProgress

EXIT_INTERRUPTED = 130
EXIT_INTERNAL = 70

HISTORY_LIMIT = 20  # entries `history` shows unless --limit says otherwise
CHECK_PER_KIND = 20  # problems of each kind `check` lists unless -v

EXIT_STATUS_HELP = """\
exit status: 0 done, 1 a migration failed (or check found a problem), 2 bad usage,
  configuration or migration files (nothing changed), 3 another runner held the lock too
  long, 130/143 stopped by SIGINT/SIGTERM"""

EPILOG = f"""\
examples:
  link-migration -c conf.py               apply every pending migration
  link-migration -c conf.py --to 57       go up or down to version 57
  link-migration -c conf.py --down        roll back the last applied migration
  link-migration -c conf.py --dry-run     show the plan, run nothing
  link-migration -c conf.py status        every migration's state
  link-migration -c conf.py new "add users table"

{EXIT_STATUS_HELP}
"""

COMMAND_EXAMPLES = {
    "status": "link-migration -c conf.py status\n  link-migration -c conf.py status --json | jq .current_version",
    "current": 'test "$(link-migration -c conf.py current)" -ge 57 && echo ready',
    "history": "link-migration -c conf.py history --limit 10\n  link-migration -c conf.py history --json",
    "new": 'link-migration -c conf.py new "add users table"\n  link-migration -c conf.py new "backfill emails" --timestamp\n  link-migration -c conf.py new --sql "add orders"',
    "check": "link-migration -c conf.py check || echo 'migrate before deploying'\n  link-migration -c conf.py check --json",
    "unlock": "link-migration -c conf.py unlock",
    "forget": "link-migration -c conf.py forget 3\n  link-migration -c conf.py forget --all",
    "accept": "link-migration -c conf.py accept 4\n  link-migration -c conf.py accept --all",
    "resolve": "link-migration -c conf.py resolve 7 --applied\n  link-migration -c conf.py resolve 7 --rolled-back",
    "schema": "link-migration -c conf.py schema > schema.sql\n  link-migration -c conf.py schema --json",
    "verify": "link-migration -c conf.py verify\n  link-migration -c conf.py verify --all --data --json > verify.json",
    "adopt": "link-migration -c conf.py adopt golang-migrate\n  link-migration -c conf.py adopt flyway --table app_schema_history",
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message, f"Run '{PROG} --help' for usage.")


def build_parser() -> argparse.ArgumentParser:
    """The whole command line; each subcommand names its handler with set_defaults."""
    parser = _Parser(
        prog=PROG,
        description="Run schema and data migrations in version order.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    _add_common_options(parser, defaults=True)
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
        "--sql", action="store_true",
        help="print the SQL the plan would run, bookkeeping included; run and record nothing "
             "(SQL migrations and SQL stores)",
    )
    parser.add_argument(
        "--fake", action="store_true",
        help="record the plan's versions without running the migrations",
    )
    parser.add_argument(
        "--resume", action="store_true",
        help="run a failed migration again first: a SQL one from the statement that failed, "
             "a Python one from its start (see status)",
    )
    parser.add_argument(
        "--json", action="store_true",
        help="with targets (conf.py's TARGETS): one JSON document, an entry per target",
    )
    parser.add_argument(
        "--out-of-order", action="store_true",
        help="also apply pending migrations below the current version (SQL stores)",
    )
    parser.add_argument(
        "--lock-timeout", type=_seconds, default=DEFAULT_TIMEOUT, metavar="S",
        help=f"wait up to S seconds for another runner's lock (default {DEFAULT_TIMEOUT:g})",
    )
    parser.set_defaults(handler=_run)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    for name, handler, summary in (
        ("status", _status, "show every migration's state, and the store's current version"),
        ("current", _current, "print the current version alone, for scripts"),
        ("history", _history, "show the log of every up, down and fake, newest first (SQL stores)"),
        ("new", _new, "write the next migration file from a template and print its path"),
        ("check", _check, "exit 1 when anything is pending, missing, modified or out of order"),
        ("unlock", _unlock, "break the lock a dead runner left behind, and say whose it was"),
        ("forget", _forget, "remove the history row of an applied migration whose file is gone "
                            "(SQL stores)"),
        ("accept", _accept, "record the new checksum of an applied migration whose file was "
                            "edited on purpose (SQL stores)"),
        ("resolve", _resolve, "settle a failed migration that you finished (--applied) or "
                              "undid (--rolled-back) by hand (SQL stores)"),
        ("schema", _schema, "print the database's schema, read from its catalog (SQL stores)"),
        ("verify", _verify, "prove each pending migration reversible (up, down, up) on a scratch "
                            "database, comparing schemas (SQL stores)"),
        ("adopt", _adopt, "take over a database that golang-migrate, dbmate, goose or Flyway "
                          "migrated, from that tool's own table (SQL stores)"),
    ):
        command = commands.add_parser(
            name,
            help=summary,
            description=summary[0].upper() + summary[1:] + ".",
            epilog=f"example:\n  {COMMAND_EXAMPLES[name]}\n\n{EXIT_STATUS_HELP}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        # Options may come after the command too; SUPPRESS keeps one given before it.
        _add_common_options(command, defaults=False)
        if name in ("status", "history", "check", "schema", "verify"):
            command.add_argument("--json", action="store_true", help="one JSON document on stdout")
        if name == "unlock":
            command.add_argument(
                "--force", action="store_true",
                help="break the lock even of a run that is still alive on this host",
            )
        if name == "history":
            command.add_argument(
                "--limit", type=_limit, metavar="N",
                help=f"show the newest N entries (default {HISTORY_LIMIT}, or all with --json; "
                     "0: all)",
            )
        if name == "status":
            command.add_argument(
                "--wide", action="store_true",
                help="on a terminal too, show long descriptions and file names in full "
                     "(they are cut to its width)",
            )
        if name in ("forget", "accept"):
            _add_repair_arguments(command, name)
        if name == "resolve":
            command.add_argument("version", type=_version, metavar="V",
                                 help="the failed migration (see status)")
            outcome = command.add_mutually_exclusive_group(required=True)
            outcome.add_argument("--applied", action="store_true",
                                 help="you finished it by hand: record it as done")
            outcome.add_argument("--rolled-back", action="store_true",
                                 help="you undid it by hand: forget the attempt")
            _add_lock_timeout(command)
        if name == "schema":
            command.add_argument("--data", action="store_true",
                                 help="with --json, every table's rows too")
        if name == "verify":
            command.add_argument("--all", dest="every", action="store_true",
                                 help="every migration, from an empty database (default: the "
                                      "pending ones, on a copy of the database)")
            command.add_argument("--data", action="store_true",
                                 help="compare every table's rows too")
        if name == "adopt":
            command.add_argument("tool", metavar="TOOL",
                                 help="golang-migrate, dbmate, goose or flyway")
            command.add_argument("--table", metavar="NAME",
                                 help="that tool's table, if not its default name")
            _add_lock_timeout(command)
        if name == "new":
            command.add_argument("description", help="what the migration does, in a few words")
            command.add_argument(
                "--timestamp", action="store_true",
                help="version it with a UTC timestamp instead of the highest version + 1",
            )
            command.add_argument(
                "--sql", action="store_true",
                help="write a .sql migration (dbmate's -- migrate:up / -- migrate:down markers) "
                     "instead of a .py one",
            )
        command.set_defaults(handler=handler)
    return parser


def _add_common_options(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    def default(value: object) -> object:
        return value if defaults else argparse.SUPPRESS

    parser.add_argument(
        "-c", "--config-file", dest="config", metavar="CONF", default=default(None),
        help="conf.py path or dotted module (default: $LINK_MIGRATION_CONFIG, then ./conf.py)",
    )
    loudness = parser.add_mutually_exclusive_group()
    loudness.add_argument("-q", "--quiet", action="store_true", default=default(False),
                          help="print only errors")
    loudness.add_argument("-v", "--verbose", action="store_true", default=default(False),
                          help="print more detail, and the traceback of an internal error")
    parser.add_argument(
        "--color", "--colour", dest="color", choices=("auto", "always", "never"),
        default=default("auto"),
        help="colour on a terminal (auto, the default), always, or never; NO_COLOR turns auto off",
    )
    fleet = parser.add_argument_group("many databases (conf.py's TARGETS)")
    fleet.add_argument("--target", dest="targets", action="append", metavar="NAME",
                       default=default(None),
                       help="a target to work on (repeatable; shell patterns such as 'eu_*')")
    fleet.add_argument("--all-targets", action="store_true", default=default(False),
                       help="every target conf.py's TARGETS names")
    fleet.add_argument("--shard", type=_shard, metavar="I/N", default=default(None),
                       help="only the targets in shard I of N (by a stable hash of the name), "
                            "to spread a fleet over N machines")
    fleet.add_argument("--jobs", type=_jobs, metavar="N", default=default(None),
                       help="targets migrated at once (default 4)")
    fleet.add_argument("--canary", type=_canary, metavar="K", default=default(0),
                       help="migrate the first K targets first; if one fails, start no other")
    fleet.add_argument("--keep-going", action="store_true", default=default(False),
                       help="after a target fails, go on starting the others")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    out = Output(sys.stdout, sys.stderr)
    try:
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as exc:  # --help and --version end here
            return exc.code if isinstance(exc.code, int) else 0
        out = Output(sys.stdout, sys.stderr, quiet=args.quiet, verbose=args.verbose,
                     colour=args.color)
        return args.handler(args, out)
    except LinkMigrationError as exc:
        out.error(exc.message, exc.detail, exc.hint)
        return exc.exit_code
    except Interrupted as exc:
        out.error(f"interrupted by {exc}",
                  hint="The store holds every migration that completed; run again to go on.")
        return 128 + exc.signum
    except KeyboardInterrupt:
        out.error("interrupted")
        return EXIT_INTERRUPTED
    except Exception as exc:
        import traceback

        details = traceback.format_exc() if out.verbose else ""
        out.error(
            f"internal error: {type(exc).__name__}: {exc}",
            details,
            "This is a bug in link-migration; please report it"
            + (" with the traceback above." if out.verbose else " (run with -v for the traceback)."),
        )
        return EXIT_INTERNAL


def _migrator(args: argparse.Namespace, out: Output, guard: SignalGuard | None = None,
              progress: PrintedProgress | None = None, *, command: str = "",
              config: Config | None = None) -> Migrator:
    """The Migrator for conf.py (``config``, when loaded already); with TARGETS, for the one
    target chosen: a command that works on one database (history, unlock, schema, ...)."""
    migrator = _base_migrator(config or _config(args, out), args, out, guard, progress)
    fleet = _fleet(migrator, args)
    if fleet is None:
        return migrator
    if len(fleet.targets) != 1:
        raise UsageError(
            f"{command or args.handler.__name__.strip('_')} works on one target at a time, and "
            f"the selection has {len(fleet.targets)}",
            "Name one with --target NAME.",
        )
    return fleet.migrator(fleet.targets[0], guard,
                          **({"progress": progress} if progress is not None else {}))


def _base_migrator(config: Config, args: argparse.Namespace, out: Output,
                   guard: SignalGuard | None = None,
                   progress: PrintedProgress | None = None) -> Migrator:
    """conf.py's Migrator, before any target is chosen."""
    from .api import Migrator
    from .config import CLI_WORDING

    return Migrator(
        config,
        warn=out.warn,
        on_lock_wait=out.say,
        lock_timeout=getattr(args, "lock_timeout", DEFAULT_TIMEOUT),
        guard=guard,
        progress=progress,
        wording=CLI_WORDING,
    )


def _has_fleet(config: Config, args: argparse.Namespace) -> bool:
    """Whether conf.py or the options speak of targets (SPEC 11)."""
    return config.has("TARGETS") or any(
        getattr(args, name, None) for name in ("targets", "all_targets", "shard", "jobs",
                                               "canary", "keep_going"))


def _config(args: argparse.Namespace, out: Output) -> Config:
    from .config import CLI_WORDING, load_config

    config = load_config(args.config, Path.cwd(), os.environ, wording=CLI_WORDING)
    out.detail(f"conf: {printable(str(config.path))}")
    return config


def _fleet(migrator: Migrator, args: argparse.Namespace) -> Fleet | None:
    """The targets the options choose from conf.py's TARGETS (SPEC 11); None without TARGETS,
    where no option of a fleet may be given."""
    patterns = getattr(args, "targets", None) or []
    every = getattr(args, "all_targets", False)
    shard = getattr(args, "shard", None)
    jobs = getattr(args, "jobs", None)
    canary = getattr(args, "canary", 0)
    keep_going = getattr(args, "keep_going", False)
    config = migrator.config
    if not _has_fleet(config, args):
        return None  # the usual case: no fleet module to import
    from .fleet import DEFAULT_JOBS, Fleet, select

    if not config.has("TARGETS") and not (patterns or every or shard):
        raise UsageError(
            f"{config.path} defines no TARGETS, so --jobs, --canary and --keep-going have "
            "nothing to work on",
            "Define TARGETS = [...] in conf.py to migrate many databases.",
        )
    selection = select(config, patterns, every, shard)
    assert selection is not None
    return Fleet(migrator, selection, jobs=jobs or DEFAULT_JOBS, canary=canary,
                 keep_going=keep_going, options=migrator._target_options())


def _run(args: argparse.Namespace, out: Output) -> int:
    from . import report
    from .signals import SignalGuard
    from .terminal import PrintedProgress

    if args.sql:
        with _answer_is_data(out):
            text = _migrator(args, out, command="--sql").script(
                _request(args), fake=args.fake, out_of_order=args.out_of_order)
        out.result(text.rstrip("\n"))
        return 0
    config = _config(args, out)
    if _has_fleet(config, args):
        from .commands import fleet as fleet_command

        with _answer_is_data(out, args.json):
            fleet = _fleet(_base_migrator(config, args, out), args)
            assert fleet is not None
            return fleet_command.run(fleet, out, _request(args), dry_run=args.dry_run,
                                     fake=args.fake, out_of_order=args.out_of_order,
                                     resume=args.resume, as_json=args.json)
    if args.json:
        raise UsageError("--json on a run goes with targets (conf.py's TARGETS)",
                         f"For one database, '{PROG} status --json' tells what a run did.")
    progress = PrintedProgress(out, fake=args.fake)
    with SignalGuard(out.stderr) as guard:
        migrator = _migrator(args, out, guard, progress, config=config)
        try:
            result = migrator.run(
                _request(args), dry_run=args.dry_run, fake=args.fake,
                out_of_order=args.out_of_order, resume=args.resume,
            )
        finally:
            progress.close()
    if result.catalogue is not None:
        out.detail(f"migrations: {printable(str(result.catalogue.folder.path))} "
                   f"({len(result.catalogue.migrations)} found)")
    if not result.plan.steps:
        if result.catalogue is not None and not result.catalogue.migrations:
            out.progress(f"No migrations in {printable(str(result.catalogue.folder.path))}: "
                         "nothing to do.")
        else:
            out.progress(f"Already at version {result.version}: nothing to do.")
    elif result.dry_run:
        out.progress(report.plan_header(result.plan, result.store, dry_run=True))
        _print_dry_run(result.plan, out)
    else:
        out.progress(out.paint(report.summary(result), "summary"))
    return 0


def _over_targets(args: argparse.Namespace, out: Output, command: str,
                  as_json: bool) -> tuple[int | None, Config]:
    """status, current and check over a fleet's targets (SPEC 11): their exit status, or
    None without TARGETS; and conf.py, loaded once either way."""
    with _answer_is_data(out, as_json or command == "current"):
        config = _config(args, out)
        if not _has_fleet(config, args):
            return None, config
        from .commands import fleet as fleet_command

        fleet = _fleet(_base_migrator(config, args, out), args)
        assert fleet is not None
        return fleet_command.read(fleet, out, command, as_json=as_json), config


def _status(args: argparse.Namespace, out: Output) -> int:
    from . import report

    status_over, config = _over_targets(args, out, "status", args.json)
    if status_over is not None:
        return status_over
    with _answer_is_data(out, args.json):
        status = _migrator(args, out, config=config).status()
    if args.json:
        out.result(report.status_json(status.migrations, status.current, status.store))
    else:
        # On a terminal, rows are cut to its width; a pipe, a file or --wide gets them whole.
        out.result_lines(report.status_lines(
            status.migrations, status.current, status.store, paint=out.paint,
            width=None if args.wide else out.columns(), ellipsis=out.ellipsis(),
        ))
    return 0


def _current(args: argparse.Namespace, out: Output) -> int:
    status_over, config = _over_targets(args, out, "current", False)
    if status_over is not None:
        return status_over
    with _answer_is_data(out):
        version = _migrator(args, out, config=config).current()
    out.result(str(version))
    return 0


def _history(args: argparse.Namespace, out: Output) -> int:
    from . import report

    # The table shows the newest HISTORY_LIMIT entries unless told otherwise; --json gives
    # the whole log unless told otherwise, as a script that does not ask for less expects.
    limit = args.limit
    if limit is None:
        limit = 0 if args.json else HISTORY_LIMIT
    with _answer_is_data(out, args.json):
        # One entry more than is shown tells whether any were left out.
        entries, store = _migrator(args, out).history_and_store(limit + 1 if limit else None)
    total = len(entries)
    if limit and len(entries) > limit:
        # The store numbers its log 1, 2, 3... and never deletes an entry, so the newest
        # entry's number is the size of the log: no second query, no reading it all.
        total = max(entries[0].seq, total)
        entries = entries[:limit]
    if args.json:
        out.result(report.history_json(entries, store))
    else:
        out.result_lines(report.history_lines(entries, store, total=total))
    return 0


def _new(args: argparse.Namespace, out: Output) -> int:
    with _answer_is_data(out):  # a path, for scripts: $EDITOR "$(link-migration new ...)"
        path = _base_migrator(_config(args, out), args, out).new(args.description, timestamp=args.timestamp or None,
                                        sql=args.sql or None)
    out.result(str(path))
    return 0


def _check(args: argparse.Namespace, out: Output) -> int:
    from . import report

    status_over, config = _over_targets(args, out, "check", args.json)
    if status_over is not None:
        return status_over
    with _answer_is_data(out, args.json):
        migrator = _migrator(args, out, config=config)
        status = migrator.status()
        found = migrator.check(status)
    if args.json:
        out.result(report.check_json(found, status.current, status.store))
    elif found:  # -v lists every problem; --json always does
        out.result_lines(report.check_lines(
            found, status.current, status.store, paint=out.paint,
            per_kind=None if out.verbose else CHECK_PER_KIND,
        ))
    else:
        out.progress(f"OK: every migration is applied; the store holds version {status.current}.")
    return 1 if found else 0


def _add_repair_arguments(command: argparse.ArgumentParser, name: str) -> None:
    """forget and accept: versions or --all; they take the lock, so --lock-timeout too."""
    state = "missing" if name == "forget" else "modified"
    command.add_argument("versions", nargs="*", type=_version, metavar="V",
                         help=f"a version to {name}: it must be {state} (see status)")
    command.add_argument("--all", dest="every", action="store_true",
                         help=f"{name} every {state} migration (none: nothing to do)")
    _add_lock_timeout(command)


def _add_lock_timeout(command: argparse.ArgumentParser) -> None:
    """For the commands that take the lock: given after the command too."""
    command.add_argument(
        "--lock-timeout", type=_seconds, default=argparse.SUPPRESS, metavar="S",
        help=f"wait up to S seconds for another runner's lock (default {DEFAULT_TIMEOUT:g})",
    )


def _forget(args: argparse.Namespace, out: Output) -> int:
    from .commands.forget import forget

    return forget(_migrator(args, out), out, versions=args.versions, every=args.every)


def _accept(args: argparse.Namespace, out: Output) -> int:
    from .commands.accept import accept

    return accept(_migrator(args, out), out, versions=args.versions, every=args.every)


def _resolve(args: argparse.Namespace, out: Output) -> int:
    out.progress(printable(_migrator(args, out).resolve(args.version, applied=args.applied)))
    return 0


def _adopt(args: argparse.Namespace, out: Output) -> int:
    from .commands.adopt import adopt

    return adopt(_migrator(args, out), out, tool=args.tool, table=args.table)


def _schema(args: argparse.Namespace, out: Output) -> int:
    from .commands.schema import schema

    if args.data and not args.json:
        raise UsageError("schema: --data goes with --json", f"Run '{PROG} schema --json --data'.")
    with _answer_is_data(out):
        migrator = _migrator(args, out)
        return schema(migrator, out, as_json=args.json, data=args.data)


def _verify(args: argparse.Namespace, out: Output) -> int:
    from .commands.verify import verify
    from .signals import SignalGuard

    with SignalGuard(out.stderr) as guard, _answer_is_data(out, args.json):
        return verify(_migrator(args, out, guard), out, every=args.every, data=args.data,
                      as_json=args.json)


def _unlock(args: argparse.Namespace, out: Output) -> int:
    # It names the lock's holder, which may be any text.
    out.result(printable(_migrator(args, out).unlock(force=args.force)))
    return 0


@contextlib.contextmanager
def _answer_is_data(out: Output, data: bool = True) -> Iterator[None]:
    """For a command whose stdout is data (a number, JSON, a path), while it gathers its
    answer: our notes, and whatever user code prints (conf.py as it is imported, its store
    functions, get_connection(), a migration imported to read its version), go to stderr, so
    that stdout holds the answer alone, ready for a pipe."""
    if not data:
        yield
        return
    out.answer_is_data = True
    with contextlib.redirect_stdout(out.stderr):
        yield


def _request(args: argparse.Namespace) -> Request:
    from .plan import DOWN, UP, Request

    if args.to is not None:
        return Request("to", target=args.to)
    if args.down is not None:
        return Request(DOWN, count=args.down)
    return Request(UP, count=None if args.up in (None, -1) else args.up)


def _print_dry_run(plan: Plan, out: Output) -> None:
    from . import report

    total = len(plan.steps)
    for index, step in enumerate(plan.steps, start=1):
        out.progress(report.step_line(index, total, step))
        if step.migration.name.endswith(".sql"):
            if out.verbose:
                for line in report.step_statements(step):
                    out.detail(line)
            continue
        doc = report.step_docstring(step)
        if doc:
            out.progress(doc)


def _whole_number(text: str, noun: str, minimum: int, rule: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of {noun}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"{value}: the number of {noun} {rule}")
    return value


def _shard(text: str) -> tuple[int, int]:
    index, slash, count = text.partition("/")
    try:
        shard = (int(index), int(count)) if slash else None
    except ValueError:
        shard = None
    if shard is None or not 1 <= shard[0] <= shard[1]:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a shard: write I/N, with I from 1 to N (1/3, 2/3, 3/3)")
    return shard


def _jobs(text: str) -> int:
    value = _whole_number(text, "targets at once", 1, "must be 1 or more")
    if value > 256:
        raise argparse.ArgumentTypeError(f"{value}: at most 256 targets at once")
    return value


def _canary(text: str) -> int:
    return _whole_number(text, "canary targets", 1, "must be 1 or more")


def _count(text: str) -> int:
    return _whole_number(text, "migrations", 1, "must be 1 or more")


def _limit(text: str) -> int:
    return _whole_number(text, "entries", 0, "is 0 (all) or more")


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
