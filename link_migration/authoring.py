"""``new``: writes the next migration file from a template. Never overwrites a file."""
from __future__ import annotations

import ast
import os
import re
import string
import unicodedata
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Sequence

from .config import API_WORDING, Config, Wording
from .discovery import Migration
from .errors import ConfigError, DiscoveryError

SEQUENTIAL = "sequential"
TIMESTAMP = "timestamp"
PYTHON = "python"
SQL = "sql"

# dbmate's markers, which goose's users and golang-migrate's will read at a glance; the
# first comment line is the migration's description (SPEC 8).
SQL_TEMPLATE = """\
-- $description
-- migrate:up


-- migrate:down

"""

DEFAULT_TEMPLATE = '''\
"""$description"""

version = $version


def up(context):
    """Apply: $description"""
    pass


def down(context):
    """Undo: $description"""
    pass
'''


# Letters that Unicode does not decompose into an ASCII letter and an accent.
_TRANSLITERATION = str.maketrans({
    "ß": "ss", "Æ": "AE", "æ": "ae", "Œ": "OE", "œ": "oe", "Ø": "O", "ø": "o",
    "Ł": "L", "ł": "l", "Đ": "D", "đ": "d", "Þ": "Th", "þ": "th", "ı": "i",
})


def slug(description: str) -> str:
    """ASCII, lower case, words joined by underscores: "Add users table!" -> add_users_table."""
    decomposed = unicodedata.normalize("NFKD", description.translate(_TRANSLITERATION))
    ascii_text = decomposed.encode("ascii", "ignore").decode()
    words = re.sub(r"[^a-z0-9]+", "_", ascii_text.lower()).strip("_")
    return words[:60].rstrip("_") or "migration"


def new_migration(
    config: Config,
    folder: Path,
    migrations: Sequence[Migration],
    description: str,
    *,
    timestamp: bool | None = None,
    sql: bool | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    wording: Wording = API_WORDING,
) -> Path:
    """Write the next migration into ``folder`` and return its path.

    The version is the highest known + 1 (file ``0008_add_users.py``), or a UTC timestamp
    (``20261125193000_add_users.py``) with ``timestamp`` or conf.py's
    ``VERSION_SCHEME = "timestamp"``. conf.py may name its own ``MIGRATION_TEMPLATE`` file, with
    ``$description`` and ``$version`` placeholders. With ``sql`` or conf.py's
    ``MIGRATION_FORMAT = "sql"``, the file is a ``.sql`` one with dbmate's markers.
    """
    description = " ".join(description.split())
    if not description:
        raise ConfigError("new needs a description", f"For example: {wording.new_example}")
    if timestamp is None:
        timestamp = _scheme(config) == TIMESTAMP
    if sql is None:
        sql = _format(config) == SQL
    extension = ".sql" if sql else ".py"
    if timestamp:
        version = int(now().strftime("%Y%m%d%H%M%S"))
        name = f"{version}_{slug(description)}{extension}"
    else:
        version = max((m.version for m in migrations), default=0) + 1
        name = f"{version:04d}_{slug(description)}{extension}"
    clash = next((m for m in migrations if m.version == version), None)
    if clash is not None:
        raise DiscoveryError(
            f"version {version} is taken by {clash.path}",
            "Wait a second for the next timestamp, or use the sequential scheme.",
        )
    if timestamp and any(m.version > version for m in migrations):
        newest = max(m.version for m in migrations)
        raise DiscoveryError(
            f"the timestamp {version} is below the highest version, {newest}: the new migration "
            "would be out of order",
            f"Mixing schemes does not work: use the sequential scheme here ({wording.no_timestamp}).",
        )
    text = _render_sql(description) if sql else _render(config, description, version)
    path = folder / name
    try:
        with open(path, "x", encoding="utf-8") as handle:
            handle.write(text)
    except FileExistsError:
        raise DiscoveryError(f"{path} exists already", "Nothing was written; choose another description.") from None
    except OSError as exc:
        raise DiscoveryError(f"cannot write {path}: {exc.strerror or exc}", "Check the folder's permissions.") from None
    return path


def _scheme(config: Config) -> str:
    return _choice(config, "VERSION_SCHEME", SEQUENTIAL, TIMESTAMP)


def _format(config: Config) -> str:
    return _choice(config, "MIGRATION_FORMAT", PYTHON, SQL)


def _choice(config: Config, setting: str, default: str, other: str) -> str:
    """A setting of conf.py that is one of two words."""
    value = config.get(setting, default)
    if value not in (default, other):
        raise ConfigError(
            f"{setting} in {config.path} is {value!r}",
            f"Use {default!r} (the default) or {other!r}.",
        )
    return value


def _render_sql(description: str) -> str:
    # One line of comment: a line break in the description must not start a line of SQL.
    return string.Template(SQL_TEMPLATE).substitute(description=description.replace("\n", " "))


def _render(config: Config, description: str, version: int) -> str:
    template = DEFAULT_TEMPLATE
    template_setting = config.get("MIGRATION_TEMPLATE")
    if template_setting is not None:
        if not isinstance(template_setting, (str, os.PathLike)):
            raise ConfigError(
                f"MIGRATION_TEMPLATE in {config.path} is {template_setting!r}; it must be a file path",
                "Point it at a template file, relative to conf.py's folder.",
            )
        template_path = config.folder / Path(os.fspath(template_setting))
        try:
            template = template_path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                f"cannot read MIGRATION_TEMPLATE {template_path}: {exc.strerror or exc}",
                "Check the path in conf.py.",
            ) from None
    # Docstrings hold the description: escape what could end them early.
    safe_description = description.replace("\\", "\\\\").replace('"', '\\"')
    try:
        text = string.Template(template).substitute(description=safe_description, version=version)
    except (KeyError, ValueError) as exc:
        raise ConfigError(
            f"the migration template {template_setting or 'built in'} has a bad placeholder: {exc}",
            "Use $description and $version (write $$ for a dollar sign).",
        ) from None
    _check_rendered(text, version, template_setting or "built in")
    return text


def _check_rendered(text: str, version: int, template: object) -> None:
    """The new file must be a migration link-migration will find, with this version."""
    try:
        tree = ast.parse(text)
    except SyntaxError as exc:
        raise ConfigError(
            f"the migration template {template} gives invalid Python (line {exc.lineno}: {exc.msg})",
            "Fix the template.",
        ) from None
    found = [
        node for node in tree.body
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "version" for t in node.targets)
        and isinstance(node.value, ast.Constant) and node.value.value == version
    ]
    if not found:
        raise ConfigError(
            f"the migration template {template} does not set version = $version",
            "Add the line: version = $version",
        )
