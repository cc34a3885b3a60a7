"""SQL stores: history and log tables in the user's own database, over any DB-API 2.0 driver.

Each migration and the rows that record it commit in one transaction. The store, not the
driver, decides where transactions begin: Python's sqlite3 opens none before DDL by default
(and its executescript commits first), so on sqlite3 connections the store switches the module's
implicit transactions off and issues BEGIN itself. Other drivers follow DB-API: a transaction is
open from the first statement until commit() or rollback().
"""
from __future__ import annotations

import contextlib
import sqlite3
import sys
import time
TYPE_CHECKING = False  # typing itself costs milliseconds to import; type checkers know this name

from ..errors import ConfigError, StoreError
from .base import utc_timestamp, who_am_i

if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any, Callable, Iterator, Sequence

    from ..discovery import Migration
    from ..plan import Step
    from ..state import LockHolder, LogEntry, StoreState

DEFAULT_HISTORY_TABLE = "link_migration_history"
DEFAULT_LOG_TABLE = "link_migration_log"
DEFAULT_LOCK_TABLE = "link_migration_lock"

HISTORY_COLUMNS = (
    "version", "file_name", "checksum", "applied_at", "duration", "applied_by", "faked",
)
LOG_COLUMNS = (
    "seq", "version", "operation", "file_name", "logged_at", "duration", "logged_by",
)

_CREATE_HISTORY = """CREATE TABLE {table} (
    version INTEGER NOT NULL PRIMARY KEY,
    file_name VARCHAR(255) NOT NULL,
    checksum VARCHAR(64),
    applied_at VARCHAR(40) NOT NULL,
    duration REAL,
    applied_by VARCHAR(255) NOT NULL,
    faked INTEGER NOT NULL
)"""
_CREATE_LOG = """CREATE TABLE {table} (
    seq INTEGER NOT NULL PRIMARY KEY,
    version INTEGER NOT NULL,
    operation VARCHAR(16) NOT NULL,
    file_name VARCHAR(255) NOT NULL,
    logged_at VARCHAR(40) NOT NULL,
    duration REAL,
    logged_by VARCHAR(255) NOT NULL
)"""

