"""SQL stores: history and log tables in the user's own database, over any DB-API 2.0 driver.

Each migration and the rows that record it commit in one transaction. The store, not the
driver, decides where transactions begin and whether autocommit is on; what differs between
databases (sqlite3's own transaction handling, MySQL's DDL that commits by itself, where to
find a table in the catalog) is asked of the connection's dialect (link_migration.dialects).
"""
from __future__ import annotations

import contextlib
import sys
import time

from ..config import DEFAULT_LEASE_TERM
from ..dialects import dialect_for
from ..errors import (
    ConfigError,
    DatabaseBusyError,
    LeaseLostError,
    LinkMigrationError,
    StoreError,
    TransactionEndedError,
    UncertainCommitError,
)
from .base import utc_timestamp, who_am_i

TYPE_CHECKING = False  # typing itself costs milliseconds to import; type checkers know this name

if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any, Callable, Iterator, Sequence

    from ..dialects.generic import Dialect
    from ..discovery import Migration
    from ..lease import Lease
    from ..plan import Step
    from ..schema import Snapshot
    from ..state import AppliedMigration, Attempt, LockHolder, LogEntry, StoreState

DEFAULT_HISTORY_TABLE = "link_migration_history"
DEFAULT_LOG_TABLE = "link_migration_log"
DEFAULT_LOCK_TABLE = "link_migration_lock"
DEFAULT_ATTEMPT_TABLE = "link_migration_attempt"

HISTORY_COLUMNS = (
    "version", "file_name", "checksum", "applied_at", "duration", "applied_by", "faked",
)
LOG_COLUMNS = (
    "seq", "version", "operation", "file_name", "logged_at", "duration", "logged_by",
)

# The format of the store's own tables. 1: versions in INTEGER columns (32 bits on PostgreSQL
# and MySQL); 2: versions in 64-bit columns; 3: the lock row is a lease (renewed, term_ms);
# 4: the attempt table, where migrations that run outside a transaction are recorded as they
# start and progress (SPEC 9). Kept in row 0 of the lock table (row 1 is the lock), so that
# each later change of these tables can upgrade the ones it finds, once; a release that knows
# an older format refuses tables of a newer one, so it cannot run past a failed migration it
# would not see.
STORE_FORMAT = 4
_FORMAT_ROW = 0
_LOCK_ROW = 1

_CREATE_HISTORY = """CREATE TABLE {table} (
    version {version_type} NOT NULL PRIMARY KEY,
    file_name VARCHAR(255) NOT NULL,
    checksum VARCHAR(64),
    applied_at VARCHAR(40) NOT NULL,
    duration REAL,
    applied_by VARCHAR(255) NOT NULL,
    faked INTEGER NOT NULL
)"""
_CREATE_LOG = """CREATE TABLE {table} (
    seq {version_type} NOT NULL PRIMARY KEY,
    version {version_type} NOT NULL,
    operation VARCHAR(16) NOT NULL,
    file_name VARCHAR(255) NOT NULL,
    logged_at VARCHAR(40) NOT NULL,
    duration REAL,
    logged_by VARCHAR(255) NOT NULL
)"""

# The lock table of formats 1 and 2, and the two columns format 3 adds to make its row a
# lease. They may be NULL: a row that an earlier link-migration wrote is no lease.
_LOCK_COLUMNS_BEFORE_LEASES = ("id", "owner", "host", "pid", "since")
_LEASE_COLUMNS = (("renewed", "VARCHAR(40)"), ("term_ms", "INTEGER"))
LOCK_COLUMNS = _LOCK_COLUMNS_BEFORE_LEASES + tuple(name for name, _ in _LEASE_COLUMNS)
_CREATE_LOCK = """CREATE TABLE {table} (
    id INTEGER NOT NULL PRIMARY KEY,
    owner VARCHAR(255) NOT NULL,
    host VARCHAR(255) NOT NULL,
    pid INTEGER NOT NULL,
    since VARCHAR(40) NOT NULL,
    renewed VARCHAR(40),
    term_ms INTEGER
)"""

ATTEMPT_COLUMNS = (
    "version", "direction", "file_name", "started_at", "started_by", "done", "total",
    "done_checksum", "ended_at", "error",
)
_CREATE_ATTEMPT = """CREATE TABLE {table} (
    version {version_type} NOT NULL PRIMARY KEY,
    direction VARCHAR(8) NOT NULL,
    file_name VARCHAR(255) NOT NULL,
    started_at VARCHAR(40) NOT NULL,
    started_by VARCHAR(255) NOT NULL,
    done INTEGER NOT NULL,
    total INTEGER,
    done_checksum VARCHAR(64),
    ended_at VARCHAR(40),
    error VARCHAR(2000)
)"""
_ERROR_LENGTH = 2000
_ASK_THE_TABLE = object()  # a dialect whose catalog lists no columns: the table is read instead

PARAMSTYLES = ("qmark", "numeric", "named", "format", "pyformat")


