"""Version stores, and the choice among them that conf.py makes."""
from __future__ import annotations

import os
from pathlib import Path
TYPE_CHECKING = False  # typing itself costs milliseconds to import; type checkers know this name

from ..config import DEFAULT_LEASE_TERM
from ..errors import ConfigError, StoreError
from ..importer import user_location
from .base import parse_version
from .functions import FunctionStore
from .sql import (
    DEFAULT_ATTEMPT_TABLE,
    DEFAULT_HISTORY_TABLE,
    DEFAULT_LOCK_TABLE,
    DEFAULT_LOG_TABLE,
    PARAMSTYLES,
    SqlStore,
    check_table_name,
)
from .textfile import TextFileStore

if TYPE_CHECKING:
    import sqlite3
    from typing import Any, Callable

    from ..dialects.urls import DatabaseUrl

    from ..config import Config
    from .base import VersionStore

__all__ = ["open_store", "parse_version"]

_HINT = (
    "Define one of: get_current_version() and set_current_version(version); "
    "get_connection(); DATABASE_URL = 'postgresql://...'; DATABASE = 'app.db'; "
    "VERSION_FILE = 'version.txt'."
)


def open_store(config: Config, *, busy_timeout: float = 60.0) -> VersionStore:
    """The store conf.py names. Exactly one kind must be configured. ``busy_timeout`` is how
    long a SQLite database that another process holds locked is waited for."""
    has_get = config.has("get_current_version")
    has_set = config.has("set_current_version")
    if has_get != has_set:
        present, missing = (
            ("get_current_version", "set_current_version")
            if has_get
            else ("set_current_version", "get_current_version")
        )
        raise ConfigError(
            f"{config.path} defines {present}() but not {missing}(): the two go together",
            f"Define {missing}() too, or use a built-in store instead.",
        )
    if has_get:
        # The user's own functions come first (SPEC 2): conf.py may well keep a DATABASE or
        # VERSION_FILE of its own for them, or for the migrations, to use.
        return FunctionStore(
            _user_function(config, "get_current_version", 0),
            _user_function(config, "set_current_version", 1),
            config.path.name,
        )
    kinds = [name for name in ("get_connection", "DATABASE_URL", "DATABASE", "VERSION_FILE")
             if config.has(name)]
    if not kinds:
        raise ConfigError(f"{config.path} does not say where the current version is kept", _HINT)
    if len(kinds) > 1:
        raise ConfigError(
            f"{config.path} configures more than one version store: {', '.join(kinds)}",
            "Keep exactly one of them.",
        )
    if config.has("VERSION_FILE"):
        return TextFileStore(_store_path(config, "VERSION_FILE"))
    return _sql_store(config, busy_timeout)


def _user_function(config: Config, name: str, arguments: int) -> Callable[..., Any]:
    """conf.py's function ``name``, which must be there and accept ``arguments`` arguments."""
    definition = f"def {name}({'' if arguments == 0 else 'version'}):"
    takes = "no argument" if arguments == 0 else "one argument, the version"
    function = config.function(name, arguments, takes, definition)
    if function is None:
        raise ConfigError(f"{name} in {config.path} is None, not a function",
                          f"Define it with {definition}")
    return function


