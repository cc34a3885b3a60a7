"""PostgreSQL, through psycopg (3), psycopg2 or pg8000."""
from __future__ import annotations

from .generic import Dialect

TYPE_CHECKING = False  # typing itself costs milliseconds to import; type checkers know this name

if TYPE_CHECKING:
    from typing import Sequence

    from .generic import Query

_IDLE = 0  # libpq's PQTRANS_IDLE, as psycopg and psycopg2 report it


class PostgreSQLDialect(Dialect):
    name = "PostgreSQL"
    flavour = "postgresql"

    def describe(self, query: Query) -> str | None:
        ((database, address, port),) = query(
            "SELECT current_database(), host(inet_server_addr()), inet_server_port()", ()
        )
        where = f"{address}:{port}" if address else "a local socket"
        return f"PostgreSQL {database} on {where}"

    def schema(self, query: Query) -> str | None:
        ((schema,),) = query("SELECT current_schema()", ())
        return schema  # None when the search path names no existing schema: see the store

    def table_exists(
        self, query: Query, schema: str | None, name: str, table: str
    ) -> bool | None:
        # to_regclass() needs no privilege on the table and raises nothing: a table we may
        # not read is still found, and its error comes when we read it.
        ((found,),) = query("SELECT to_regclass({}) IS NOT NULL", (name,))
        return bool(found)

    def widen(self, table: str, columns: Sequence[str]) -> list[str]:
        return [f"ALTER TABLE {table} " + ", ".join(f"ALTER COLUMN {c} TYPE BIGINT" for c in columns)]

    def begin(self, query: Query) -> None:
        # The driver opens the transaction at the first statement; running one now means the
        # transaction is open before the migration starts, so that its status afterwards
        # tells whether the migration ended it.
        query("SELECT 1", ())

    def in_transaction(self) -> bool | None:
        connection = self.connection
        info = getattr(connection, "info", None)
        status = getattr(info, "transaction_status", None)  # psycopg, psycopg2
        if status is not None:
            return int(status) != _IDLE
        status = getattr(connection, "_in_transaction", None)  # pg8000
        return status if isinstance(status, bool) else None