class SqlStore:
    """History and log tables reached through one DB-API connection.

    ``connect`` is called at most once, when the store is first needed. ``database_file``,
    for SQLite files, lets read-only commands report an empty store without creating the file.
    """

    def __init__(
        self,
        connect: Callable[[], Any],
        description: str,
        *,
        history_table: str = DEFAULT_HISTORY_TABLE,
        log_table: str = DEFAULT_LOG_TABLE,
        lock_table: str = DEFAULT_LOCK_TABLE,
        attempt_table: str = DEFAULT_ATTEMPT_TABLE,
        paramstyle: str | None = None,
        database_file: Path | None = None,
        owns_connection: bool = True,
        clock: Callable[[], str] = utc_timestamp,
        busy_timeout: float | None = None,
        lease_term: float = DEFAULT_LEASE_TERM,
    ) -> None:
        self._connect = connect
        self._busy_timeout = busy_timeout  # how long connect() waits on a busy database
        self._description = description
        # The names conf.py gave, for messages; _history, _log and _lock are what SQL uses,
        # qualified with the schema once the connection says which (see _open()).
        self.history_table = self._history = history_table
        self.log_table = self._log = log_table
        self.lock_table = self._lock = lock_table
        self.attempt_table = self._attempt = attempt_table
        self._attempt_open: tuple[int, str] | None = None  # (version, direction) while one runs
        self._attempt_done: int | None = None
        self._attempt_total: int | None = None
        self._unsaid_failure: tuple[int, str] | None = None
        self._failure_noted = False
        self._schema: str | None = None
        self._paramstyle = paramstyle
        self._database_file = database_file
        self._owns_connection = owns_connection
        self._clock = clock
        self._connection: Any = None
        self._dialect: Dialect | None = None
        self._tables_ready = False
        self._existing: set[str] = set()  # tables found with the right columns, this command
        # Our tables' columns as the catalog listed them, until the store changes a table.
        self._catalog: dict[str, tuple[str, ...]] | None = None
        self._next_seq: int | None = None
        self._identity = ""
        self._record_sql: tuple[str, str, str] | None = None
        self._record_both: tuple[str, str] | None = None
        self._templates: tuple[str, str] | None = None  # _record_templates(), built once
        self._cache_size: int | None = None
        self._transaction_token: object = None  # what begin() said of the step's transaction
        self._step_open = False  # whether that transaction is still the store's to end
        # Where the dialect reads in autocommit mode: the mode the connection came in, to give
        # back at close(); and whether _begin() asked for a transaction that the next
        # statement opens.
        self._given_autocommit: bool | None = None
        self._opening = False
        self._lease_term = lease_term
        self._lease: Lease | None = None  # ours, while we hold the lock row
        self._lock_has_lease = True  # False for a lock table of format 1 or 2, until upgraded
        self._lock_columns: Sequence[str] = LOCK_COLUMNS  # as found
        self._format = 0  # the format the tables were found in, once _ensure_tables() looked

    def describe(self) -> str:
        return self._description

    @property
    def database_file(self) -> Path | None:
        """The SQLite file, for a store that is one."""
        return self._database_file

    def sql_flavour(self) -> str:
        """How the splitter should read SQL migrations for this database."""
        return self._script_dialect().flavour

    # -- a printed script instead of a run (--sql) -------------------------------------------

    def script_setup(self) -> tuple[list[str], int]:
        """The statements a run would use to create or upgrade the store's tables before its
        first step (none when they are ready), and the log's next number. Reads only: a
        SQLite file that does not exist is not created."""
        dialect = self._script_dialect()
        fresh = self._database_file is not None and not self._database_file.exists()
        if not fresh:
            self._open()
        lock = not fresh and self._table_exists(self.lock_table, LOCK_COLUMNS,
                                                _LOCK_COLUMNS_BEFORE_LEASES)
        history = not fresh and self._table_exists(self.history_table, HISTORY_COLUMNS)
        log = not fresh and self._table_exists(self.log_table, LOG_COLUMNS)
        attempt = not fresh and self._table_exists(self.attempt_table, ATTEMPT_COLUMNS)
        found = 0
        if lock:
            rows = self._query(f"SELECT pid FROM {self._lock} WHERE id = {{}}", (_FORMAT_ROW,))
            self._end_read(self._connection)
            found = self._version_of(rows[0][0], self.lock_table) if rows else (1 if history else 0)
        if found == 1 and history:
            raise StoreError(
                f"the tables of {self._description} are in format 1 (from an earlier "
                "link-migration): a printed script cannot upgrade them as a run does",
                "Run link-migration once (a run with nothing to do is enough), then --sql.",
            )
        types = {"version_type": dialect.version_type}
        statements = []
        if not lock:
            statements.append(_CREATE_LOCK.format(table=self._lock, **types))
        elif not self._lock_has_lease:
            statements += [f"ALTER TABLE {self._lock} ADD COLUMN {column} {kind}"
                           for column, kind in _LEASE_COLUMNS if column not in self._lock_columns]
        if not history:
            statements.append(_CREATE_HISTORY.format(table=self._history, **types))
        if not log:
            statements.append(_CREATE_LOG.format(table=self._log, **types))
        if not attempt:
            statements.append(_CREATE_ATTEMPT.format(table=self._attempt, **types))
        if found < STORE_FORMAT or not (history and log and attempt):
            statements.append(f"DELETE FROM {self._lock} WHERE id = {_FORMAT_ROW}")
            values = (_FORMAT_ROW, "link-migration store format", "", STORE_FORMAT, self._clock())
            statements.append(
                f"INSERT INTO {self._lock} ({', '.join(_LOCK_COLUMNS_BEFORE_LEASES)}) VALUES "
                f"({', '.join(dialect.literal(v) for v in values)})")
        next_seq = 1
        if log:
            (last,) = self._execute(f"SELECT MAX(seq) FROM {self._log}", ()).fetchone()
            self._end_read(self._connection)
            next_seq = self._version_of(last or 0, self.log_table) + 1
        return statements, next_seq

    def script_record(self, step: Step, *, fake: bool, seq: int, now: str, by: str) -> list[str]:
        """The statements that record ``step`` (history and log), values written in."""
        literal = self._script_dialect().literal
        migration = step.migration

        def insert(table: str, columns: Sequence[str], values: Sequence[Any]) -> str:
            return (f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
                    f"({', '.join(literal(v) for v in values)})")

        if step.direction == "down":
            history = f"DELETE FROM {self._history} WHERE version = {literal(migration.version)}"
        else:
            history = insert(self._history, HISTORY_COLUMNS, (
                migration.version, migration.name, migration.checksum or None, now, None, by,
                1 if fake else 0))
        log = insert(self._log, LOG_COLUMNS, (
            seq, migration.version, ("fake " if fake else "") + step.direction, migration.name,
            now, None, by))
        return [history, log]

    def script_begin(self) -> str:
        return self._script_dialect().begin_statement

    def _script_dialect(self) -> Dialect:
        """The dialect, without creating a SQLite file that is not there yet."""
        if self._dialect is None and self._database_file is not None \
                and not self._database_file.exists():
            from ..dialects.sqlite import SQLiteDialect

            return SQLiteDialect(None, "sqlite3")
        self._open()
        assert self._dialect is not None
        return self._dialect

    # -- reading -----------------------------------------------------------------------

    def read_current(self) -> int:
        if self._database_file is not None and not self._database_file.exists():
            return 0
        connection = self._open()
        if not self._table_exists(self.history_table, HISTORY_COLUMNS):
            return 0
        (current,) = self._execute(f"SELECT MAX(version) FROM {self._history}", ()).fetchone()
        self._end_read(connection)
        return self._version_of(current or 0, self.history_table)

    def read_state(self, files: Sequence[Migration] = ()) -> StoreState:
        from ..state import AppliedMigration, StoreState

        if self._database_file is not None and not self._database_file.exists():
            return StoreState(0, {})
        connection = self._open()
        if not self._table_exists(self.history_table, HISTORY_COLUMNS):
            return StoreState(0, {})
        cursor = self._execute(
            f"SELECT {', '.join(HISTORY_COLUMNS)} FROM {self._history} ORDER BY version", ()
        )
        # Row by row, not fetchall(): ten thousand rows need not exist twice over. A row takes
        # its file's name and checksum objects where the text is the same (both come in
        # version order), and the few distinct applied_by values are interned: about 200
        # bytes a migration that would otherwise be held twice (see bench/).
        remaining = iter(files)
        file = next(remaining, None)
        applied = {}
        for row in _rows(cursor):
            version = row[0] if type(row[0]) is int else self._version_of(row[0], self.history_table)
            name, checksum = row[1], row[2]
            while file is not None and file.version < version:
                file = next(remaining, None)
            if file is not None and file.version == version:
                name = file.name if name == file.name else name
                checksum = file.checksum if checksum == file.checksum else checksum
            applied[version] = AppliedMigration(
                version=version,
                file_name=name,
                checksum=checksum,
                applied_at=row[3],
                duration=row[4],
                applied_by=sys.intern(row[5]) if type(row[5]) is str else row[5],
                faked=bool(row[6]),
            )
        attempts = self._read_attempts()
        self._end_read(connection)
        return StoreState(max(applied, default=0), applied, attempts)

    def _read_attempts(self) -> dict[int, Attempt]:
        """The failed migrations (SPEC 9): rows of the attempt table, which exists from format
        4 on."""
        from ..state import Attempt

        if not self._table_exists(self.attempt_table, ATTEMPT_COLUMNS):
            return {}
        rows = self._query(f"SELECT {', '.join(ATTEMPT_COLUMNS)} FROM {self._attempt}", ())
        table = self.attempt_table
        return {
            self._version_of(row[0], table): Attempt(
                self._version_of(row[0], table), str(row[1]), str(row[2]), str(row[3]),
                str(row[4]), self._version_of(row[5], table),
                None if row[6] is None else self._version_of(row[6], table),
                row[7], row[8], row[9])
            for row in rows
        }

    # -- migrations outside a transaction: the attempt table (SPEC 9) ----------------------

    def attempt_started(self, step: Step, total: int | None, *, resume: bool) -> None:
        """Record, committed on its own, that ``step`` starts outside a transaction (or on a
        database whose DDL commits by itself): a kill -9 from here on leaves a row that says
        so. Resuming keeps the statements already done."""
        self._ensure_tables()
        migration = step.migration
        now, by = self._clock(), self._identity or who_am_i()
        self._identity = by
        self._begin()
        try:
            if resume:
                self._execute(
                    f"UPDATE {self._attempt} SET started_at = {{}}, started_by = {{}}, "
                    "total = {}, ended_at = NULL, error = NULL WHERE version = {}",
                    (now, by, total, migration.version))
            else:
                self._execute(
                    f"INSERT INTO {self._attempt} ({', '.join(ATTEMPT_COLUMNS)}) VALUES "
                    "({}, {}, {}, {}, {}, {}, {}, {}, {}, {})",
                    (migration.version, step.direction, migration.name, now, by, 0, total,
                     None, None, None))
            self._connection.commit()
        except BaseException:
            self._rollback_quietly()
            raise
        self._attempt_open = (migration.version, step.direction)
        self._failure_noted = False
        self._attempt_done = None  # statements done, for after_failure()
        self._attempt_total = total
        if resume and total is not None:
            rows = self._query(f"SELECT done FROM {self._attempt} WHERE version = {{}}",
                               (migration.version,))
            self._end_read(self._connection)
            self._attempt_done = self._version_of(rows[0][0], self.attempt_table) if rows else 0

    def attempt_running(self) -> bool:
        """Whether the running step is recorded as an attempt: if it fails, it stays failed."""
        return self._attempt_open is not None

    def run_counted(self, cursor: Any, text: str, version: int, done: int,
                    done_checksum: str, *, paired: bool = True) -> None:
        """Run statement number ``done`` of a SQL migration outside a transaction, and record
        that it completed. Where DDL is transactional the two commit together, so that a kill
        -9 cannot leave a statement done but not counted; a statement the database refuses to
        run in a transaction, every one on MySQL, and every one of a migration that opens and
        ends transactions itself (``paired`` False), commits by itself just before."""
        dialect = self._dialect
        assert dialect is not None
        record = self._statement(
            f"UPDATE {self._attempt} SET done = {{}}, done_checksum = {{}} WHERE version = {{}}",
            (done, done_checksum, version))
        if dialect.transactional_ddl and paired:
            cursor.execute(dialect.begin_statement)
            try:
                _execute_and_drain(cursor, text)
            except Exception as exc:
                with contextlib.suppress(Exception):
                    cursor.execute("ROLLBACK")
                if not dialect.refuses_transaction(exc):
                    raise
            else:
                try:
                    cursor.execute(*record)
                    cursor.execute("COMMIT")
                except BaseException:
                    with contextlib.suppress(Exception):
                        cursor.execute("ROLLBACK")
                    raise
                self._attempt_done = done
                return
        _execute_and_drain(cursor, text)
        cursor.execute(*record)
        if paired:
            self._connection.commit()
        # else the connection is in autocommit mode, or inside the migration's own
        # transaction, which the record then joins: committing here would end it early.
        self._attempt_done = done

    def _attempt_failed(self, exc: BaseException) -> None:
        """The migration outside a transaction stopped with ``exc``: record the error, on its
        own. Best effort: if the connection is gone too, the row still says that it started
        and how far it got, and status says the run ended without saying how."""
        if self._attempt_open is None or self._connection is None or self._failure_noted:
            return
        self._failure_noted = True  # _attempt_open stays: after_failure() still tells of it
        version = self._attempt_open[0]
        if isinstance(exc, LinkMigrationError) and exc.__cause__ is not None:
            exc = exc.__cause__  # the migration's own error, not our report of it
        error = f"{type(exc).__name__}: {exc}".strip()[:_ERROR_LENGTH]
        self._unsaid_failure = (version, error)
        with contextlib.suppress(Exception):
            self._say_failure()

    def _say_failure(self) -> None:
        """Write the error of the attempt that failed; kept for later when the connection
        cannot take it now (a statement was cancelled on it)."""
        if self._unsaid_failure is None:
            return
        version, error = self._unsaid_failure
        self._rollback_quietly()
        self._execute(
            f"UPDATE {self._attempt} SET ended_at = {{}}, error = {{}} WHERE version = {{}}",
            (self._clock(), error, version))
        self._connection.commit()
        self._unsaid_failure = None

    def read_log(self, limit: int | None) -> list[LogEntry] | None:
        from ..state import LogEntry

        if self._database_file is not None and not self._database_file.exists():
            return []
        connection = self._open()
        if not self._table_exists(self.log_table, LOG_COLUMNS):
            return []
        cursor = self._execute(
            f"SELECT {', '.join(LOG_COLUMNS)} FROM {self._log} ORDER BY seq DESC", ()
        )
        rows = cursor.fetchall() if limit is None else cursor.fetchmany(min(limit, 2**31 - 1))
        self._end_read(connection)
        table = self.log_table
        return [
            LogEntry(self._version_of(r[0], table), self._version_of(r[1], table), *r[2:7])
            for r in rows
        ]

    def identity(self) -> tuple[object, ...] | None:
        """What tells this database from any other, however it was reached (see Dialect)."""
        connection = self._open()
        assert self._dialect is not None
        try:
            return self._dialect.identity(self._query)
        finally:
            self._end_read(connection)

    def reads_schema(self) -> bool:
        """Whether snapshot() can read this database's catalog."""
        if self._database_file is not None:
            return True
        self._open()
        assert self._dialect is not None
        return self._dialect.reads_schema

    def snapshot(self, *, rows: bool = False, cache: dict[Any, Any] | None = None) -> Snapshot:
        """The database's schema without our own tables (SPEC 10); with ``rows``, every
        table's contents too. ``cache`` carries what one snapshot learnt to the next."""
        from ..schema import Snapshot, snapshot, table_rows

        if self._database_file is not None and not self._database_file.exists():
            return Snapshot((), {} if rows else None)
        connection = self._open()
        assert self._dialect is not None
        own = self._own_tables
        try:
            objects = self._dialect.read_schema(self._query, own, self._schema, cache)
            contents = table_rows(self._query, [o for o in objects if o.kind == "table"]
                                  ) if rows else None
        finally:
            self._end_read(connection)
        return snapshot(objects, contents)

    # -- writing -----------------------------------------------------------------------

    def atomic_ddl(self) -> bool:
        """Whether a transaction here undoes DDL too: not on MySQL and MariaDB, where every
        migration is treated as one outside a transaction (SPEC 9)."""
        self._open()
        assert self._dialect is not None
        return self._dialect.transactional_ddl

    @contextlib.contextmanager
    def applying(self, step: Step, *, transactional: bool, fake: bool,
                 statements: int | None = None, resume: bool = False) -> Iterator[Any]:
        """Run the step's migration in the block and record it. A migration that may leave
        part of its work in place (outside a transaction, or any on a database whose DDL
        commits by itself) is recorded in the attempt table first, with ``statements`` (a
        SQL migration's count) and, when ``resume``, the statements already done kept."""
        connection = self._open()
        self._check_lease()
        self._ensure_tables()
        self._full_cache()
        dialect = self._dialect
        assert dialect is not None
        guarded = not fake and (not transactional or not dialect.transactional_ddl)
        if guarded:
            self.attempt_started(step, statements, resume=resume)
        # The store decides, not the connection's mode (SPEC 6): a connection that
        # get_connection() returned in autocommit mode would lose a failing migration's
        # atomicity, and the record of a step must commit whole; transactional = False needs
        # autocommit where the driver has it. The mode it was in is given back at the end
        # (the store's own reading mode, where it reads in autocommit: close() gives conf.py's
        # connection back in the mode it came in).
        original = dialect.autocommit()
        self._transaction_token = None
        self._step_open = False
        try:
            self._set_autocommit(original, not transactional)
            started = time.perf_counter()
            if transactional:
                self._transaction_token = self._begin(named=True)
                self._step_open = True
            try:
                yield connection
            except BaseException as exc:
                if transactional:
                    self._step_open = False
                    self._rollback_quietly()
                if guarded:
                    self._attempt_failed(exc)
                raise
            # Where the driver can send the check that the step's transaction is still open,
            # the record and COMMIT in one round trip (issue 17), only its own word is taken
            # here; the check itself goes with the record.
            folded = transactional and not (guarded or resume) and \
                self._transaction_token is not None and not self._fence_due() and \
                dialect.can_run_then_commit()
            ended = not folded and transactional and self._transaction_ended() is True
            self._step_open = False
            if ended:
                self._rollback_quietly()
                raise self._transaction_ended_error()
            if not transactional:
                # What the migration did is committed on its own; the record follows, in a
                # transaction of its own.
                connection.commit()
                self._set_autocommit(original, False)
                self._begin()
            duration = time.perf_counter() - started
            if folded:
                self._record_and_commit(step, duration, fake, self._transaction_token)
            else:
                # Done: an attempt (this one, or the failed one it resumes, even run another
                # way now) goes with the record, in its transaction.
                self._record_step(step, duration, fake, transactional, attempt=guarded or resume)
                self._fence(transactional or fake)
                self._commit(fake, transactional)
            self._attempt_open = None
            self._next_seq = (self._next_seq or 0) + 1
        except BaseException:
            # A statement may still be running (a second signal interrupted it): giving the
            # mode back must not hide how the step ended.
            with contextlib.suppress(Exception):
                self._set_autocommit(original, original)
            raise
        else:
            self._set_autocommit(original, original)

    def _transaction_ended_error(self) -> TransactionEndedError:
        return TransactionEndedError(
            f"the migration ended the store's transaction on {self._description} "
            "itself (a commit() or rollback() on the connection, "
            "sqlite3's executescript(), or a COMMIT or ROLLBACK statement). What it did "
            "before that may be committed or rolled back, and what it did after ran "
            "outside the store's transaction",
            "Leave transactions to the store, or write transactional = False in the "
            "migration if it must commit by itself.",
        )

    def cancel(self) -> bool:
        """Cancel the statement running on the store's connection (SPEC 7: a second signal).
        Called from another thread than the one running it, which then sees it fail. False
        when the driver offers no way, or there is no statement to cancel."""
        dialect, connection = self._dialect, self._connection
        if dialect is None or connection is None:
            return False

        def second() -> Any:
            # get_connection() again; one that hands out the same connection each time
            # gives no second one.
            other = self._connect()
            if other is connection:
                raise StoreError("no second connection to cancel the statement from")
            return other

        return dialect.cancel(second)

    def after_cancel(self) -> None:
        """After a cancel and the interrupt that followed it: a connection whose driver may
        have left the cancelled statement's reply unread is let go (closed if the store
        opened it), so that what comes next (releasing the lock) opens a fresh one."""
        dialect = self._dialect
        if self._connection is None or dialect is None or dialect.usable_after_cancel:
            return
        if self._owns_connection:
            with contextlib.suppress(Exception):
                self._connection.close()
        elif self._given_autocommit is not None:
            self._give_back_mode()
        self._connection = None
        self._dialect = None
        self._step_open = False
        if self._unsaid_failure is not None:  # on a fresh connection, what the old could not take
            with contextlib.suppress(Exception):
                self._open()
                self._say_failure()

    def _give_back_mode(self) -> None:
        """conf.py's connection, back in the mode it came in, where reading switched it."""
        with contextlib.suppress(Exception):  # a connection in a transaction keeps its mode
            self._set_autocommit(not self._given_autocommit, self._given_autocommit)

    def _set_autocommit(self, original: bool | None, wanted: bool | None) -> None:
        """Put the connection in ``wanted`` mode where the driver has modes and it is not
        there already."""
        dialect = self._dialect
        if original is None or wanted is None or dialect is None:
            return
        if dialect.autocommit() is not wanted:
            dialect.set_autocommit(wanted)

    def _transaction_ended(self) -> bool | None:
        """Whether the transaction the step began is over (True), still open (False), or
        cannot be told (None), as the dialect can see it."""
        if self._dialect is None or not self._step_open:
            return None  # the store has rolled the step back already: nothing to tell
        try:
            return self._dialect.transaction_ended(self._query, self._transaction_token)
        except Exception:
            return None  # an aborted transaction, or a connection that a signal broke, answers no query

    def after_failure(self, exc: BaseException, *, transactional: bool) -> str:
        """What is known of a failed migration's changes, and what may help, for its message.
        Called while the step's transaction is still open, before it is rolled back."""
        dialect = self._dialect
        if self._attempt_open is not None and self._attempt_total is not None:
            done = self._attempt_done or 0
            return (f"it ran outside a transaction: {done} of its {self._attempt_total} "
                    "statements completed and are in place, and it is recorded as failed")
        if not transactional:
            return ("it ran outside a transaction (transactional = False), so what it did "
                    "before it stopped is in place" + (
                        ", and it is recorded as failed" if self._attempt_open else ""))
        if dialect is not None and not dialect.transactional_ddl:
            return (f"{dialect.name} commits each CREATE, ALTER, DROP and the like by itself, "
                    "with everything before it: only what the migration did after the last "
                    "such statement was rolled back, and the rest may be in place"
                    + (", so it is recorded as failed" if self._attempt_open else ""))
        ended = self._transaction_ended() if dialect is not None else None
        if ended is True and dialect is not None and dialect.rolls_back_by_itself(exc):
            ended = None
        if ended is True:
            return ("it had ended the store's transaction itself (commit(), rollback() or a "
                    "COMMIT statement), so what it did before that may be in place; the rest "
                    "was rolled back")
        said = "its changes were rolled back"
        if ended is None:
            said += " (all of them, unless it committed some itself)"
        if dialect is not None and dialect.refuses_transaction(exc):
            said += ("; the database will not run that statement inside a transaction: write "
                     "transactional = False in the migration to run it outside one")
        return said

    def _record_step(self, step: Step, duration: float, fake: bool, transactional: bool,
                     *, attempt: bool = False) -> None:
        try:
            self._record(step, duration, fake)
            if attempt:
                self._execute(f"DELETE FROM {self._attempt} WHERE version = {{}}",
                              (step.migration.version,))
        except BaseException as exc:
            self._rollback_quietly()
            if not isinstance(exc, Exception):
                raise  # a signal that abandoned the record: rolled back, on to the runner
            raise self._record_failed(exc, step, fake, transactional) from exc

    def _record_failed(self, exc: Exception, step: Step, fake: bool,
                       transactional: bool) -> StoreError:
        """The error of a record that failed and was rolled back."""
        reason = (exc.message if isinstance(exc, StoreError)
                  else f"{self._description}: {_describe(exc)}")
        return StoreError(
            f"{reason}; {self._undone(fake, transactional)}",
            "Fix the database problem and run again."
            if transactional or fake
            else f"Record version {step.migration.version} by hand, or undo its changes.",
        )

    def _undone(self, fake: bool, transactional: bool) -> str:
        """What a rolled-back record leaves of the step's changes."""
        if fake:
            return "nothing was recorded"
        if not transactional:
            return "its changes are in place (transactional = False)"
        dialect = self._dialect
        if dialect is not None and not dialect.transactional_ddl:
            return (f"what it did after its last CREATE, ALTER or DROP was rolled back too, but "
                    f"{dialect.name} commits those statements by themselves: the rest is in place")
        return "its changes were rolled back too"

    def _commit(self, fake: bool, transactional: bool) -> None:
        try:
            self._connection.commit()
        except Exception as exc:
            self._rollback_quietly()
            self._raise_if_uncertain(exc, "the commit")
            raise StoreError(
                f"{self._description}: the commit failed with {_describe(exc)}; the record was "
                f"rolled back, and {self._undone(fake, transactional)}",
                "Fix the database problem and run again."
                if transactional or fake
                else "Record the version by hand, or undo its changes.",
            ) from exc

    def _raise_if_uncertain(self, exc: Exception, what: str) -> None:
        """After ``what`` (holding a COMMIT) failed with ``exc`` and was rolled back: raise
        UncertainCommitError if the connection is gone with it, since the server may have
        committed before its reply was lost."""
        if self._dialect is not None and self._dialect.commit_reply_can_be_lost \
                and not self._still_answers():
            raise UncertainCommitError(
                f"{what} failed with {_describe(exc)}, and the connection with it: the "
                "database may have committed before its reply was lost, or rolled back",
            ) from exc

    def _still_answers(self) -> bool:
        """Whether the connection still answers a query: then the server received the
        commit and answered it with its error, so nothing was committed."""
        try:
            self._query("SELECT 1", ())
            self._end_read(self._connection)
        except Exception:
            return False
        return True

    # -- the lock row (SPEC 7) -------------------------------------------------------------

    def try_lock(self, holder: LockHolder) -> LockHolder | None:
        """Take the lock row for ``holder`` in its own committed transaction, as a lease
        that a thread renews from then on (see link_migration.lease).

        Returns None when taken, else whoever holds it. An insert that fails while no one
        holds the row is a real error (a read-only database, say), once a few tries have
        ruled out a runner that released the row in between.
        """
        self._open()
        # Tables of someone else's under our names: say so before creating anything.
        self._table_exists(self.history_table, HISTORY_COLUMNS)
        self._table_exists(self.log_table, LOG_COLUMNS)
        self._ensure_lock_table()
        attempts_left = 3
        term_ms = max(1, round(self._lease_term * 1000))
        columns = LOCK_COLUMNS if self._lock_has_lease else _LOCK_COLUMNS_BEFORE_LEASES
        values = (_LOCK_ROW, holder.owner, holder.host, holder.pid, holder.since,
                  holder.since, term_ms)[: len(columns)]
        insert = (f"INSERT INTO {self._lock} ({', '.join(columns)}) "
                  f"VALUES ({', '.join('{}' for _ in columns)})")
        assert self._dialect is not None
        unless_taken = self._dialect.insert_unless_present(insert)
        while True:
            # One round trip where the dialect has it (issue 17): the insert is a transaction
            # of its own, inserting nothing where the row is someone's; only then is the row
            # read. Elsewhere: read the row, then insert in a transaction.
            at_once = unless_taken is not None and self._autocommitting()
            if not at_once:
                current = self.lock_holder()
                if current is not None:
                    return current
            try:
                if at_once:
                    inserted = self._deleted(self._execute(unless_taken, values))
                else:
                    self._begin()
                    self._execute(insert, values)
                    self._connection.commit()
                    inserted = True
            except DatabaseBusyError:
                self._rollback_quietly()
                raise
            except StoreError:
                self._rollback_quietly()
                attempts_left -= 1
                if not attempts_left:
                    raise
                continue
            if inserted is not True:
                current = self.lock_holder()
                if current is not None and (current.owner, current.since) == \
                        (holder.owner, holder.since):
                    return self._taken(holder, term_ms)  # a driver that counts no rows
                if current is not None:
                    return current
                # Released in between; or a row we may not see (row security) and a key we
                # cannot take: a few tries tell one from the other.
                attempts_left -= 1
                if not attempts_left:
                    raise StoreError(
                        f"cannot take the lock in table {self.lock_table} of "
                        f"{self._description}: the insert of its row took nothing, and no row "
                        "is there to say who holds it",
                        "Check the table: another unique key, or a row security policy, may "
                        "be in the way.",
                    )
                continue
            return self._taken(holder, term_ms)

    def _taken(self, holder: LockHolder, term_ms: int) -> None:
        """The lock row is ours: start renewing its lease."""
        # What the catalog said before the lock was ours may be stale now: the runner we
        # waited for may have created the tables.
        self._catalog = None
        if self._lock_has_lease:
            self._keep_lease(holder._replace(renewed=holder.since, term=term_ms / 1000))

    def lock_holder(self) -> LockHolder | None:
        from ..state import LockHolder

        if self._database_file is not None and not self._database_file.exists():
            return None  # `unlock` on a fresh project must not create the database
        self._open()
        if not self._table_exists(self.lock_table, LOCK_COLUMNS, _LOCK_COLUMNS_BEFORE_LEASES):
            return None
        lease = "renewed, term_ms" if self._lock_has_lease else "NULL, NULL"
        rows = self._query(
            f"SELECT owner, host, pid, since, {lease} FROM {self._lock} WHERE id = {{}}",
            (_LOCK_ROW,),
        )
        self._end_read(self._connection)
        if not rows:
            return None
        owner, host, pid, since, renewed, term_ms = rows[0]
        if not isinstance(pid, int):
            try:
                pid = int(pid)
            except (TypeError, ValueError):
                raise StoreError(
                    f"the lock row in table {self.lock_table} of {self._description} has "
                    f"pid {pid!r}, which is not a process number",
                    "The row was edited by hand: breaking the lock (unlock) removes it.",
                ) from None
        try:
            term = float(term_ms) / 1000 if renewed is not None and term_ms else 0.0
        except (TypeError, ValueError):
            term = 0.0  # edited by hand: no lease we can judge, so one never broken by itself
        return LockHolder(str(owner), str(host), pid, str(since),
                          "" if term == 0.0 else str(renewed), term)

    def unlock(self, holder: LockHolder) -> bool:
        """Delete the lock row if ``holder`` still has it. For our own lease, whether we
        still held it: False when it was broken while we worked (the caller warns)."""
        lease = self._lease
        ours = lease is not None and lease.holder.since == holder.since \
            and lease.holder.owner == holder.owner
        if ours:
            assert lease is not None
            lease.stop()
            self._lease = None
        if self._connection is None and self._database_file is not None:
            if not self._database_file.exists():
                return True
        self._open()
        deleted = self._delete_lock_row(
            f"DELETE FROM {self._lock} WHERE id = {{}} AND owner = {{}} AND since = {{}}",
            (_LOCK_ROW, holder.owner, holder.since))
        if not ours or lease is None or lease.reported:
            return True  # not ours, or the run was told already (it stopped for it)
        return deleted is not False and not lease.lost

    def break_expired(self, holder: LockHolder) -> bool:
        """Delete ``holder``'s lock row if its lease still has the ``renewed`` value we
        watched for a whole term: a holder that renewed meanwhile keeps it. Whether the row
        was deleted."""
        self._open()
        deleted = self._delete_lock_row(
            f"DELETE FROM {self._lock} WHERE id = {{}} AND owner = {{}} AND since = {{}} "
            "AND renewed = {}",
            (_LOCK_ROW, holder.owner, holder.since, holder.renewed))
        if deleted is None:  # a driver that does not count rows: look
            deleted = self.lock_holder() != holder
        return deleted

    def _delete_lock_row(self, template: str, values: Sequence[Any]) -> bool | None:
        """Run ``template`` (a DELETE of the lock row) in a transaction of its own: in
        autocommit mode where the dialect reads in it, one round trip (issue 17). Whether it
        deleted the row, as _deleted() tells."""
        if self._autocommitting():
            return self._deleted(self._execute(template, values))
        self._begin()
        try:
            deleted = self._deleted(self._execute(template, values))
            self._connection.commit()
        except BaseException:
            self._rollback_quietly()
            raise
        return deleted

    @staticmethod
    def _deleted(cursor: Any) -> bool | None:
        """Whether a statement on the lock row touched it; None when the driver does not say
        (DB-API allows a rowcount of -1)."""
        count = getattr(cursor, "rowcount", -1)
        return None if count is None or count < 0 else count == 1

    # -- the lease (link_migration.lease) ----------------------------------------------------

    def _keep_lease(self, holder: LockHolder) -> None:
        from ..lease import Lease

        self._lease = Lease(holder, holder.term, lambda connection: self._renew_on(connection, holder),
                            self._lease_connection)
        self._lease.start()

    def _lease_connection(self) -> Any:
        """A connection for the lease thread: a new one, or None when the store can have no
        second one (a get_connection() that returns the same connection each time)."""
        main = self._connection
        if main is None:
            return None  # nothing to compare with: no risk of sharing ours with the thread
        connection = self._connect()
        if connection is main:
            return None
        return connection

    def _renew_on(self, connection: Any, holder: LockHolder) -> bool:
        """Renew ``holder``'s lease on ``connection``, in a transaction of its own: whether the
        row was still ours. Called from the lease thread, with its own connection, or between
        steps with the store's."""
        sql, parameters = self._statement(*self._renewal(holder))
        cursor = connection.cursor()
        try:
            cursor.execute(sql, parameters)
            touched = self._deleted(cursor)
            connection.commit()
        except BaseException:
            with contextlib.suppress(Exception):
                connection.rollback()
            raise
        if touched is None:  # the driver does not count rows: read the row back
            cursor = connection.cursor()
            cursor.execute(*self._statement(
                f"SELECT renewed FROM {self._lock} WHERE id = {{}} AND owner = {{}} AND since = {{}}",
                (_LOCK_ROW, holder.owner, holder.since)))
            touched = bool(cursor.fetchall())
            with contextlib.suppress(Exception):
                connection.rollback()
        return touched

    def _check_lease(self) -> None:
        """Before a step: stop if the lease was lost, and renew it here if the thread cannot
        or has fallen behind. Costs nothing while the thread keeps up. A renewal that fails
        while the term has not run out is tried again later: the check at commit covers it."""
        lease = self._lease
        if lease is None:
            return
        if not lease.lost and lease.due():
            started = time.monotonic()
            try:
                lease.renewed(started, self._renew_on(self._connection, lease.holder))
            except Exception as exc:
                if lease.elapsed() >= lease.term:
                    raise StoreError(
                        f"cannot renew the lock's lease on {self._description}, and its term "
                        f"has run out: {_describe(exc)}",
                        "Check the database; run again once it answers.",
                    ) from exc
        if lease.lost:
            raise self._lease_lost()

    def _fence_due(self) -> bool:
        """Whether the lease may have run out, so that a step must renew it before it
        commits (then the step's record and COMMIT are not sent in one text)."""
        return self._lease is not None and self._lease.at_risk()

    def _fence(self, transactional: bool) -> None:
        """Just before a transactional step commits: if the lease may have run out, renew it
        inside the step's transaction, so that the step commits only if the lock is still
        ours (and a runner breaking it meanwhile waits for our commit, then sees it renewed).
        """
        if not self._fence_due():
            return
        lease = self._lease
        assert lease is not None
        dialect = self._dialect
        if not transactional or dialect is None or not dialect.transactional_ddl:
            return  # what the step did is in place: recording it is the truth, so record it
        started = time.monotonic()
        try:
            touched = self._deleted(self._execute(*self._renewal(lease.holder)))
        except BaseException:
            self._rollback_quietly()
            raise
        still_ours = touched is not False  # a driver that does not count rows: trust the thread
        lease.renewed(started, still_ours)
        if not still_ours:
            self._rollback_quietly()
            raise self._lease_lost(rolled_back=True)

    def _renewal(self, holder: LockHolder) -> tuple[str, tuple[Any, ...]]:
        """The statement that renews ``holder``'s lease: a new ``renewed`` value, on that row
        only."""
        return (f"UPDATE {self._lock} SET renewed = {{}} WHERE id = {{}} AND owner = {{}} "
                "AND since = {}",
                (self._clock(), _LOCK_ROW, holder.owner, holder.since))

    def _lease_lost(self, rolled_back: bool = False) -> LeaseLostError:
        lease = self._lease
        if lease is not None:
            lease.reported = True
        term = f"{lease.term:g} s" if lease is not None else "its term"
        return LeaseLostError(
            f"the lock on {self._description} (table {self.lock_table}) is no longer this "
            f"run's: another runner broke it after its lease went unrenewed for {term}, or "
            "an operator ran unlock"
            + ("; the migration's changes were rolled back" if rolled_back else ""),
            "Another run may be migrating this database now: see status once it is done. "
            f"If renewing is slow on this database, give a longer LOCK_LEASE in conf.py.",
        )

    def close(self) -> None:
        if self._lease is not None:
            self._lease.stop()
            self._lease = None
        if self._connection is not None and self._owns_connection:
            self._connection.close()
        elif self._connection is not None and self._given_autocommit is not None:
            self._give_back_mode()
        self._connection = None

    # -- repairs: forget and accept (link_migration.repair) ----------------------------------

    def forget(self, records: Sequence[AppliedMigration]) -> None:
        """Delete the history rows of ``records`` (applied migrations whose files are gone),
        each logged as ``forget``, in one transaction. The caller holds the lock."""
        self._open()
        delete = f"DELETE FROM {self._history} WHERE version = {{}}"
        self._repair("forget", [(delete, (r.version,), r.version, r.file_name) for r in records])

    def accept(self, migrations: Sequence[Migration]) -> None:
        """Record the file name and checksum ``migrations`` have now in their history rows,
        each logged as ``accept``, in one transaction. The caller holds the lock."""
        self._open()
        update = (f"UPDATE {self._history} SET file_name = {{}}, checksum = {{}} "
                  "WHERE version = {}")
        self._repair("accept", [(update, (m.name, m.checksum or None, m.version), m.version,
                                 m.name) for m in migrations])

    def adopt(self, migrations: Sequence[Migration]) -> None:
        """Record ``migrations`` as applied, with their checksums of today, each logged as
        ``adopt``, in one transaction. The caller holds the lock (link_migration.adopt)."""
        insert = (self._record_sql or self._prepare_record_sql())[1]
        now = self._clock()
        by = self._identity = self._identity or who_am_i()
        self._repair("adopt", [
            (insert, (m.version, m.name, m.checksum or None, now, None, by, 0), m.version, m.name)
            for m in migrations
        ], bound=True)

    def read_table(self, table: str, query: str, owner: str) -> list[Any]:
        """The rows of another tool's table (``query`` reads ``table``): StoreError naming it
        when it is not there."""
        self._open()
        assert self._dialect is not None
        try:
            cursor = self._dialect.cursor()
            cursor.execute(query)
            rows = list(cursor.fetchall())
        except Exception as exc:
            self._rollback_quietly()
            if self._dialect.table_missing(exc) or "does not exist" in str(exc) \
                    or "doesn't exist" in str(exc):
                raise StoreError(
                    f"{self._description} has no table {table}, where {owner} keeps its "
                    "record (or it has other columns)",
                    f"Check that {owner} migrated this database; if it keeps its record under "
                    "another name, give it with --table.",
                ) from None
            raise self._unreadable(exc, table) from None
        self._end_read(self._connection)
        return rows

    def resolve(self, attempt: Attempt, migration: Migration | None, applied: bool) -> str:
        """Settle a failed migration by hand (SPEC 9), in one transaction logged as
        ``resolve applied`` or ``resolve undone``: ``applied``, it was finished (an up is
        recorded as applied, a down as rolled back); else it was undone (the attempt is
        forgotten, and the version stays as it was). Returns the log's operation."""
        version = attempt.version
        operation = "resolve applied" if applied else "resolve undone"
        changes: list[tuple[str, Sequence[Any], int, str | None]] = []
        if applied and attempt.direction == "up":
            changes.append((
                f"INSERT INTO {self._history} ({', '.join(HISTORY_COLUMNS)}) VALUES "
                "({}, {}, {}, {}, {}, {}, {})",
                (version, migration.name if migration else attempt.file_name,
                 (migration.checksum or None) if migration else None, self._clock(), None,
                 self._identity or who_am_i(), 0),
                version, attempt.file_name))
        elif applied:
            changes.append((f"DELETE FROM {self._history} WHERE version = {{}}", (version,),
                            version, attempt.file_name))
        else:
            changes.append((f"DELETE FROM {self._attempt} WHERE version = {{}}", (version,),
                            version, attempt.file_name))
        if applied:
            changes.append((f"DELETE FROM {self._attempt} WHERE version = {{}}", (version,),
                            version, None))
        self._repair(operation, changes)
        return operation

    def _repair(self, operation: str,
                changes: Sequence[tuple[str, Sequence[Any], int, str | None]],
                *, bound: bool = False) -> None:
        """Run each change (SQL with ``{}`` markers, its values, and the version and file name
        to log, or None for a change that goes with the one before) and log it as
        ``operation``, all in one transaction: the history and its log never disagree. The
        store, not the connection's mode, decides (as in applying())."""
        self._ensure_tables()
        dialect = self._dialect
        assert dialect is not None
        original = dialect.autocommit()
        now = self._clock()
        by = self._identity = self._identity or who_am_i()
        log = (self._record_sql or self._prepare_record_sql())[2]
        try:
            self._set_autocommit(original, False)
            self._begin()
            for template, values, version, file_name in changes:
                if bound:  # in the driver's paramstyle already
                    self._run(template, tuple(values))
                else:
                    self._execute(template, values)
                if file_name is None:
                    continue
                self._log_entry(log, version, operation, file_name, now, None, by)
                self._next_seq = (self._next_seq or 0) + 1
            self._commit(fake=True, transactional=True)  # fake: "nothing was recorded"
        except BaseException:
            self._rollback_quietly()
            self._next_seq = None  # the log's next number is read again, from what committed
            with contextlib.suppress(Exception):
                self._set_autocommit(original, original)
            raise
        self._set_autocommit(original, original)

    def _record(self, step: Step, duration: float, fake: bool) -> None:
        """Write the history row and the log entry."""
        forget, remember, log = self._record_sql or self._prepare_record_sql()
        history, entry = self._record_values(step, duration, fake)
        assert self._dialect is not None
        if self._dialect.writes_two_tables_at_once:
            # One round trip for both rows (issue 17): the history row and the log entry in
            # one statement, as a network database counts them.
            both = self._record_both or self._prepare_record_both()
            self._run(both[0 if step.direction == "down" else 1],
                      history + (self._log_seq(),) + entry)
            return
        self._run(forget if step.direction == "down" else remember, history)
        self._log_entry(log, *entry)

    def _record_values(self, step: Step, duration: float,
                       fake: bool) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        """The history row's values (the version alone, down) and the log entry's."""
        migration = step.migration
        now = self._clock()
        by = self._identity = self._identity or who_am_i()
        if step.direction == "down":
            history: tuple[Any, ...] = (migration.version,)
        else:
            history = (migration.version, migration.name, migration.checksum or None, now,
                       duration, by, 1 if fake else 0)
        entry = (migration.version, ("fake " if fake else "") + step.direction, migration.name,
                 now, None if fake else duration, by)
        return history, entry

    def _record_and_commit(self, step: Step, duration: float, fake: bool,
                           token: object) -> None:
        """Check that the step's transaction (``token``) is still open, record the step and
        commit, in one round trip (issue 17)."""
        dialect = self._dialect
        assert dialect is not None
        try:
            history, entry = self._record_values(step, duration, fake)
            template = self._record_templates()[0 if step.direction == "down" else 1]
            values = history + (self._log_seq(),) + entry  # a query, on a run's first step
            record = template.format(*(dialect.inline(value) for value in values))
        except BaseException as exc:
            self._rollback_quietly()
            if not isinstance(exc, Exception):
                raise
            raise self._record_failed(exc, step, fake, True) from exc
        try:
            dialect.run_then_commit([dialect.transaction_check(token), record])
        except BaseException as exc:
            self._rollback_quietly()
            if not isinstance(exc, Exception):
                raise  # a signal while the text was on its way: rolled back, if not committed
            if dialect.failed_check(exc):
                raise self._transaction_ended_error() from None
            self._raise_if_uncertain(exc, "the record or the commit")
            undone = "" if fake else f", and {self._undone(fake, True)}"
            raise StoreError(
                f"{self._description}: the record or the commit failed with "
                f"{_describe(exc)}; nothing was recorded{undone}",
                "Fix the database problem and run again.",
            ) from exc

    def _log_seq(self) -> int:
        """The log's next number: read once, since we hold the lock for the whole run."""
        if self._next_seq is None:
            (last,) = self._execute(f"SELECT MAX(seq) FROM {self._log}", ()).fetchone()
            self._next_seq = self._version_of(last or 0, self.log_table) + 1
        return self._next_seq

    def _record_templates(self) -> tuple[str, str]:
        """The history row and the log entry in one statement each way (PostgreSQL: a data
        modifying WITH), with ``{}`` for each value: down, then up. Built once per store."""
        if self._templates is not None:
            return self._templates
        log = (f"INSERT INTO {self._log} ({', '.join(LOG_COLUMNS)}) "
               f"VALUES ({', '.join(['{}'] * len(LOG_COLUMNS))})")
        forget = f"WITH gone AS (DELETE FROM {self._history} WHERE version = {{}}) {log}"
        remember = (f"WITH added AS (INSERT INTO {self._history} ({', '.join(HISTORY_COLUMNS)}) "
                    f"VALUES ({', '.join(['{}'] * len(HISTORY_COLUMNS))})) {log}")
        self._templates = (forget, remember)
        return self._templates

    def _prepare_record_both(self) -> tuple[str, str]:
        """_record_templates() in the driver's paramstyle."""
        style = self._paramstyle or "qmark"
        forget, remember = self._record_templates()
        self._record_both = (
            bind(style, forget, (0,) * (1 + len(LOG_COLUMNS)))[0],
            bind(style, remember, (0,) * (len(HISTORY_COLUMNS) + len(LOG_COLUMNS)))[0],
        )
        return self._record_both

    def _log_entry(self, sql: str, version: int, operation: str, file_name: str, now: str,
                   duration: float | None, by: str) -> None:
        self._run(sql, (self._log_seq(), version, operation, file_name, now, duration, by))

    def _prepare_record_sql(self) -> tuple[str, str, str]:
        """The statements every step runs, in the driver's paramstyle: built once per store,
        and a store lives for one command (or one call of the Python API)."""
        style = self._paramstyle or "qmark"

        def insert(table: str, columns: Sequence[str]) -> str:
            markers = ", ".join(["{}"] * len(columns))
            return bind(style, f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({markers})",
                        columns)[0]

        self._record_sql = (
            bind(style, f"DELETE FROM {self._history} WHERE version = {{}}", (0,))[0],
            insert(self._history, HISTORY_COLUMNS),
            insert(self._log, LOG_COLUMNS),
        )
        return self._record_sql

    # -- the store's own tables -------------------------------------------------------------

    def _ensure_tables(self) -> None:
        """Create the tables, or bring tables of an earlier format up to this one: once per
        store, under the lock, before the first step."""
        if self._tables_ready:
            return
        self._ensure_lock_table()
        history = self._table_exists(self.history_table, HISTORY_COLUMNS)
        log = self._table_exists(self.log_table, LOG_COLUMNS)
        attempt = self._table_exists(self.attempt_table, ATTEMPT_COLUMNS)
        rows = self._query(f"SELECT pid FROM {self._lock} WHERE id = {{}}", (_FORMAT_ROW,))
        self._end_read(self._connection)
        found = self._version_of(rows[0][0], self.lock_table) if rows else (1 if history else 0)
        self._format = found
        if found > STORE_FORMAT:
            raise StoreError(
                f"the tables of {self._description} are in format {found}, from a newer "
                f"link-migration; this one knows format {STORE_FORMAT}",
                "Upgrade link-migration to run migrations on this database.",
            )
        if found < STORE_FORMAT or not (history and log and attempt):
            self._create_or_upgrade(history, log, attempt, upgrade=0 < found < STORE_FORMAT)
        self._tables_ready = True

    def _create_or_upgrade(self, history: bool, log: bool, attempt: bool, *,
                           upgrade: bool) -> None:
        """One transaction (where the database has transactional DDL) that creates what is
        missing, widens the version columns of format 1, and records the format."""
        dialect = self._dialect
        assert dialect is not None
        types = {"version_type": dialect.version_type}
        from_format_1 = upgrade and self._format == 1
        widening = [statement for table, columns in ((self._history, ("version",)),
                                                     (self._log, ("seq", "version")))
                    for statement in dialect.widen(table, columns)] if from_format_1 else []
        if from_format_1 and not widening and not dialect.integer_is_64_bit:
            return  # a database we cannot widen: its tables stay in format 1, as they are
        self._catalog = None  # from here the tables change, or another runner changed them
        try:
            self._begin()
            if not history:
                self._run(_CREATE_HISTORY.format(table=self._history, **types), ())
            if not log:
                self._run(_CREATE_LOG.format(table=self._log, **types), ())
            if not attempt:
                self._run(_CREATE_ATTEMPT.format(table=self._attempt, **types), ())
            for statement in widening:
                self._run(statement, ())
            self._execute(f"DELETE FROM {self._lock} WHERE id = {{}}", (_FORMAT_ROW,))
            self._execute(
                f"INSERT INTO {self._lock} ({', '.join(_LOCK_COLUMNS_BEFORE_LEASES)}) "
                "VALUES ({}, {}, {}, {}, {})",
                (_FORMAT_ROW, "link-migration store format", "", STORE_FORMAT, self._clock()),
            )
            if widening:  # worth a line in the log: the tables changed
                by = self._identity = self._identity or who_am_i()
                log_sql = (self._record_sql or self._prepare_record_sql())[2]
                self._log_entry(log_sql, 0, "upgrade", f"store tables to format {STORE_FORMAT}",
                                self._clock(), None, by)
            self._connection.commit()
            if widening:
                self._next_seq = (self._next_seq or 0) + 1
        except StoreError:
            self._rollback_quietly()
            self._next_seq = None
            if not upgrade and self._table_exists(self.history_table, HISTORY_COLUMNS) and \
                    self._table_exists(self.log_table, LOG_COLUMNS) and \
                    self._table_exists(self.attempt_table, ATTEMPT_COLUMNS):
                return  # another runner (under a lock of conf.py's) created them meanwhile
            raise

    def _ensure_lock_table(self) -> None:
        """The lock table, created, or given the lease columns of format 3 if it is older.
        Before the lock is held, since taking it writes them; adding a column that another
        runner added at the same moment is fine."""
        if not self._table_exists(self.lock_table, LOCK_COLUMNS, _LOCK_COLUMNS_BEFORE_LEASES):
            self._ensure_table(self.lock_table, LOCK_COLUMNS, _CREATE_LOCK)
            return
        if self._lock_has_lease:
            return
        failure: StoreError | None = None
        for column, kind in _LEASE_COLUMNS:
            if column in self._lock_columns:
                continue  # added by a runner that stopped before the next one
            try:
                self._begin()
                self._run(f"ALTER TABLE {self._lock} ADD COLUMN {column} {kind}", None)
                self._connection.commit()
            except StoreError as exc:  # perhaps added by another runner at the same moment
                self._rollback_quietly()
                failure = exc
        self._existing.discard(self.lock_table)
        self._catalog = None
        self._table_exists(self.lock_table, LOCK_COLUMNS, _LOCK_COLUMNS_BEFORE_LEASES)
        if not self._lock_has_lease and self._dialect is not None \
                and self._dialect.flavour == "generic":
            return  # a database whose ALTER we cannot write: its lock stays as it was, no lease
        if not self._lock_has_lease:
            raise StoreError(
                f"cannot add the lease columns to table {self.lock_table} in "
                f"{self._description}: {failure.message if failure else 'they are missing'}",
                "Check the database and its permissions.",
            )

    def _ensure_table(self, table: str, columns: Sequence[str], create: str) -> None:
        """Create ``table`` unless it exists; another runner creating it at the same moment
        is fine."""
        if self._table_exists(table, columns):
            return
        assert self._dialect is not None
        self._catalog = None  # from here the tables change, or another runner changed them
        try:
            self._begin()
            self._run(create.format(table=self._qualified(table),
                                    version_type=self._dialect.version_type), ())
            self._connection.commit()
        except StoreError:
            self._rollback_quietly()
            if not self._table_exists(table, columns):
                raise

    def _table_exists(self, table: str, expected: Sequence[str],
                      older: Sequence[str] = ()) -> bool:
        """Whether ``table`` exists, from the catalog where the dialect can ask it; StoreError
        when it exists with other columns than ``expected`` (or, for the lock table, the
        ``older`` ones of an earlier format), or cannot be read (SPEC: a history that cannot
        be read is an error, never version 0)."""
        if table in self._existing:
            return True
        dialect = self._dialect
        assert dialect is not None
        name = self._qualified(table)
        bare = name.rpartition(".")[2]
        found = self._catalog_columns(table)
        if found is None:
            return False
        if found is not _ASK_THE_TABLE:
            return self._has_columns(table, found, expected, older)  # type: ignore[arg-type]
        try:
            owner = table.partition(".")[0] if "." in table else self._schema
            known = dialect.table_exists(self._query, owner, name, bare)
        except StoreError as exc:
            raise self._cannot_tell(table, exc) from exc
        if known is False:
            return False
        cursor = self._dialect.cursor()
        try:
            cursor.execute(f"SELECT * FROM {name} WHERE 1 = 0")
        except Exception as exc:
            self._rollback_quietly()
            if known is None and dialect.table_missing(exc):
                return False
            raise self._unreadable(exc, table) from None
        return self._has_columns(table, tuple(d[0].lower() for d in cursor.description or ()),
                                 expected, older)

    def _catalog_columns(self, table: str) -> tuple[str, ...] | object | None:
        """``table``'s columns as the catalog lists them, read for our four tables at once
        (one round trip, not two per table: issue 17), and read again once the store has
        taken its lock or changed its tables; None when it does not exist; _ASK_THE_TABLE
        when this dialect's catalog cannot tell."""
        assert self._dialect is not None
        if not self._dialect.lists_columns:
            return _ASK_THE_TABLE
        if self._catalog is None:
            names = [self._qualified(t) for t in self._own_tables]
            try:
                self._catalog = self._dialect.columns_of(self._query, names)
            except StoreError as exc:
                raise self._cannot_tell(table, exc) from exc
        return self._catalog.get(self._qualified(table))

    def _cannot_tell(self, table: str, exc: StoreError) -> StoreError:
        self._rollback_quietly()
        return StoreError(
            f"cannot tell whether table {table} exists in {self._description}: "
            f"{_describe(exc.__cause__ or exc)}",
            "Check the database and its permissions.",
        )

    def _has_columns(self, table: str, columns: tuple[str, ...], expected: Sequence[str],
                     older: Sequence[str]) -> bool:
        if older and set(older) <= set(columns) <= set(expected):
            # The lock table of an earlier format, or one whose upgrade stopped half-way.
            self._lock_columns = columns
            self._lock_has_lease = set(columns) == set(expected)
        elif set(columns) != set(expected):
            raise StoreError(
                f"table {table} in {self._description} has columns ({', '.join(columns)}), "
                f"not the ones link-migration keeps ({', '.join(expected)})",
                "It belongs to something else: set HISTORY_TABLE / LOG_TABLE in conf.py to "
                "other names.",
            )
        self._existing.add(table)
        return True

    def _qualified(self, table: str) -> str:
        return {self.history_table: self._history, self.log_table: self._log,
                self.lock_table: self._lock, self.attempt_table: self._attempt}[table]

    def _version_of(self, value: Any, table: str) -> int:
        """A whole number read from one of our tables; a hand-edited row that holds anything
        else is the store's error, named, never a crash."""
        if type(value) is int:
            return value
        try:
            number = int(value)
            if number == value or (isinstance(value, str) and value.strip().isdigit()):
                return number
        except (TypeError, ValueError, ArithmeticError):
            pass
        raise StoreError(
            f"table {table} in {self._description} holds {value!r} where a whole number "
            "belongs",
            "A row was edited by hand: correct or delete it.",
        )

    # -- plumbing ----------------------------------------------------------------------

    def _open(self) -> Any:
        if self._connection is not None:
            return self._connection
        connection = self._connect()
        dialect = dialect_for(connection)
        try:
            dialect.prepare()
        except Exception as exc:
            raise StoreError(
                f"{self._description}: {_describe(exc)}",
                "get_connection() must return an open connection.",
            ) from None
        self._connection = connection
        self._dialect = dialect
        self._opening = False
        self._given_autocommit = dialect.autocommit() if dialect.reads_in_autocommit else None
        if self._paramstyle is None:
            self._paramstyle = "qmark" if dialect.flavour == "sqlite" else _driver_paramstyle(connection)
        if self._owns_connection:
            try:
                self._cache_size = dialect.lean_reads(self._query)
            except StoreError as exc:  # the first statement to read the file: say why it cannot
                raise self._unreadable(exc.__cause__ or exc) from None
        if self._database_file is None:  # DATABASE's description and schema are known already
            self._identify(dialect)
        return connection

    @property
    def _own_tables(self) -> tuple[str, str, str, str]:
        """The store's four tables, as conf.py names them."""
        return (self.history_table, self.log_table, self.lock_table, self.attempt_table)

    def _identify(self, dialect: Dialect) -> None:
        """Name the database in messages, and pin our tables to the schema they are in now."""
        tables = self._own_tables
        try:
            description, schema, columns = dialect.describe_with_columns(self._query, tables)
        except StoreError as exc:
            self._rollback_quietly()
            raise StoreError(f"cannot read {self._description}: {_describe(exc.__cause__ or exc)}",
                             "Check the database and its permissions.") from exc
        self._end_read(self._connection)
        if description:
            self._description = description
        unqualified = [t for t in tables if "." not in t]
        if not schema and unqualified and dialect.schema_required:
            raise StoreError(
                f"{self._description} has no current schema for this user (its search path "
                "names none it may use), so link-migration cannot tell where "
                f"{', '.join(unqualified)} would be",
                "Grant the user USAGE on the schema, set its search_path, or name the schema "
                "in HISTORY_TABLE, LOG_TABLE and LOCK_TABLE (app.link_migration_history).",
            )
        if schema:
            self._schema = schema
            prefix = dialect.quote(schema) + "."
            self._history, self._log, self._lock, self._attempt = (
                table if "." in table else prefix + table
                for table in tables
            )
        if columns is not None:  # the catalog came with the rest: _catalog_columns() keeps it
            self._catalog = {self._qualified(table): columns[table]
                             for table in tables if table in columns}

    def _unreadable(self, exc: BaseException, table: str = "") -> StoreError:
        what = f"table {table} in {self._description}" if table else self._description
        if self._dialect is not None and self._dialect.busy(exc):
            return self._busy(exc)
        if self._database_file is not None:
            hint = "Check that DATABASE names a SQLite database file."
        else:
            hint = "Check the database and its permissions."
        return StoreError(f"cannot read {what}: {_describe(exc)}", hint)

    def _full_cache(self) -> None:
        if self._cache_size is not None:
            assert self._dialect is not None
            self._dialect.full_cache(self._query, self._cache_size)
            self._cache_size = None

    def _begin(self, *, named: bool = False) -> object:
        """Open a transaction; ``named``: one whose end transaction_ended() may be asked
        about (a step's), which can cost a round trip where the others need none."""
        assert self._dialect is not None
        if self._given_autocommit is not None:
            self._opening = True  # the next statement opens it, outside autocommit mode
            if self._dialect.autocommit() is True and self._dialect.idle() is True:
                try:
                    self._dialect.set_autocommit(False)
                except Exception as exc:
                    raise self._failed(exc, "BEGIN") from exc
        if not named:
            return self._dialect.open_transaction(self._query)
        try:
            return self._dialect.begin(self._query)
        except StoreError:
            raise
        except Exception as exc:  # a driver's own, from a dialect that spoke to it directly
            raise self._failed(exc, "BEGIN") from exc
        finally:
            self._opening = False  # begin() opened it, by a statement of ours or its own

    def _end_read(self, connection: Any) -> None:
        """Close the transaction a read opened (DB-API drivers open one on every statement
        outside autocommit mode; in it, there is none, and rollback() sends nothing)."""
        connection.rollback()

    def _rollback_quietly(self) -> None:
        # The original exception is what the user needs to see; a failing rollback (the
        # connection is gone) must not replace it.
        with contextlib.suppress(Exception):
            self._connection.rollback()

    def _query(self, template: str, values: Sequence[Any]) -> list[Any]:
        """Run ``template`` and return its rows (none for a statement that returns none)."""
        cursor = self._execute(template, values)
        return list(cursor.fetchall()) if cursor.description is not None else []

    def _execute(self, template: str, values: Sequence[Any]) -> Any:
        """Run ``template`` with ``{}`` marking each parameter, in the driver's paramstyle."""
        return self._run(*self._statement(template, values))

    def _statement(self, template: str, values: Sequence[Any]) -> tuple[str, Any]:
        """``template`` in the driver's paramstyle, and its parameters as the driver takes
        them: None without values, so that a % in the SQL is just a %."""
        sql, parameters = bind(self._paramstyle or "qmark", template, values)
        return sql, self._parameters(parameters) if values else None

    def _parameters(self, values: Any) -> Any:
        if isinstance(values, tuple) and self._paramstyle in ("named", "pyformat"):
            return {f"p{i}": value for i, value in enumerate(values)}
        return values

    def _run(self, sql: str, parameters: Any) -> Any:
        """Run ``sql``, whose placeholders are in the driver's paramstyle already; without
        parameters, the driver is given none, so that a % in the SQL is just a %."""
        parameters = self._parameters(parameters)
        try:
            self._autocommitting()
            cursor = self._dialect.cursor()
            if parameters is None:
                cursor.execute(sql)
            else:
                cursor.execute(sql, parameters)
        except Exception as exc:
            raise self._failed(exc, sql.split()[0]) from exc
        return cursor

    def _autocommitting(self) -> bool:
        """Where the dialect reads in autocommit mode, put a connection with no transaction
        open in it, unless _begin() asked for one that this statement opens: a read then
        costs no BEGIN and no ROLLBACK, and one statement is a transaction of its own.
        Whether the next statement runs in autocommit mode."""
        dialect = self._dialect
        if dialect is None or self._given_autocommit is None:
            return False
        if self._opening:
            self._opening = False
            return False
        if dialect.idle() is not True:
            return False  # inside a transaction, which the statement joins
        if dialect.autocommit() is False:
            dialect.set_autocommit(True)
        return dialect.autocommit() is True

    def _failed(self, exc: BaseException, running: str) -> StoreError:
        """The store's error for a statement of its own (``running`` its first word)."""
        if self._dialect is not None and self._dialect.busy(exc):
            return self._busy(exc)
        return StoreError(
            f"{self._description}: {_describe(exc)} (while running: {running} ...)",
            "Check the database and its permissions.",
        )

    def _busy(self, exc: BaseException) -> DatabaseBusyError:
        waited = f" for longer than {self._busy_timeout:g} s" if self._busy_timeout is not None else ""
        return DatabaseBusyError(
            f"{self._description} is busy: another process kept it locked{waited} "
            f"({_describe(exc)})",
            "Run again once that process is done with the database (a long transaction, a "
            "backup), or wait longer for it with a longer lock timeout.",
        )