def _sql_store(config: Config, busy_timeout: float) -> SqlStore:
    url = _database_url(config) if config.has("DATABASE_URL") else None
    sqlite = config.has("DATABASE") or (url is not None and url.kind == "sqlite")
    tables = {
        "history_table": check_table_name(
            config.get("HISTORY_TABLE", DEFAULT_HISTORY_TABLE), "HISTORY_TABLE", config.path,
            sqlite=sqlite,
        ),
        "log_table": check_table_name(
            config.get("LOG_TABLE", DEFAULT_LOG_TABLE), "LOG_TABLE", config.path, sqlite=sqlite
        ),
        "lock_table": check_table_name(
            config.get("LOCK_TABLE", DEFAULT_LOCK_TABLE), "LOCK_TABLE", config.path, sqlite=sqlite
        ),
        "attempt_table": check_table_name(
            config.get("ATTEMPT_TABLE", DEFAULT_ATTEMPT_TABLE), "ATTEMPT_TABLE", config.path,
            sqlite=sqlite,
        ),
    }
    if len(set(tables.values())) < len(tables):
        raise ConfigError(
            f"HISTORY_TABLE, LOG_TABLE, LOCK_TABLE and ATTEMPT_TABLE in {config.path} must be "
            f"four different tables, not {', '.join(tables.values())}",
            "Give each its own name.",
        )
    options: dict[str, Any] = dict(tables, lease_term=_lease_term(config))
    if url is not None and url.kind != "sqlite":
        return SqlStore(url.connector(), url.redacted(), **options)
    if sqlite:
        path = (_store_path(config, "DATABASE") if url is None
                else _checked_path(url.sqlite_path(config.folder), "DATABASE_URL", config))
        return SqlStore(
            _sqlite_connector(path, busy_timeout),
            f"SQLite database {path}",
            database_file=path,
            busy_timeout=busy_timeout,
            **options,
        )
    get_connection = config.get("get_connection")
    if not callable(get_connection):
        raise ConfigError(
            f"get_connection in {config.path} is {get_connection!r}, not a function",
            "Define it with def get_connection(): and return a DB-API connection.",
        )
    paramstyle = config.get("PARAMSTYLE")
    if paramstyle is not None and paramstyle not in PARAMSTYLES:
        raise ConfigError(
            f"PARAMSTYLE in {config.path} is {paramstyle!r}",
            f"Use one of DB-API's: {', '.join(PARAMSTYLES)}.",
        )
    return SqlStore(
        _user_connector(config, "get_connection", get_connection),
        f"the database of get_connection() in {config.path.name}",
        paramstyle=paramstyle,
        owns_connection=False,
        **options,
    )


def _user_connector(config: Config, name: str, function: Callable[[], Any]) -> Callable[[], Any]:
    """conf.py's ``name``() as a store's connect: its failure, or anything it returns that is
    no DB-API connection, is a StoreError that names it."""
    conf_name = config.path.name

    def connect() -> object:
        try:
            connection = function()
        except Exception as exc:
            raise StoreError(
                f"{name}() in {conf_name} raised {type(exc).__name__}: {exc} "
                f"({user_location(exc)})",
                f"Fix {name}(); nothing was changed.",
            ) from exc
        if not callable(getattr(connection, "cursor", None)):
            raise StoreError(
                f"{name}() in {conf_name} returned {connection!r}, "
                "which is not a DB-API connection (it has no cursor())",
                "Return the connection your database driver's connect() gives.",
            )
        return connection

    return connect


def scratch_store(config: Config, real: SqlStore, *, path: Path | None = None) -> SqlStore:
    """A store like ``real`` (same table names) on a scratch database, for ``verify``: the
    SQLite file ``path``, or else conf.py's get_scratch_connection()."""
    options: dict[str, Any] = dict(
        history_table=real.history_table, log_table=real.log_table, lock_table=real.lock_table,
        attempt_table=real.attempt_table, lease_term=_lease_term(config),
    )
    if path is not None:
        return SqlStore(_sqlite_connector(path, 60.0), f"a scratch copy ({path.name})",
                        database_file=path, busy_timeout=60.0, **options)
    function = config.get("get_scratch_connection")
    if not callable(function):
        raise ConfigError(
            f"verify needs a scratch database: {real.describe()} is reached through "
            f"get_connection() or DATABASE_URL, and {config.path.name} "
            + ("defines no get_scratch_connection()" if function is None else
               f"has get_scratch_connection = {function!r}, not a function"),
            "Define get_scratch_connection() in conf.py, returning a connection to an empty "
            "database that verify may migrate up and down (never the real one).",
        )
    return SqlStore(
        _user_connector(config, "get_scratch_connection", function),
        f"the scratch database of get_scratch_connection() in {config.path.name}",
        paramstyle=config.get("PARAMSTYLE"), owns_connection=False, **options,
    )


_SQLITE_HEADER = b"SQLite format 3\x00"