LOCK_COLUMNS = ("id", "owner", "host", "pid", "since")
_CREATE_LOCK = """CREATE TABLE {table} (
    id INTEGER NOT NULL PRIMARY KEY,
    owner VARCHAR(255) NOT NULL,
    host VARCHAR(255) NOT NULL,
    pid INTEGER NOT NULL,
    since VARCHAR(40) NOT NULL
)"""

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
        paramstyle: str | None = None,
        database_file: Path | None = None,
        owns_connection: bool = True,
        clock: Callable[[], str] = utc_timestamp,
    ) -> None:
        self._connect = connect
        self._description = description
        self.history_table = history_table
        self.log_table = log_table
        self.lock_table = lock_table
        self._paramstyle = paramstyle
        self._database_file = database_file
        self._owns_connection = owns_connection
        self._clock = clock
        self._connection: Any = None
        self._sqlite = False
        self._tables_ready = False
        self._next_seq: int | None = None
        self._identity = ""
        self._record_sql: tuple[str, str, str] | None = None
        self._cache_size: int | None = None

    def describe(self) -> str:
        return self._description

    # -- reading -----------------------------------------------------------------------

    def read_current(self) -> int:
        if self._database_file is not None and not self._database_file.exists():
            return 0
        connection = self._open()
        if not self._table_exists(self.history_table, HISTORY_COLUMNS):
            return 0
        (current,) = self._execute(f"SELECT MAX(version) FROM {self.history_table}", ()).fetchone()
        self._end_read(connection)
        return int(current or 0)

    def read_state(self, files: Sequence[Migration] = ()) -> StoreState:
        from ..state import AppliedMigration, StoreState

        if self._database_file is not None and not self._database_file.exists():
            return StoreState(0, {})
        connection = self._open()
        if not self._table_exists(self.history_table, HISTORY_COLUMNS):
            return StoreState(0, {})
        cursor = self._execute(
            f"SELECT {', '.join(HISTORY_COLUMNS)} FROM {self.history_table} ORDER BY version", ()
        )
        # Row by row, not fetchall(): ten thousand rows need not exist twice over. A row takes
        # its file's name and checksum objects where the text is the same (both come in
        # version order), and the few distinct applied_by values are interned: about 200
        # bytes a migration that would otherwise be held twice (see bench/).
        remaining = iter(files)
        file = next(remaining, None)
        applied = {}
        for row in map(_int_version, _rows(cursor)):
            version, name, checksum = row[0], row[1], row[2]
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
        self._end_read(connection)
        return StoreState(max(applied, default=0), applied)

    def read_log(self, limit: int | None) -> list[LogEntry] | None:
        from ..state import LogEntry

        if self._database_file is not None and not self._database_file.exists():
            return []
        connection = self._open()
        if not self._table_exists(self.log_table, LOG_COLUMNS):
            return []
        cursor = self._execute(
            f"SELECT {', '.join(LOG_COLUMNS)} FROM {self.log_table} ORDER BY seq DESC", ()
        )
        rows = cursor.fetchall() if limit is None else cursor.fetchmany(min(limit, 2**31 - 1))
        self._end_read(connection)
        return [LogEntry(int(r[0]), int(r[1]), r[2], r[3], r[4], r[5], r[6]) for r in rows]

    # -- writing -----------------------------------------------------------------------

    @contextlib.contextmanager
    def applying(self, step: Step, *, transactional: bool, fake: bool) -> Iterator[Any]:
        connection = self._open()
        self._ensure_tables()
        self._full_cache()
        started = time.perf_counter()
        if transactional:
            self._begin()
        try:
            with contextlib.nullcontext() if transactional else self._outside_a_transaction():
                yield connection
        except BaseException:
            if transactional:
                self._rollback_quietly()
            raise
        try:
            if not transactional:
                # What the migration did is committed on its own; the record follows.
                connection.commit()
                self._begin()
            self._record(step, time.perf_counter() - started, fake)
            connection.commit()
            self._next_seq = (self._next_seq or 0) + 1
        except BaseException as exc:
            self._rollback_quietly()
            if not isinstance(exc, Exception):
                raise  # a signal that abandoned the record: rolled back, on to the runner
            undone = (
                "its changes were rolled back too"
                if transactional
                else "its changes are in place (transactional = False)"
            )
            raise StoreError(
                f"{self._description}: {_describe(exc)}; {undone}",
                "Fix the database problem and run again."
                if transactional
                else f"Record version {step.migration.version} by hand, or undo its changes.",
            ) from exc

    # -- the lock row (SPEC 7) -------------------------------------------------------------

    def try_lock(self, holder: LockHolder) -> LockHolder | None:
        """Take the lock row for ``holder`` in its own committed transaction.

        Returns None when taken, else whoever holds it. An insert that fails while no one
        holds the row is a real error (a read-only database, say), once a few tries have
        ruled out a runner that released the row in between.
        """
        self._open()
        # Tables of someone else's under our names: say so before creating anything.
        self._table_exists(self.history_table, HISTORY_COLUMNS)
        self._table_exists(self.log_table, LOG_COLUMNS)
        self._ensure_table(self.lock_table, LOCK_COLUMNS, _CREATE_LOCK)
        attempts_left = 3
        while True:
            current = self.lock_holder()
            if current is not None:
                return current
            try:
                self._begin()
                self._execute(
                    f"INSERT INTO {self.lock_table} ({', '.join(LOCK_COLUMNS)}) "
                    "VALUES ({}, {}, {}, {}, {})",
                    (1, holder.owner, holder.host, holder.pid, holder.since),
                )
                self._connection.commit()
                return None
            except StoreError:
                self._rollback_quietly()
                attempts_left -= 1
                if not attempts_left:
                    raise

    def lock_holder(self) -> LockHolder | None:
        from ..state import LockHolder

        if self._database_file is not None and not self._database_file.exists():
            return None  # `unlock` on a fresh project must not create the database
        self._open()
        if not self._table_exists(self.lock_table, LOCK_COLUMNS):
            return None
        rows = self._query(
            f"SELECT owner, host, pid, since FROM {self.lock_table} WHERE id = {{}}", (1,)
        )
        self._end_read(self._connection)
        return LockHolder(rows[0][0], rows[0][1], int(rows[0][2]), rows[0][3]) if rows else None

    def unlock(self, holder: LockHolder) -> None:
        """Delete the lock row if ``holder`` still has it."""
        if self._connection is None and self._database_file is not None:
            if not self._database_file.exists():
                return
        self._open()
        self._begin()
        try:
            self._execute(
                f"DELETE FROM {self.lock_table} WHERE id = {{}} AND owner = {{}} AND since = {{}}",
                (1, holder.owner, holder.since),
            )
            self._connection.commit()
        except BaseException:
            self._rollback_quietly()
            raise

    def close(self) -> None:
        if self._connection is not None and self._owns_connection:
            self._connection.close()
        self._connection = None

    def _record(self, step: Step, duration: float, fake: bool) -> None:
        migration = step.migration
        now = self._clock()
        by = self._identity = self._identity or who_am_i()
        forget, remember, log = self._record_sql or self._prepare_record_sql()
        if step.direction == "down":
            self._run(forget, (migration.version,))
        else:
            self._run(remember, (migration.version, migration.name, migration.checksum or None,
                                     now, duration, by, 1 if fake else 0))
        if self._next_seq is None:  # read once: we hold the lock for the whole run
            (last,) = self._execute(f"SELECT MAX(seq) FROM {self.log_table}", ()).fetchone()
            self._next_seq = (last or 0) + 1
        self._run(log, (self._next_seq, migration.version,
                            ("fake " if fake else "") + step.direction, migration.name, now,
                            None if fake else duration, by))

    def _prepare_record_sql(self) -> tuple[str, str, str]:
        """The statements every step runs, in the driver's paramstyle: built once per store,
        and a store lives for one command (or one call of the Python API)."""
        style = self._paramstyle or "qmark"

        def insert(table: str, columns: Sequence[str]) -> str:
            markers = ", ".join(["{}"] * len(columns))
            return bind(style, f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({markers})",
                        columns)[0]

        self._record_sql = (
            bind(style, f"DELETE FROM {self.history_table} WHERE version = {{}}", (0,))[0],
            insert(self.history_table, HISTORY_COLUMNS),
            insert(self.log_table, LOG_COLUMNS),
        )
        return self._record_sql

    # -- plumbing ----------------------------------------------------------------------

    def _open(self) -> Any:
        if self._connection is not None:
            return self._connection
        connection = self._connect()
        if isinstance(connection, sqlite3.Connection):
            self._sqlite = True
            # Take transactions into our own hands (see the module docstring).
            try:
                if sys.version_info >= (3, 12):
                    connection.autocommit = sqlite3.LEGACY_TRANSACTION_CONTROL
                connection.isolation_level = None
            except sqlite3.Error as exc:
                raise StoreError(
                    f"{self._description}: {_describe(exc)}",
                    "get_connection() must return an open connection.",
                ) from None
        self._connection = connection
        if self._paramstyle is None:
            self._paramstyle = "qmark" if self._sqlite else _driver_paramstyle(connection)
        if self._sqlite and self._owns_connection:
            self._small_cache(connection)
        return connection

    def _small_cache(self, connection: Any) -> None:
        """Our own reads scan the schema and the history once each: SQLite's page cache (2 MiB
        by default) would only add to their memory. Migrations get it back (_full_cache)."""
        try:
            (self._cache_size,) = connection.execute("PRAGMA cache_size").fetchone()
            connection.execute("PRAGMA cache_size = -64")
        except sqlite3.Error as exc:  # the first statement to read the file: say why it cannot
            raise self._unreadable(exc) from None

    def _unreadable(self, exc: Exception) -> StoreError:
        if any(word in str(exc).lower() for word in ("locked", "busy")):
            hint = "Another process holds the database; run again when it is done with it."
        else:
            hint = "Check that DATABASE names a SQLite database file."
        return StoreError(f"cannot read {self._description}: {_describe(exc)}", hint)

    def _full_cache(self) -> None:
        if self._cache_size is not None:
            self._run(f"PRAGMA cache_size = {int(self._cache_size)}", ())
            self._cache_size = None

    @contextlib.contextmanager
    def _outside_a_transaction(self) -> Iterator[None]:
        """For ``transactional = False``: sqlite3 already runs each statement on its own
        (we turned its implicit transactions off); a DB-API driver that opens a transaction
        at the first statement is switched to its ``autocommit`` mode, where it has one."""
        connection = self._connection
        if self._sqlite or not hasattr(connection, "autocommit"):
            yield
            return
        connection.commit()
        before = connection.autocommit
        connection.autocommit = True
        try:
            yield
        finally:
            connection.autocommit = before

    def _begin(self) -> None:
        if self._sqlite:
            # IMMEDIATE takes the write lock now rather than at the first write.
            self._run("BEGIN IMMEDIATE", ())

    def _end_read(self, connection: Any) -> None:
        """Close the transaction a read opened (DB-API drivers open one on every statement)."""
        connection.rollback()

    def _rollback_quietly(self) -> None:
        # The original exception is what the user needs to see; a failing rollback (the
        # connection is gone) must not replace it.
        with contextlib.suppress(Exception):
            self._connection.rollback()

    def _ensure_tables(self) -> None:
        if self._tables_ready:
            return
        self._ensure_table(self.history_table, HISTORY_COLUMNS, _CREATE_HISTORY)
        self._ensure_table(self.log_table, LOG_COLUMNS, _CREATE_LOG)
        self._tables_ready = True

    def _ensure_table(self, table: str, columns: Sequence[str], create: str) -> None:
        """Create ``table`` unless it exists; another runner creating it at the same moment
        is fine."""
        if self._table_exists(table, columns):
            return
        try:
            self._begin()
            self._execute(create.format(table=table), ())
            self._connection.commit()
        except StoreError:
            self._rollback_quietly()
            if not self._table_exists(table, columns):
                raise

    def _table_exists(self, table: str, expected: Sequence[str]) -> bool:
        """Whether ``table`` exists; StoreError when it exists with other columns."""
        cursor = self._connection.cursor()
        try:
            cursor.execute(f"SELECT * FROM {table} WHERE 1 = 0")
        except Exception as exc:
            self._rollback_quietly()
            if self._sqlite and "no such table" not in str(exc):
                raise self._unreadable(exc) from None
            return False
        columns = tuple(d[0].lower() for d in cursor.description or ())
        if set(columns) != set(expected):
            raise StoreError(
                f"table {table} in {self._description} has columns ({', '.join(columns)}), "
                f"not the ones link-migration keeps ({', '.join(expected)})",
                "It belongs to something else: set HISTORY_TABLE / LOG_TABLE in conf.py to "
                "other names.",
            )
        return True

    def _query(self, template: str, values: Sequence[Any]) -> list[Any]:
        return list(self._execute(template, values).fetchall())

    def _execute(self, template: str, values: Sequence[Any]) -> Any:
        """Run ``template`` with ``{}`` marking each parameter, in the driver's paramstyle."""
        sql, parameters = bind(self._paramstyle or "qmark", template, values)
        return self._run(sql, parameters)

    def _run(self, sql: str, parameters: Any) -> Any:
        """Run ``sql``, whose placeholders are in the driver's paramstyle already."""
        if isinstance(parameters, tuple) and self._paramstyle in ("named", "pyformat"):
            parameters = {f"p{i}": value for i, value in enumerate(parameters)}
        cursor = self._connection.cursor()
        try:
            cursor.execute(sql, parameters)
        except Exception as exc:
            raise StoreError(
                f"{self._description}: {_describe(exc)} (while running: {sql.split()[0]} ...)",
                "Check the database and its permissions.",
            ) from exc
        return cursor


def _rows(cursor: Any, batch: int = 500) -> Iterator[Any]:
    """A cursor's rows in batches: DB-API does not promise that cursors are iterable."""
    while True:
        rows = cursor.fetchmany(batch)
        if not rows:
            return
        yield from rows


def _int_version(row: Any) -> Any:
    """A history row with its version as an int (some drivers give Decimal or str)."""
    if type(row[0]) is int:
        return row
    return (int(row[0]), *(row[i] for i in range(1, len(HISTORY_COLUMNS))))


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