def _execute_and_drain(cursor: Any, text: str) -> None:
    cursor.execute(text)
    if getattr(cursor, "description", None) is not None:
        cursor.fetchall()  # an unbuffered cursor refuses the next statement until then


def _rows(cursor: Any, batch: int = 500) -> Iterator[Any]:
    """A cursor's rows in batches: DB-API does not promise that cursors are iterable."""
    while True:
        rows = cursor.fetchmany(batch)
        if not rows:
            return
        yield from rows


def bind(paramstyle: str, template: str, values: Sequence[Any]) -> tuple[str, Any]:
    """Fill the ``{}`` markers of ``template`` with placeholders of ``paramstyle``."""
    count = len(values)
    if paramstyle == "qmark":
        return template.format(*["?"] * count), tuple(values)
    if paramstyle == "numeric":
        return template.format(*[f":{i}" for i in range(1, count + 1)]), tuple(values)
    if paramstyle == "named":
        names = [f"p{i}" for i in range(count)]
        return template.format(*[f":{n}" for n in names]), dict(zip(names, values))
    if paramstyle == "format":
        return template.format(*["%s"] * count), tuple(values)
    if paramstyle == "pyformat":
        names = [f"p{i}" for i in range(count)]
        return template.format(*[f"%({n})s" for n in names]), dict(zip(names, values))
    raise ConfigError(
        f"paramstyle {paramstyle!r} is not one of DB-API's: {', '.join(PARAMSTYLES)}",
        "Set PARAMSTYLE in conf.py to the driver's paramstyle.",
    )