def _sqlite_connector(path: Path, busy_timeout: float) -> Callable[[], sqlite3.Connection]:
    """Opens the database; the file is checked at the first opening only. Later ones (the
    lease's thread, a connection replaced after a cancel) must not open and close the file
    themselves: closing any descriptor of a file drops every POSIX lock this process holds on
    it, the write lock of our other connection included, and SQLite would then let another
    process write under that connection's feet."""
    import sqlite3  # here: a server's store need not import it (issue 17)

    checked = False

    def connect() -> sqlite3.Connection:
        nonlocal checked
        if not checked:
            _check_sqlite_file(path)
            checked = True
        try:
            return sqlite3.connect(str(path), timeout=busy_timeout)
        except sqlite3.Error as exc:
            raise StoreError(
                f"cannot open the SQLite database {path}: {exc}", "Check the path and permissions."
            ) from None

    return connect


def _check_sqlite_file(path: Path) -> None:
    # SQLite takes a 1-byte file for an empty database and would overwrite it: check first.
    try:
        with open(path, "rb") as existing:
            header = existing.read(len(_SQLITE_HEADER))
    except FileNotFoundError:
        header = b""
    except OSError as exc:
        raise StoreError(f"cannot read the SQLite database {path}: {exc.strerror}",
                         "Check the path and permissions.") from None
    if header and header != _SQLITE_HEADER:
        raise StoreError(
            f"DATABASE {path} is not a SQLite database file",
            "Point DATABASE at a SQLite file, or at a path where one can be created.",
        )
    if header != _SQLITE_HEADER and os.path.islink(path):
        # SQLite would create or fill the file the link points to, as whoever runs this:
        # a link planted where the database will be must not choose what gets written.
        raise StoreError(
            f"DATABASE {path} is a symbolic link to {os.path.realpath(path)}, which is not a "
            "SQLite database",
            "Point DATABASE at the database itself, or link to an existing SQLite database.",
        )


_LEASE_LIMITS = (1.0, 86400.0)


def _lease_term(config: Config) -> float:
    """LOCK_LEASE: seconds a SQL store's lock outlives its holder's last renewal (SPEC 12)."""
    value = config.get("LOCK_LEASE", DEFAULT_LEASE_TERM)
    low, high = _LEASE_LIMITS
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ConfigError(
            f"LOCK_LEASE in {config.path} is {value!r}; it must be a number of seconds from "
            f"{low:g} to {high:g}",
            f"The default, {DEFAULT_LEASE_TERM:g}, suits most databases: the lock of a run that "
            "stopped renewing it is broken that long after.",
        )
    return float(value)


def _database_url(config: Config) -> DatabaseUrl:
    value = config.get("DATABASE_URL")
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(
            f"DATABASE_URL in {config.path} is {'a ' + type(value).__name__ if value else repr(value)}, "
            "not a URL",
            "Write it as postgresql://user:password@host:5432/name, mysql://..., or "
            "sqlite:///app.db.",
        )
    from ..dialects.urls import DatabaseUrl  # only for the projects that use it

    return DatabaseUrl(value.strip())


def _store_path(config: Config, name: str) -> Path:
    """A path setting of conf.py, relative to conf.py's folder, whose folder must exist."""
    value = config.get(name)
    if not isinstance(value, (str, os.PathLike)) or not os.fspath(value):
        raise ConfigError(
            f"{name} in {config.path} is {value!r}; it must be a file path",
            f"Set {name} to a path such as 'version.txt' (relative to conf.py's folder).",
        )
    if "\0" in os.fspath(value):
        raise ConfigError(f"{name} in {config.path} contains a NUL character: {value!r}",
                          "Fix the path.")
    return _checked_path(config.folder / Path(os.fspath(value)).expanduser(), name, config)


def _checked_path(path: Path, name: str, config: Config) -> Path:
    """``path`` must be able to hold a file: not a folder, and in a folder that exists."""
    if path.is_dir():
        raise ConfigError(
            f"{name} in {config.path} names a folder: {path}", f"Point {name} at a file."
        )
    if not path.parent.is_dir():
        raise ConfigError(
            f"{name} in {config.path}: the folder {path.parent} does not exist",
            "Create the folder, or fix the path.",
        )
    return path
