"""SCHEMA_FILE (SPEC 10): the schema written beside the migrations after every run that
changed the database, so that code review shows what a migration did, and drift (the live
schema no longer what the file says) found by ``check``."""
from __future__ import annotations

import os
from pathlib import Path

from .errors import ConfigError

TYPE_CHECKING = False  # typing itself costs milliseconds to import; type checkers know this name

if TYPE_CHECKING:
    from .config import Config
    from .state import Problem
    from .stores.base import VersionStore
    from .stores.sql import SqlStore


def database(store: VersionStore, operation: str) -> SqlStore:
    """``store`` if it is a database whose schema can be read."""
    from .stores.sql import SqlStore

    if isinstance(store, SqlStore):
        return store
    raise ConfigError(
        f"{operation} needs a database: {store.describe()} keeps only the current version, "
        "and has no schema to read",
        "Use DATABASE, DATABASE_URL or get_connection() in conf.py.",
    )


def readable(store: VersionStore) -> SqlStore:
    """``store``, once sure that its schema can be read: checked before a run, so that a
    run never changes a database whose SCHEMA_FILE it then cannot write."""
    sql_store = database(store, "SCHEMA_FILE")
    if not sql_store.reads_schema():
        raise ConfigError(
            f"SCHEMA_FILE needs a database whose catalog link-migration can read: "
            f"{sql_store.describe()} is reached through a driver it does not know",
            "Use a driver for SQLite, PostgreSQL or MySQL/MariaDB, or remove SCHEMA_FILE.",
        )
    return sql_store


def schema_file(config: Config) -> Path | None:
    """SCHEMA_FILE's path (relative to conf.py's folder), or None when conf.py sets none."""
    value = config.get("SCHEMA_FILE")
    if value is None:
        return None
    if not isinstance(value, (str, os.PathLike)) or not os.fspath(value) or "\0" in os.fspath(value):
        raise ConfigError(f"SCHEMA_FILE in {config.path} is {value!r}; it must be a file path",
                          "Set it to a path such as 'schema.sql' (relative to conf.py's folder).")
    path = config.folder / Path(os.fspath(value)).expanduser()
    if path.is_dir():
        raise ConfigError(f"SCHEMA_FILE in {config.path} names a folder: {path}",
                          "Point SCHEMA_FILE at a file.")
    if not path.parent.is_dir():
        raise ConfigError(f"SCHEMA_FILE in {config.path}: the folder {path.parent} does not exist",
                          "Create the folder, or fix the path.")
    return path


def write(path: Path, store: SqlStore, version: int) -> None:
    """Write the schema to ``path`` whole or not at all: a reader never sees half a file."""
    from . import schema

    content = schema.text(store.snapshot(), version=version, header=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "w", encoding="utf-8", newline="\n") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise


def drift(path: Path, store: SqlStore, current: int) -> list[Problem]:
    """How the live schema differs from the file, one problem per object part. Not compared
    when the file was written at another version than the store's: pending migrations are
    reported as such, and are no drift."""
    from . import schema
    from .state import Problem

    try:
        with open(path, encoding="utf-8", newline="") as file:  # a body's \r stays
            content = file.read()
    except FileNotFoundError:
        content = ""
    except (OSError, UnicodeDecodeError) as exc:
        return [Problem("drift", None, path.name, f"cannot read it: {exc}")]
    written, version = schema.parse(content)
    if version is not None and version != current:
        return []
    live = schema.as_written(store.snapshot())
    where = path.name
    return [
        Problem("drift", None, where, schema.describe(
            change, extra=f"is in the database but not in {where}",
            missing=f"is in {where} but not in the database",
            changed=f"differs from {where}"))
        for change in schema.differences(written, live)
    ]
