"""DATABASE_URL: a database named by URL, opened with the first installed driver for its scheme.

The forms are the ones goose, dbmate and SQLAlchemy users already write:
``sqlite:///relative/to/conf.db``, ``sqlite:////absolute/path.db``,
``postgresql://user:password@host:port/name?sslmode=require`` (or ``postgres://``), and
``mysql://`` / ``mariadb://``. A ``+driver`` after the scheme (``postgresql+pg8000://``) picks
the driver. The password is percent-decoded for the driver and never shown: messages name the
URL as :func:`redacted` writes it.
"""
from __future__ import annotations

import importlib
import re
from urllib.parse import parse_qsl, unquote, urlsplit

from ..errors import ConfigError, StoreError

TYPE_CHECKING = False  # typing itself costs milliseconds to import; type checkers know this name

if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any, Callable

# The drivers tried for each database, in order, and what pip installs each of them.
DRIVERS = {
    "postgresql": (("psycopg", "psycopg[binary]"), ("psycopg2", "psycopg2-binary"),
                   ("pg8000.dbapi", "pg8000")),
    "mysql": (("MySQLdb", "mysqlclient"), ("pymysql", "PyMySQL"),
              ("mysql.connector", "mysql-connector-python"), ("mariadb", "mariadb")),
}
_SCHEMES = {"postgresql": "postgresql", "postgres": "postgresql", "mysql": "mysql",
            "mariadb": "mysql", "sqlite": "sqlite"}
_DRIVER_NAMES = {"psycopg": "psycopg", "psycopg2": "psycopg2", "pg8000": "pg8000.dbapi",
                 "mysqldb": "MySQLdb", "mysqlclient": "MySQLdb", "pymysql": "pymysql",
                 "mysqlconnector": "mysql.connector", "mariadb": "mariadb",
                 "mariadbconnector": "mariadb"}


# "//user:password@": the user part may be empty; the password runs to the last @ of the
# network location (a password may hold an unencoded @).
_PASSWORD = re.compile(r"(//[^/?#@:]*:)[^/?#]*@")


class DatabaseUrl:
    """A parsed DATABASE_URL: what kind of database, and how to reach it."""

    def __init__(self, url: str, setting: str = "DATABASE_URL") -> None:
        self.text = url
        self.setting = setting
        self.password: str | None = None
        try:
            parts = urlsplit(url)
            self.port = parts.port
        except ValueError as exc:
            raise self._bad(f"cannot be read: {exc}") from None
        scheme, _, driver = parts.scheme.lower().partition("+")
        if scheme not in _SCHEMES:
            raise self._bad(f"has the scheme {parts.scheme or '(none)'}:",
                            "Use sqlite:///, postgresql:// or mysql:// (or mariadb://).")
        self.kind = _SCHEMES[scheme]
        self.driver = ""
        if driver:
            self.driver = _DRIVER_NAMES.get(driver.replace("-", "").replace("_", ""), "")
            known = [module for module, _ in DRIVERS.get(self.kind, ())]
            if self.driver not in known:
                raise self._bad(f"names the driver {driver!r}, which link-migration does not "
                                f"know for {self.kind}",
                                f"Use one of: {', '.join(known) or 'none (sqlite3 is built in)'}.")
        self.host = parts.hostname or ""
        self.user = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password is not None else None
        self.path = unquote(parts.path)
        self.name = self.path.lstrip("/")
        self.options = dict(parse_qsl(parts.query, keep_blank_values=True))

    def redacted(self) -> str:
        """The URL for messages, its password replaced by ***: by pattern, not by parsing,
        so that a URL too broken to parse is still shown without it."""
        return _PASSWORD.sub(r"\1***@", self.text)

    def sqlite_path(self, folder: Path) -> Path:
        """``sqlite:///app.db`` is relative to conf.py's folder, ``sqlite:////srv/app.db``
        absolute, as SQLAlchemy reads them."""
        from pathlib import Path

        if self.host or not self.name or self.name == ":memory:":
            raise self._bad(
                "does not name a SQLite file" if self.host or not self.name
                else "names an in-memory database, which forgets the history at every run",
                "Write sqlite:///relative/path.db or sqlite:////absolute/path.db.",
            )
        return folder / Path(self.path[1:])  # one slash off: "/app.db" or "//srv/app.db"

    def connector(self) -> Callable[[], Any]:
        """A function that opens a connection: the driver is imported only when it is called,
        so commands that never connect pay nothing for it."""
        def connect() -> Any:
            module, name = self._driver()
            try:
                return self._open(module, name)
            except Exception as exc:
                raise StoreError(
                    f"cannot connect to {self.redacted()} with {name}: "
                    f"{self.scrub(f'{type(exc).__name__}: {exc}')}",
                    "Check the URL, the server and its credentials.",
                ) from None
        return connect

    def scrub(self, text: str) -> str:
        """``text`` with the password taken out, should a driver have repeated it."""
        if self.password:
            text = text.replace(self.password, "***")
            raw = urlsplit(self.text).password
            if raw:
                text = text.replace(raw, "***")
        return text

    def _driver(self) -> tuple[Any, str]:
        candidates = DRIVERS[self.kind]
        if self.driver:
            candidates = tuple(c for c in candidates if c[0] == self.driver)
        for name, _ in candidates:
            try:
                return importlib.import_module(name), name
            except ImportError:
                continue
        install = " or ".join(f"pip install {package}" for _, package in candidates)
        raise StoreError(
            f"{self.setting} is a {self.kind} URL, and no driver for it is installed "
            f"({', '.join(name for name, _ in candidates)})",
            f"Install one: {install}.",
        )

    def _open(self, module: Any, name: str) -> Any:
        arguments: dict[str, Any] = {}
        if self.host:
            arguments["host"] = self.host
        if self.port is not None:
            arguments["port"] = self.port
        if self.user is not None:
            arguments["user"] = self.user
        if self.password is not None:
            arguments["password"] = self.password
        if name in ("psycopg", "psycopg2"):
            if self.name:
                arguments["dbname"] = self.name
            return module.connect(**arguments, **self.options)
        if name == "pg8000.dbapi":
            if self.name:
                arguments["database"] = self.name
            return module.connect(**arguments, **self.options)
        if self.name:
            arguments["db" if name == "MySQLdb" else "database"] = self.name
        if name == "MySQLdb" and "password" in arguments:
            arguments["passwd"] = arguments.pop("password")
        return module.connect(**arguments, **self.options)

    def _bad(self, what: str, hint: str = "") -> ConfigError:
        return ConfigError(f"{self.setting} {self.redacted()} {what}",
                           hint or "Write it as scheme://user:password@host:port/name.")
