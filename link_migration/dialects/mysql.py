"""MySQL and MariaDB, through PyMySQL, mysqlclient (MySQLdb), mysql-connector or mariadb."""
from __future__ import annotations

from .generic import Dialect

TYPE_CHECKING = False  # typing itself costs milliseconds to import; type checkers know this name

if TYPE_CHECKING:
    from typing import Any, Sequence

    from ..schema import SchemaObject
    from .generic import Connect, Query


class MySQLDialect(Dialect):
    name = "MySQL"
    flavour = "mysql"
    # CREATE, ALTER, DROP and their like commit the open transaction and then themselves:
    # a migration with DDL cannot be rolled back here.
    transactional_ddl = False
    begin_statement = "START TRANSACTION"

    def literal(self, value: object) -> str:
        # A backslash escapes in MySQL's strings, unless the server runs with
        # NO_BACKSLASH_ESCAPES (then a printed backslash would come out doubled).
        text = super().literal(value)
        return text.replace("\\", "\\\\") if isinstance(value, str) else text

    def __init__(self, connection: object, driver: str = "") -> None:
        super().__init__(connection, driver)
        self._autocommit: bool | None = None

    def cancel(self, connect: Connect | None) -> bool:
        connection = self.connection
        thread = getattr(connection, "thread_id", None)  # PyMySQL, mysqlclient: a method
        thread = thread() if callable(thread) else getattr(connection, "connection_id", None)
        if not isinstance(thread, int) or connect is None:
            return False
        other = connect()
        try:
            cursor = other.cursor()
            cursor.execute(f"KILL QUERY {int(thread)}")
        finally:
            other.close()
        return True

    def cursor(self) -> Any:
        if self.driver == "mysql.connector":
            # mysql-connector refuses the next statement while rows are unread: a migration's
            # SELECT left unread would fail the store's record of it.
            return self.connection.cursor(buffered=True)
        return self.connection.cursor()

    def describe(self, query: Query) -> str | None:
        ((database, server, port),) = query("SELECT DATABASE(), VERSION(), @@port", ())
        if "mariadb" in str(server).lower():
            self.name = "MariaDB"
        connection = self.connection
        host = getattr(connection, "host", None) or getattr(connection, "server_host", None)
        port = getattr(connection, "port", None) or getattr(connection, "server_port", None) or port
        where = f"{host}:{port}" if host else "a local socket"
        return f"{self.name} {database} on {where}"

    def schema(self, query: Query) -> str | None:
        ((database,),) = query("SELECT DATABASE()", ())
        return database

    def table_exists(
        self, query: Query, schema: str | None, name: str, table: str
    ) -> bool | None:
        rows = query(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = {} AND table_name = {}",
            (schema, table),
        ) if schema is not None else query(
            "SELECT 1 FROM information_schema.tables "
            "WHERE table_schema = DATABASE() AND table_name = {}", (table,)
        )
        return bool(rows)

    def widen(self, table: str, columns: Sequence[str]) -> list[str]:
        return [f"ALTER TABLE {table} " + ", ".join(f"MODIFY {c} BIGINT NOT NULL" for c in columns)]

    def quote(self, identifier: str) -> str:
        return "`" + identifier.replace("`", "``") + "`"

    def autocommit(self) -> bool | None:
        getter = getattr(self.connection, "get_autocommit", None)  # PyMySQL, MySQLdb, mariadb
        if callable(getter):
            return bool(getter())
        if self._autocommit is None:  # mysql-connector asks the server each time: once is enough
            value = getattr(self.connection, "autocommit", None)
            self._autocommit = value if isinstance(value, bool) else None
        return self._autocommit

    def set_autocommit(self, on: bool) -> None:
        setter = getattr(self.connection, "autocommit", None)
        if callable(setter):  # PyMySQL, MySQLdb: a method
            setter(on)
        else:
            self.connection.autocommit = on
            self._autocommit = on

    reads_schema = True

    def identity(self, query: Query) -> tuple[object, ...] | None:
        ((database, host, port, folder),) = query(
            "SELECT DATABASE(), @@hostname, @@port, @@datadir", ())
        return ("mysql", database, host, port, folder)

    def read_schema(self, query: Query, own_tables: Sequence[str], schema: str | None,
                    cache: dict[Any, Any] | None) -> list[SchemaObject]:
        from ..schema import mysql

        return mysql.read(query, own_tables)
