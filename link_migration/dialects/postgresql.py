"""PostgreSQL, through psycopg (3), psycopg2 or pg8000."""
from __future__ import annotations

from .generic import Dialect

TYPE_CHECKING = False  # typing itself costs milliseconds to import; type checkers know this name

if TYPE_CHECKING:
    from typing import Any, Sequence

    from ..schema import SchemaObject
    from .generic import Connect, Query

_IDLE = 0  # libpq's PQTRANS_IDLE, as psycopg and psycopg2 report it


class PostgreSQLDialect(Dialect):
    name = "PostgreSQL"
    flavour = "postgresql"
    writes_two_tables_at_once = True
    schema_required = True
    _backend_pid: int | None = None

    def prepare(self) -> None:
        # pg8000 has no cancel of its own: pg_cancel_backend() from a second connection needs
        # the server process's id, which the server sent when the connection opened.
        data = getattr(self.connection, "_backend_key_data", None)  # pg8000
        if isinstance(data, (bytes, bytearray)) and len(data) >= 4:
            self._backend_pid = int.from_bytes(bytes(data[:4]), "big", signed=True)

    def cancel(self, connect: Connect | None) -> bool:
        if self.driver in ("psycopg", "psycopg2"):
            # psycopg 3.2 and later: cancel_safe(), over an encrypted connection where the
            # main one is; before them and in psycopg2, cancel(). Both are thread-safe.
            method = getattr(self.connection, "cancel_safe", None) or self.connection.cancel
            method()
            return True
        pid = self._backend_pid
        if pid is None or connect is None:
            return False
        other = connect()
        try:
            cursor = other.cursor()
            cursor.execute(f"SELECT pg_cancel_backend({int(pid)})")
            cursor.fetchall()
            other.commit()
        finally:
            other.close()
        return True

    def describe(self, query: Query) -> str | None:
        return self.describe_and_schema(query)[0]

    def describe_and_schema(self, query: Query) -> tuple[str | None, str | None]:
        ((database, address, port, schema),) = query(
            "SELECT current_database(), host(inet_server_addr()), inet_server_port(), "
            "current_schema()", ()
        )
        where = f"{address}:{port}" if address else "a local socket"
        # The schema is None when the search path names no schema this role can use.
        return f"PostgreSQL {database} on {where}", schema

    def schema(self, query: Query) -> str | None:
        ((schema,),) = query("SELECT current_schema()", ())
        return schema  # None when the search path names no schema this role can use

    def table_exists(
        self, query: Query, schema: str | None, name: str, table: str
    ) -> bool | None:
        # to_regclass() needs no privilege on the table and raises nothing: a table we may
        # not read is still found, and its error comes when we read it.
        ((found,),) = query("SELECT to_regclass({}) IS NOT NULL", (name,))
        return bool(found)

    def widen(self, table: str, columns: Sequence[str]) -> list[str]:
        return [f"ALTER TABLE {table} " + ", ".join(f"ALTER COLUMN {c} TYPE BIGINT" for c in columns)]

    def begin(self, query: Query) -> object:
        # The driver opens the transaction at the first statement; this one opens it before
        # the migration starts, and names it, so that transaction_ended() can tell a later
        # transaction (a migration that committed and went on) from this one.
        ((xid,),) = query("SELECT txid_current()", ())
        return xid

    def open_transaction(self, query: Query) -> None:
        """Nothing to send: the driver opens the transaction at the first statement."""

    def transaction_ended(self, query: Query, token: object) -> bool | None:
        if self._idle() is True:
            return True
        ((xid,),) = query("SELECT txid_current()", ())
        return xid != token

    # The record's own check that the step's transaction is still the one begin() opened:
    # a migration that committed and went on in a new one gets a new transaction id.
    same_transaction = "txid_current() = CAST({} AS BIGINT)"

    def transaction_ended_by_driver(self) -> bool | None:
        """What the driver knows without asking the server: True when no transaction is
        open; False or None leave the question to the record's statement."""
        return self._idle()

    def _idle(self) -> bool | None:
        """The driver's own word that no transaction is open, where it gives one."""
        connection = self.connection
        info = getattr(connection, "info", None)
        status = getattr(info, "transaction_status", None)  # psycopg, psycopg2
        if status is not None:
            return int(status) == _IDLE
        status = getattr(connection, "_in_transaction", None)  # pg8000
        return (not status) if isinstance(status, bool) else None

    reads_schema = True
    lists_columns = True

    def columns_of(self, query: Query, tables: Sequence[str]) -> dict[str, tuple[str, ...]]:
        # to_regclass() needs no privilege on the table and raises nothing for one missing.
        values = ", ".join("({})" for _ in tables)
        found: dict[str, list[str]] = {}
        for table, column in query(
                f"SELECT t.name, a.attname FROM (VALUES {values}) AS t(name) "
                "JOIN pg_attribute a ON a.attrelid = to_regclass(CAST(t.name AS text)) "
                "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY t.name, a.attnum",
                tuple(tables)):
            found.setdefault(table, []).append(column.lower())
        return {table: tuple(columns) for table, columns in found.items()}

    def identity(self, query: Query) -> tuple[object, ...] | None:
        # The server's start time and port, readable by any role, tell one running server
        # from another whether it was reached by name, address or socket.
        ((database, started, port),) = query(
            "SELECT current_database(), pg_postmaster_start_time()::text, "
            "current_setting('port')", ())
        return ("postgresql", database, started, port)

    def read_schema(self, query: Query, own_tables: Sequence[str], schema: str | None,
                    cache: dict[Any, Any] | None) -> list[SchemaObject]:
        from ..schema import postgresql

        return postgresql.read(query, own_tables, schema)
