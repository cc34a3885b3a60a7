"""Version stores, and the choice among them that conf.py makes."""
from __future__ import annotations

import os
from pathlib import Path

from ..config import Config
from ..errors import ConfigError
from .base import VersionStore, parse_version
from .functions import FunctionStore
from .textfile import TextFileStore

__all__ = ["VersionStore", "open_store", "parse_version"]

_HINT = (
    "Define one of: get_current_version() and set_current_version(version); "
    "get_connection(); DATABASE = 'app.db'; VERSION_FILE = 'version.txt'."
)


def open_store(config: Config) -> VersionStore:
    """The store conf.py names. Exactly one kind must be configured."""
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
    kinds = ["get_current_version()/set_current_version()"] if has_get else []
    kinds += [name for name in ("get_connection", "DATABASE", "VERSION_FILE") if config.has(name)]
    if not kinds:
        raise ConfigError(f"{config.path} does not say where the current version is kept", _HINT)
    if len(kinds) > 1:
        raise ConfigError(
            f"{config.path} configures more than one version store: {', '.join(kinds)}",
            "Keep exactly one of them.",
        )
    if has_get:
        for name in ("get_current_version", "set_current_version"):
            if not callable(config.get(name)):
                raise ConfigError(
                    f"{name} in {config.path} is {config.get(name)!r}, not a function",
                    f"Define it with def {name}(...).",
                )
        return FunctionStore(
            config.get("get_current_version"), config.get("set_current_version"), config.path.name
        )
    if config.has("VERSION_FILE"):
        return TextFileStore(_store_path(config, "VERSION_FILE"))
    raise ConfigError(
        f"{config.path} sets {kinds[0]}, the SQL store, which this version does not have yet",
        "Use VERSION_FILE or get_current_version()/set_current_version() for now.",
    )


def _store_path(config: Config, name: str) -> Path:
    """A path setting of conf.py, relative to conf.py's folder, whose folder must exist."""
    value = config.get(name)
    if not isinstance(value, (str, os.PathLike)) or not os.fspath(value):
        raise ConfigError(
            f"{name} in {config.path} is {value!r}; it must be a file path",
            f"Set {name} to a path such as 'version.txt' (relative to conf.py's folder).",
        )
    path = config.folder / Path(os.fspath(value)).expanduser()
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