def check_table_name(name: object, setting: str, conf: Path, *, sqlite: bool) -> str:
    """Refuse a name the store could not use, before any database is touched. With ``sqlite``
    (DATABASE), SQLite itself is asked, so that keywords and unknown schemas are found too."""
    # Plain ASCII identifiers, optionally schema-qualified: they go into SQL text unquoted.
    parts = name.split(".") if isinstance(name, str) else []
    if not 1 <= len(parts) <= 2 or not all(p.isascii() and p.isidentifier() for p in parts):
        raise ConfigError(
            f"{setting} in {conf} is {name!r}, which is not a plain table name",
            "Use letters, digits and underscores, optionally with a schema: app.migrations",
        )
    assert isinstance(name, str)
    if len(parts) == 2 and _is_temporary_schema(parts[0]):
        raise ConfigError(
            f"{setting} in {conf} is {name!r}, in a temporary schema: the database drops the "
            "table when the connection closes, so each run would start again from nothing, "
            "and runners would not see each other's lock",
            "Leave the schema out, or name a permanent one.",
        )
    if sqlite and name not in (DEFAULT_HISTORY_TABLE, DEFAULT_LOG_TABLE, DEFAULT_LOCK_TABLE):
        refused = _refused_by_sqlite(name)
        if refused:
            raise ConfigError(
                f"{setting} in {conf} is {name!r}, which SQLite cannot take as a table name "
                f"unquoted: {refused}",
                "Choose another name: an SQL keyword such as order or select needs quotes, "
                "which link-migration does not write.",
            )
    return name


def _is_temporary_schema(schema: str) -> bool:
    lowered = schema.lower()
    return lowered in ("temp", "temporary", "pg_temp") or lowered.startswith("pg_temp_")


def _refused_by_sqlite(name: str) -> str:
    """SQLite's reason not to take ``name`` as a bare table name ("" when it does), asked of
    an in-memory database, so that nothing is created for a name that turns out to be wrong."""
    import sqlite3

    connection = sqlite3.connect(":memory:")
    try:
        connection.execute(f"CREATE TABLE {name} (x)")
    except sqlite3.Error as exc:
        return str(exc)
    finally:
        connection.close()
    return ""


def _driver_paramstyle(connection: Any) -> str:
    """The paramstyle of the driver module that made ``connection`` (DB-API puts it there)."""
    module_name = type(connection).__module__
    while module_name:
        style = getattr(sys.modules.get(module_name), "paramstyle", None)
        if isinstance(style, str):
            return style
        module_name = module_name.rpartition(".")[0]
    raise ConfigError(
        f"cannot tell the paramstyle of {type(connection).__module__}.{type(connection).__name__}",
        f"Set PARAMSTYLE in conf.py to one of: {', '.join(PARAMSTYLES)}.",
    )


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
