"""SQLite through the standard library's sqlite3."""
from __future__ import annotations

import sqlite3
import sys

from .generic import Dialect

TYPE_CHECKING = False  # typing itself costs milliseconds to import; type checkers know this name

if TYPE_CHECKING:
    from typing import Any, Sequence

    from ..schema import SchemaObject
    from .generic import Query


class SQLiteDialect(Dialect):
    name = "SQLite"
    flavour = "sqlite"
    version_type = "INTEGER"  # already 64 bits in SQLite
    commit_reply_can_be_lost = False  # the database is a local file: a failed COMMIT did not commit
    integer_is_64_bit = True
    usable_after_cancel = True  # interrupt() makes the statement fail; the connection is fine

    def cancel(self, connect: object) -> bool:
        self.connection.interrupt()  # made to be called from another thread
        return True

    def prepare(self) -> None:
        """Take transactions into our own hands: Python's sqlite3 opens none before DDL and
        its executescript() commits first, so the store issues BEGIN itself."""
        connection = self.connection
        if sys.version_info >= (3, 12):
            connection.autocommit = sqlite3.LEGACY_TRANSACTION_CONTROL
        connection.isolation_level = None

    def describe(self, query: Query) -> str | None:
        for _, name, path in query("PRAGMA database_list", ()):
            if name == "main":
                return f"SQLite database {path}" if path else "SQLite in-memory database"
        return None

    def table_missing(self, exc: BaseException) -> bool:
        return "no such table" in str(exc)

    def busy(self, exc: BaseException) -> bool:
        text = str(exc).lower()
        return "database is locked" in text or "database is busy" in text

    def begin(self, query: Query) -> object:
        # IMMEDIATE takes the write lock now rather than at the first write.
        query("BEGIN IMMEDIATE", ())
        return None

    def transaction_ended(self, query: Query, token: object) -> bool | None:
        # prepare() turned implicit transactions off: once ended, none opens by itself.
        return not self.connection.in_transaction

    def rolls_back_by_itself(self, exc: BaseException) -> bool:
        # SQLite rolls back on its own after some errors (a full disk, an I/O error).
        return isinstance(exc, sqlite3.Error)

    def autocommit(self) -> bool | None:
        return None  # prepare() took transactions out of sqlite3's hands for good

    def lean_reads(self, query: Query) -> int | None:
        """Our own reads scan the schema and the history once each: SQLite's page cache (2 MiB
        by default) would only add to their memory. Returns the size to give back before
        migrations run."""
        ((size,),) = query("PRAGMA cache_size", ())
        query("PRAGMA cache_size = -64", ())
        return int(size)

    def full_cache(self, query: Query, size: int) -> None:
        query(f"PRAGMA cache_size = {int(size)}", ())

    reads_schema = True

    def identity(self, query: Query) -> tuple[object, ...] | None:
        import os

        for _, name, path in query("PRAGMA database_list", ()):
            if name == "main" and path:
                return ("sqlite", os.path.realpath(path))
        return None

    def read_schema(self, query: Query, own_tables: Sequence[str], schema: str | None,
                    cache: dict[Any, Any] | None) -> list[SchemaObject]:
        from ..schema import sqlite

        return sqlite.read(query, [t.rsplit(".", 1)[-1] for t in own_tables], cache)
