"""PostgreSQL, through psycopg (3), psycopg2 or pg8000."""
from __future__ import annotations

from .generic import Dialect

TYPE_CHECKING = False  # typing itself costs milliseconds to import; type checkers know this name

if TYPE_CHECKING:
    from typing import Any, Iterable, Sequence

    from ..schema import SchemaObject
    from .generic import Connect, Query

_IDLE = 0  # libpq's PQTRANS_IDLE, as psycopg and psycopg2 report it
# The drivers that send a text of several statements as it is, and follow the server's word
# on the transaction (so that a BEGIN or COMMIT of ours inside one is known to them).
_SIMPLE_QUERY_DRIVERS = ("psycopg", "pg8000")
# The columns of each table named t.name (whose text is {}, a regclass), in order:
# to_regclass() needs no privilege on the table and raises nothing for one missing.
_COLUMNS_OF = ("JOIN pg_attribute a ON a.attrelid = to_regclass({}) AND a.attnum > 0 "
               "AND NOT a.attisdropped ORDER BY t.name, a.attnum")


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

    def describe_with_columns(
        self, query: Query, tables: Sequence[str]
    ) -> tuple[str | None, str | None, dict[str, tuple[str, ...]] | None]:
        # One round trip for what every command asks first (issue 17): unqualified names are
        # looked up in current_schema(), as the store then qualifies them.
        values = ", ".join("(CAST({} AS text), CAST({} AS boolean))" for _ in tables)
        rows = query(
            "SELECT current_database(), host(inet_server_addr()), inet_server_port(), "
            f"current_schema(), t.name, a.attname FROM (VALUES {values}) AS t(name, bare) "
            "LEFT " + _COLUMNS_OF.format("CASE WHEN t.bare THEN quote_ident(current_schema()) "
                                         "|| '.' || t.name ELSE t.name END"),
            tuple(value for table in tables for value in (table, "." not in table)))
        database, address, port, schema = rows[0][:4]
        where = f"{address}:{port}" if address else "a local socket"
        # The schema is None when the search path names no schema this role can use.
        return (f"PostgreSQL {database} on {where}", schema,
                _by_table((table, column) for *_, table, column in rows if column is not None))

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
        # Opened before the migration starts, and named, so that transaction_ended() can
        # tell a later transaction (a migration that committed and went on) from this one.
        # Where the driver lets us, BEGIN and the question go in one round trip (issue 17);
        # elsewhere the driver's own BEGIN goes before the question.
        xid = self._begin_and_ask()
        if xid is None:
            ((xid,),) = query("SELECT txid_current()", ())
        return xid

    def _begin_and_ask(self) -> int | None:
        """BEGIN and txid_current() in one simple query, on a connection with no transaction
        open; None, with nothing sent, where the driver would not know what we did."""
        if self.idle() is not True or not self._sends_texts():
            return None
        connection = self.connection
        if self.driver == "psycopg":
            start = self._psycopg_begin()
            if start is None:
                return None
            # psycopg reads the transaction's state from libpq, so it sees the one opened
            # here and sends no BEGIN of its own; pgconn is its documented low-level door.
            # PQexec blocks signals' handlers until the server answers: a BEGIN and a
            # txid_current() wait for no lock, and a cancel from another thread ends it.
            from psycopg import errors, pq

            encoding = connection.info.encoding
            result = connection.pgconn.exec_(f"{start}; SELECT txid_current()".encode(encoding))
            if result.status != pq.ExecStatus.TUPLES_OK:
                raise errors.error_from_result(result, encoding=encoding)
            return int(result.get_value(0, 0))
        # pg8000 also follows the server's word on the transaction (ReadyForQuery).
        ((xid,),) = connection.execute_simple("BEGIN; SELECT txid_current()").rows
        return int(xid)

    def _psycopg_begin(self) -> str | None:
        """The BEGIN psycopg itself would send, with the connection's isolation level,
        read-only and deferrable settings; None for a setting we cannot read."""
        connection = self.connection
        parts = ["BEGIN"]
        level = getattr(connection, "isolation_level", None)
        if level is not None:
            name = getattr(level, "name", None)
            if not isinstance(name, str):
                return None
            parts.append("ISOLATION LEVEL " + name.replace("_", " "))
        read_only = getattr(connection, "read_only", None)
        if read_only is not None:
            parts.append("READ ONLY" if read_only else "READ WRITE")
        deferrable = getattr(connection, "deferrable", None)
        if deferrable is not None:
            parts.append("DEFERRABLE" if deferrable else "NOT DEFERRABLE")
        return " ".join(parts)

    # What the check below fails with: sent before the record and COMMIT in one message, a
    # failing statement stops both.
    _ENDED = "link-migration: the transaction of the step ended"

    def transaction_check(self, token: object) -> str:
        return (f"SELECT CAST(CASE WHEN txid_current() = {int(token)} THEN '1' "
                f"ELSE '{self._ENDED}' END AS INTEGER)")

    def failed_check(self, exc: BaseException) -> bool:
        return self._ENDED in str(exc)

    @property
    def reads_in_autocommit(self) -> bool:
        # Both follow the server's word on the transaction, and switch modes without a
        # round trip; psycopg2 is left as it was, untested here.
        return self.driver in _SIMPLE_QUERY_DRIVERS

    def insert_unless_present(self, insert: str) -> str | None:
        return insert + " ON CONFLICT DO NOTHING"

    def can_run_then_commit(self) -> bool:
        # psycopg 3 and pg8000 follow the server's word on the transaction, so a COMMIT
        # inside the text leaves them knowing it is over; psycopg2 keeps its own flag, and
        # would run the next migration outside a transaction.
        return self._sends_texts() and self.idle() is False

    def _sends_texts(self) -> bool:
        """Whether the driver sends a text of several statements as it is (psycopg 3
        without parameters; pg8000's simple queries, 1.29 and later)."""
        if self.driver == "psycopg":
            return hasattr(self.connection, "pgconn")
        return self.driver == "pg8000" and callable(
            getattr(self.connection, "execute_simple", None))

    def run_then_commit(self, statements: Sequence[str]) -> None:
        text = "; ".join([*statements, "COMMIT"])
        cursor = self.connection.cursor()
        if self.driver == "psycopg":
            cursor.execute(text, prepare=False, binary=False)  # one text, never prepared
        else:
            cursor.execute(text)

    def inline(self, value: object) -> str:
        # E'' reads backslashes the same whatever standard_conforming_strings says.
        if isinstance(value, str):
            return "E'" + value.replace("\\", "\\\\").replace("'", "''") + "'"
        return self.literal(value)

    def open_transaction(self, query: Query) -> None:
        """Nothing to send: the driver opens the transaction at the first statement."""

    def transaction_ended(self, query: Query, token: object) -> bool | None:
        if self.idle() is True:
            return True
        ((xid,),) = query("SELECT txid_current()", ())
        return xid != token

    def idle(self) -> bool | None:
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
        values = ", ".join("({})" for _ in tables)
        return _by_table(query(
            f"SELECT t.name, a.attname FROM (VALUES {values}) AS t(name) "
            + _COLUMNS_OF.format("CAST(t.name AS text)"), tuple(tables)))

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


def _by_table(pairs: Iterable[tuple[str, str]]) -> dict[str, tuple[str, ...]]:
    """(table, column) pairs, in the catalog's order, as each table's columns in lower case."""
    found: dict[str, list[str]] = {}
    for table, column in pairs:
        found.setdefault(table, []).append(column.lower())
    return {table: tuple(columns) for table, columns in found.items()}
