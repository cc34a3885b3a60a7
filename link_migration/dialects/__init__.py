"""What differs between databases, one module per database behind one small interface.

The SQL store asks its dialect, never a driver's module name: this package is the one place
that knows which driver belongs to which database.
"""
from __future__ import annotations

TYPE_CHECKING = False  # typing itself costs milliseconds to import; type checkers know this name

if TYPE_CHECKING:
    from typing import Any

    from .generic import Dialect

# The module (or package) a connection's class comes from, and the database it speaks to.
_DRIVERS = (
    ("sqlite3", "sqlite"),
    ("psycopg", "postgresql"),
    ("psycopg2", "postgresql"),
    ("pg8000", "postgresql"),
    ("pymysql", "mysql"),
    ("MySQLdb", "mysql"),
    ("mysql.connector", "mysql"),
    ("mariadb", "mysql"),
)


def _driver_of(connection: Any) -> tuple[str, str]:
    """The driver that made ``connection`` and its database; ("", "generic") when unknown.
    The class's ancestors count too: a connection factory may subclass the driver's class."""
    for cls in type(connection).__mro__:
        module = cls.__module__ or ""
        for driver, kind in _DRIVERS:
            if module == driver or module.startswith(driver + "."):
                return driver, kind
    return "", "generic"


def dialect_for(connection: Any) -> Dialect:
    """The dialect that speaks to ``connection``: by the driver that made it, else generic
    DB-API, which assumes only what PEP 249 promises."""
    package, kind = _driver_of(connection)
    if kind == "sqlite":
        from .sqlite import SQLiteDialect

        return SQLiteDialect(connection)
    if kind == "postgresql":
        from .postgresql import PostgreSQLDialect

        return PostgreSQLDialect(connection, package)
    if kind == "mysql":
        from .mysql import MySQLDialect

        return MySQLDialect(connection, package)
    from .generic import Dialect

    return Dialect(connection, package)
