"""The Python API: everything the command line does, for applications that migrate at start-up.

    from link_migration import Migrator

    result = Migrator.from_config("conf.py").upgrade()
    print(f"now at version {result.version}")

Methods return result objects and print nothing; they raise the exceptions the command line
maps to exit statuses (ConfigError, PlanError, MigrationError, LockTimeout, ...).

Only what every call needs is imported here; each method imports the rest, so that
``link-migration current`` costs little more than Python's own start-up (see bench/).
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
TYPE_CHECKING = False  # typing itself costs milliseconds to import; type checkers know this name

from .config import API_WORDING, DEFAULT_LOCK_TIMEOUT, Config, Wording, load_config
from .errors import ConfigError, MigrationError, StoreError
from .stores import open_store

if TYPE_CHECKING:
    from typing import Callable, Iterator
    from typing import ContextManager, Sequence

    from .adopt import AdoptResult
    from .fleet import Fleet, FleetSignals
    from .discovery import Catalogue, MigrationLoader
    from .plan import Plan, Request
    from .repair import RepairResult
    from .schema import Snapshot
    from .verify import RoundTrip, VerifyResult
    from .runner import Progress, RunResult
    from .signals import SignalGuard
    from .state import Attempt, LogEntry, Problem, Status, StoreState
    from .stores.base import VersionStore


def _log_warning(message: str) -> None:
    import logging

    logging.getLogger("link_migration").warning("%s", message)


def _failed(state: StoreState, resume: bool, wording: Wording) -> Attempt | None:
    """The failed migration a run must resume, or None when there is none (SPEC 9): one
    that failed stops every run that does not resume it, before anything runs."""
    from .errors import NothingToResume, PlanError
    from .state import failure

    attempts = state.attempts or {}
    if not attempts:
        if resume:
            raise NothingToResume("nothing to resume: no migration has failed",
                            "Run without it to migrate.")
        return None
    attempt = attempts[min(attempts)]
    if resume:
        return attempt
    raise PlanError(
        f"migration {attempt.version} ({attempt.file_name}) failed: {failure(attempt)}; "
        "nothing was run",
        f"Fix the cause, then either run again with {wording.resume} to go on from where it "
        f"stopped, or finish or undo it by hand and say so with "
        f"{wording.resolve.format(attempt.version)}.",
    )


def _starts_with(plan: Plan, attempt: Attempt) -> None:
    """A resumed run begins with the failed migration, in its direction."""
    from .errors import PlanError

    first = plan.steps[0] if plan.steps else None
    if first is None or (first.migration.version, first.direction) != (attempt.version,
                                                                      attempt.direction):
        starts = (f"starts with {first.migration.version} ({first.direction})" if first
                  else "has nothing to do")
        raise PlanError(
            f"cannot resume: the failed migration is {attempt.version} ({attempt.direction}), "
            f"and the plan {starts}",
            "Resume in the failed migration's direction (--down for a down), with a plan that "
            "starts there; to go the other way, resolve it first.",
        )


def _log_info(message: str) -> None:
    import logging

    logging.getLogger("link_migration").info("%s", message)


class Migrator:
    """Migrations of one conf.py. Each call opens the store, and closes it before returning."""

    def __init__(
        self,
        config: Config,
        *,
        cwd: Path | None = None,
        progress: Progress | None = None,
        warn: Callable[[str], None] | None = None,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
        on_lock_wait: Callable[[str], None] | None = None,
        guard: SignalGuard | None = None,
        wording: Wording = API_WORDING,
    ) -> None:
        """``wording`` says how errors name what was asked: by default as this class's
        methods and parameters (``migrate_to(7)``, ``out_of_order=True``); the command line
        passes CLI_WORDING, its options."""
        self.config = config
        self._cwd = cwd or Path.cwd()
        self._progress = progress
        self._warn = warn or _log_warning
        self._on_lock_wait = on_lock_wait or _log_info
        self._lock_timeout = lock_timeout
        self._guard = guard
        self._wording = wording
        # A fleet's targets share one discovery (SPEC 11: each file imported once): the
        # fleet's, asked for when first needed.
        self._shared: tuple[Catalogue, MigrationLoader] | None = None
        self._discovery: Callable[[], tuple[Catalogue, MigrationLoader]] | None = None

    @classmethod
    def from_config(cls, conf: str | os.PathLike[str] | None = None, **options: object) -> Migrator:
        """Load conf.py (a path or a dotted module name; by default $LINK_MIGRATION_CONFIG,
        then ./conf.py). ``options`` are those of the constructor."""
        cwd = options.get("cwd") or Path.cwd()
        wording = options.get("wording", API_WORDING)
        config = load_config(None if conf is None else os.fspath(conf), Path(str(cwd)), os.environ,
                             wording=wording)  # type: ignore[arg-type]
        return cls(config, **options)  # type: ignore[arg-type]

    # -- migrating ---------------------------------------------------------------------

    def upgrade(self, steps: int | None = None, **options: bool) -> RunResult:
        """Apply every pending migration, or the next ``steps``."""
        from .plan import UP, Request

        return self.run(Request(UP, count=steps), **options)

    def downgrade(self, steps: int = 1, **options: bool) -> RunResult:
        """Roll back the last ``steps`` applied migrations."""
        from .plan import DOWN, Request

        return self.run(Request(DOWN, count=steps), **options)

    def migrate_to(self, version: int, **options: bool) -> RunResult:
        """Go up or down to exactly ``version`` (0: roll everything back)."""
        from .plan import Request

        return self.run(Request("to", target=version), **options)

    def run(
        self,
        request: Request,
        *,
        dry_run: bool = False,
        fake: bool = False,
        out_of_order: bool = False,
        resume: bool = False,
    ) -> RunResult:
        """Lock, read the store, plan, and run (or, with ``dry_run``, only plan).

        A dry run takes no lock and returns the plan with nothing completed. A failed
        migration (SPEC 9) stops every run before it starts, with PlanError naming the ways
        out, unless ``resume``: then it runs again first, from where it failed.
        """
        from .lock import held, lock_for
        from .plan import make_plan
        from .runner import NO_HOOKS, RunResult, SilentProgress, read_hooks, run_plan

        hooks = NO_HOOKS if dry_run or fake else read_hooks(self.config)
        schema_path = None if dry_run else self._schema_path()
        with self._opened() as store:
            if schema_path is not None:
                from .schemafile import readable

                readable(store)  # refused before anything runs
            catalogue, loader = self._discover()
            exclusive = contextlib.nullcontext() if dry_run else held(
                lock_for(self.config, store),
                self._lock_timeout,
                on_wait=self._on_lock_wait,
                warn=self._warn,
                wording=self._wording,
            )
            with exclusive:
                state = store.read_state(catalogue.migrations)
                attempt = _failed(state, resume, self._wording)
                self._warn_modified(catalogue, state)
                plan = make_plan(
                    catalogue.migrations,
                    state.current,
                    request,
                    applied=None if state.applied is None else state.applied.keys(),
                    allow_out_of_order=out_of_order,
                    wording=self._wording,
                )
                for warning in plan.warnings:
                    self._warn(warning)
                if attempt is not None:
                    _starts_with(plan, attempt)
                # The plan has what the run needs: the history rows (thousands, perhaps)
                # need not stay in memory beside every migration of the plan.
                del state
                if dry_run or not plan.steps:
                    result = RunResult(plan, (), plan.current, 0.0, fake=fake, dry_run=dry_run)
                    if schema_path is not None and not schema_path.exists():
                        self._write_schema(schema_path, store, plan.current)
                else:
                    try:
                        result = run_plan(plan, store, self.config, loader,
                                          self._progress or SilentProgress(), hooks=hooks,
                                          fake=fake, guard=self._guard, wording=self._wording,
                                          resume=attempt)
                    except BaseException:
                        if schema_path is not None:  # what completed changed the database
                            self._write_schema(schema_path, store, None)
                        raise
                    if schema_path is not None:
                        self._write_schema(schema_path, store, result.version)
                result = result._replace(store=store.describe(), catalogue=catalogue)
        self._after_run(hooks.after_run, result)
        return result

    def _schema_path(self) -> Path | None:
        if not self.config.has("SCHEMA_FILE"):
            return None
        from .schemafile import schema_file

        return schema_file(self.config)

    def _write_schema(self, path: Path, store: VersionStore, version: int | None) -> None:
        """SCHEMA_FILE after a run. After a failed one (``version`` None), a failure to
        write it is a warning: the migration's own error is the one to see."""
        from . import schemafile

        if version is not None:
            try:
                schemafile.write(path, store, version)  # type: ignore[arg-type]
            except (OSError, StoreError) as exc:
                raise MigrationError(
                    f"SCHEMA_FILE {path} could not be written after the run: {exc}",
                    f"Every migration of the run completed; the store holds version {version}. "
                    f"Fix the cause, then delete {path.name} and run again: a run with nothing "
                    "to do writes the file when it is missing.",
                ) from exc
            return
        try:
            schemafile.write(path, store, store.read_current())  # type: ignore[arg-type]
        except Exception as exc:  # noqa: BLE001 - the run's own error follows
            self._warn(f"{path} was not rewritten after the failed run: {exc}; it may not "
                       "show what the migrations that completed did")

    def script(self, request: Request, *, fake: bool = False, out_of_order: bool = False) -> str:
        """The SQL the plan for ``request`` would run, bookkeeping included, printed rather
        than run (``--sql``): nothing is changed and no lock is taken. A Python migration in
        the plan is a DiscoveryError, unless ``fake``."""
        from . import repair, script
        from .plan import make_plan

        with self._opened() as opened:
            store = repair.history_store(opened, "--sql")
            catalogue, loader = self._discover()
            state = store.read_state(catalogue.migrations)
            _failed(state, False, self._wording)  # a script cannot resume one: refuse as a run
            self._warn_modified(catalogue, state)
            plan = make_plan(
                catalogue.migrations, state.current, request,
                applied=None if state.applied is None else state.applied.keys(),
                allow_out_of_order=out_of_order, wording=self._wording,
            )
            for warning in plan.warnings:
                self._warn(warning)
            return script.render(plan, store, loader, fake=fake)

    def _after_run(self, hook: Callable[[RunResult], object] | None, result: RunResult) -> None:
        """conf.py's after_run(summary) hook, once at the end of a run that succeeded."""
        if hook is None:
            return
        from .runner import user_traceback

        try:
            hook(result)
        except (Exception, SystemExit) as exc:
            raise MigrationError(
                f"the after_run hook in {self.config.path.name} failed: "
                f"{type(exc).__name__}: {exc}",
                f"Every migration of the run completed; the store holds version {result.version}.",
                detail=user_traceback(exc),
            ) from exc

    # -- many databases ----------------------------------------------------------------

    def targets(self, *patterns: str, every: bool = False, shard: tuple[int, int] | None = None,
                jobs: int = 4, canary: int = 0, keep_going: bool = False,
                signals: FleetSignals | None = None) -> Fleet:
        """The targets of conf.py's TARGETS that ``patterns`` (shell patterns) or ``every``
        choose, within ``shard`` (I, N): a Fleet, whose methods (upgrade, migrate_to, run,
        status, current, check) run on each, ``jobs`` at a time (SPEC 11)."""
        from .fleet import Fleet, select

        selection = select(self.config, patterns, every, shard, "targets('NAME')",
                           "targets(every=True)")
        if selection is None:
            raise ConfigError(f"{self.config.path} defines no TARGETS",
                              "Define TARGETS = [...] in conf.py to migrate many databases.")
        return Fleet(self, selection, jobs=jobs, canary=canary, keep_going=keep_going,
                     signals=signals, options=self._target_options())

    def _target_options(self) -> dict[str, object]:
        return {"cwd": self._cwd, "warn": self._warn, "lock_timeout": self._lock_timeout,
                "on_lock_wait": self._on_lock_wait, "wording": self._wording}

    # -- reading -----------------------------------------------------------------------

    def status(self) -> Status:
        """The store, its current version, and every migration's state."""
        from .state import Status, migration_states

        with self._opened() as store:
            catalogue, _ = self._discover()
            state = store.read_state(catalogue.migrations)
            rows = migration_states(catalogue.migrations, state)
            return Status(store.describe(), state.current, tuple(rows), catalogue.skipped,
                          catalogue.unsupported)

    def current(self) -> int:
        with self._opened() as store:
            return store.read_current()

    def history(self, limit: int | None = None) -> list[LogEntry]:
        """The SQL store's log, newest first. ConfigError for stores that keep none."""
        return self.history_and_store(limit)[0]

    def history_and_store(self, limit: int | None = None) -> tuple[list[LogEntry], str]:
        """The log, and the store as it describes itself once read (a server store names its
        database only once it has connected)."""
        with self._opened() as store:
            entries = store.read_log(limit)
            if entries is None:
                raise ConfigError(
                    f"history needs a SQL store; {store.describe()} keeps only the current version",
                    "Use DATABASE, DATABASE_URL or get_connection() in conf.py to keep a history.",
                )
            return entries, store.describe()

    def check(self, status: Status | None = None) -> list[Problem]:
        """Everything that is not applied and right: empty when all is well. Pass a
        ``status`` just read to check it rather than read the store again."""
        from .state import problems

        status = status or self.status()
        return problems(status.migrations, [p.name for p in status.skipped],
                        [p.name for p in status.unsupported]) + self.drift(status.current)

    def drift(self, current: int | None = None) -> list[Problem]:
        """How the live schema differs from SCHEMA_FILE (SPEC 10), one problem per object;
        empty without SCHEMA_FILE, or when the file was written at another version than
        ``current`` (the store's, read when not given): pending migrations are no drift."""
        path = self._schema_path()
        if path is None:
            return []
        from .schemafile import database, drift

        with self._opened() as opened:
            store = database(opened, "SCHEMA_FILE")
            return drift(path, store, store.read_current() if current is None else current)

    def schema(self, *, rows: bool = False) -> Snapshot:
        """The database's schema (SPEC 10), link-migration's own tables left out; with
        ``rows``, each table's contents too. ConfigError for a store that is no database."""
        from .schemafile import database

        with self._opened() as opened:
            return database(opened, "schema").snapshot(rows=rows)

    def verify(self, *, every: bool = False, data: bool = False,
               on_trip: Callable[[int, int, RoundTrip], None] | None = None) -> VerifyResult:
        """Prove each migration reversible on a scratch database (SPEC 10): up, down, up
        again, comparing schema snapshots (and with ``data`` table contents). By default the
        pending migrations, on a copy of the database; ``every``: all, from an empty one.
        The real database is only read. ``on_trip(index, total, trip)`` after each one."""
        from . import verify
        from .schemafile import database

        with self._opened() as opened:
            store = database(opened, "verify")
            catalogue, loader = self._discover()
            return verify.verify(self.config, store, catalogue, loader, every=every, data=data,
                                 guard=self._guard, wording=self._wording, on_trip=on_trip)

    def describe_store(self) -> str:
        """The store conf.py names, in words, without opening it."""
        with self._opened() as store:
            return store.describe()

    # -- operating ---------------------------------------------------------------------

    def unlock(self, *, force: bool = False) -> str:
        """Break the lock by hand; says whose it was. The lock of a run that is alive on this
        host is left in place (LockTimeout) unless ``force``."""
        from .lock import lock_for

        with self._opened() as store:
            return lock_for(self.config, store).break_lock(force)

    def new(self, description: str, *, timestamp: bool | None = None,
            sql: bool | None = None) -> Path:
        """Write the next migration file (a ``.sql`` one with ``sql``, or conf.py's
        MIGRATION_FORMAT = "sql"); returns its path."""
        from . import authoring

        catalogue, _ = self._discover()
        return authoring.new_migration(
            self.config, catalogue.folder.path, catalogue.migrations, description,
            timestamp=timestamp, sql=sql, wording=self._wording,
        )

    # -- repairing: forget and accept (Flyway's repair, one migration at a time) --------

    def forget(self, *versions: int) -> RepairResult:
        """Remove the history rows of these applied migrations whose files are gone (state
        ``missing``), each logged as ``forget``, in one transaction, under the lock.

        PlanError, with nothing changed, when one of them is in another state; ConfigError
        for a store that keeps no history (only SQL stores know what is applied). Forgetting
        the highest applied version lowers the current version: see ``result.current``.
        """
        return self._repair("forget", versions)

    def forget_all(self) -> RepairResult:
        """forget() every missing migration; none missing is no error (nothing repaired)."""
        return self._repair("forget", None)

    def accept(self, *versions: int) -> RepairResult:
        """Record the current checksum (and file name) of these applied migrations whose
        files were edited on purpose (state ``modified``), each logged as ``accept``, in one
        transaction, under the lock. Refuses as forget() does."""
        return self._repair("accept", versions)

    def accept_all(self) -> RepairResult:
        """accept() every modified migration; none modified is no error (nothing repaired)."""
        return self._repair("accept", None)

    def _repair(self, operation: str, versions: Sequence[int] | None) -> RepairResult:
        """Lock, read the store, choose, change: as a run does, so that no runner migrates
        between the check of a version's state and its repair."""
        from . import repair

        if versions is not None:
            versions = repair.checked_versions(operation, versions)
        with self._opened() as opened:
            store = repair.history_store(opened, operation)
            catalogue, _ = self._discover()
            with self._held(store):
                return repair.repair(store, operation, catalogue.migrations, versions,
                                     self._wording)

    def resolve(self, version: int, *, applied: bool) -> str:
        """Settle failed migration ``version`` by hand (SPEC 9): ``applied=True`` when it was
        finished (an up recorded as applied, a down as rolled back), False when it was undone
        (the attempt forgotten). Under the lock, logged; returns what was done, in words.
        PlanError, with nothing changed, when that version has not failed."""
        from . import repair
        from .errors import PlanError

        with self._opened() as opened:
            store = repair.history_store(opened, "resolve")
            catalogue, _ = self._discover()
            with self._held(store):
                state = store.read_state(catalogue.migrations)
                attempt = (state.attempts or {}).get(version)
                if attempt is None:
                    failed = ", ".join(str(v) for v in sorted(state.attempts or {})) or "none"
                    raise PlanError(
                        f"cannot resolve version {version}: it has not failed (failed: {failed})",
                        f"Nothing was changed. Run {self._wording.status} to see each "
                        "migration's state.",
                    )
                migration = next((m for m in catalogue.migrations if m.version == version), None)
                store.resolve(attempt, migration, applied)
        if attempt.direction == "up":
            done = "recorded as applied" if applied else "forgotten: it stays unapplied"
        else:
            done = "recorded as rolled back" if applied else "forgotten: it stays applied"
        return (f"Resolved migration {version} ({attempt.file_name}), whose {attempt.direction} "
                f"had failed: {done}.")

    def adopt(self, tool: str, *, table: str | None = None) -> AdoptResult:
        """Take over a database that ``tool`` (golang-migrate, dbmate, goose or flyway)
        migrated: record each version its table says is applied, logged as ``adopt``, in
        one transaction, under the lock. PlanError, with nothing recorded, when that table
        marks a migration dirty or failed, lists a version with no file, or when
        link-migration's history is not empty. ``table``: the peer's table, if renamed."""
        from . import adopt, repair

        adopt.peer(tool)  # an unknown tool is an error before anything is opened
        with self._opened() as opened:
            store = repair.history_store(opened, "adopt")
            catalogue, _ = self._discover()
            with self._held(store):
                return adopt.adopt(store, tool, catalogue.migrations, table, self._wording)

    # -- plumbing ----------------------------------------------------------------------

    def _held(self, store: VersionStore) -> ContextManager[None]:
        """The store's lock, taken as a run takes it (see run())."""
        from .lock import held, lock_for

        return held(lock_for(self.config, store), self._lock_timeout,
                    on_wait=self._on_lock_wait, warn=self._warn, wording=self._wording)

    @contextlib.contextmanager
    def _opened(self) -> Iterator[VersionStore]:
        if self.config.has("TARGETS") and not hasattr(self.config, "target"):
            raise ConfigError(
                f"{self.config.path} defines TARGETS, so it names many databases: say which",
                "Use Migrator.targets(...) (the command line's --target NAME or "
                "--all-targets).",
            )
        store = open_store(self.config, busy_timeout=self._lock_timeout)
        try:
            yield store
        finally:
            store.close()

    def _discovered(self) -> tuple[Catalogue, MigrationLoader]:
        """Discover once, for every target of a fleet, with a loader they can share."""
        if self._shared is None:
            catalogue, loader = self._discover()
            self._shared = (catalogue, loader.shared())
        return self._shared

    def _discover(self) -> tuple[Catalogue, MigrationLoader]:
        if self._discovery is not None:
            return self._discovery()
        if self._shared is not None:
            return self._shared
        from .discovery import MigrationLoader, discover, locate_migrations

        folder = locate_migrations(self.config, self._cwd)
        loader = MigrationLoader(folder)
        catalogue = discover(folder, loader, exclude=[self.config.path])
        for path in catalogue.skipped:
            self._warn(f"skipped {path}: it has no `version`, so it is not a migration")
        for path in catalogue.unsupported:
            self._warn(f"skipped {path}: Flyway's repeatable migrations are not supported")
        return catalogue, loader

    def _warn_modified(self, catalogue: Catalogue, state: StoreState) -> None:
        from .state import modified

        for migration in modified(catalogue.migrations, state):
            self._warn(
                f"migration {migration.version} ({migration.path}) has changed since it was "
                "applied (its checksum differs)"
            )

