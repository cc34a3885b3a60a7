"""Finds migration files and reads their versions without running them.

A migration's ``version`` is read from its source without running it: with a few regular
expressions in the common case, else with ``ast``; the file is executed only when the version
is not a literal, or when the migration is about to run. Listing, planning and dry
runs therefore never execute user code they do not need.
"""
from __future__ import annotations

import errno
import operator
import os
import re
import stat
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Collection, NamedTuple

from .config import Config
from .errors import ConfigError, DiscoveryError
from .importer import import_dotted, import_file, private_module_name


class Migration(NamedTuple):
    """One migration file, as far as it can be known without running it.

    A NamedTuple holding its folder (one object shared by all) and its file name rather than a
    Path of its own: a project may hold ten thousand of them (see bench/).
    """

    version: int
    folder: Path
    name: str  # the file name, which is how users know a migration
    description: str = ""
    checksum: str = ""

    @property
    def path(self) -> Path:
        return self.folder / self.name

    @property
    def filename(self) -> str:
        """The path as a string, for the run's thousands of imports: cheaper than a Path."""
        return os.path.join(self.folder, self.name)


class MigrationsFolder(NamedTuple):
    """Where migrations live; ``package`` is set when MIGRATIONS_DIR was a dotted name."""

    path: Path
    package: str | None = None


class Catalogue(NamedTuple):
    """Every migration found in a folder, by ascending version, and the files skipped:
    ``skipped`` .py files with no version, ``unsupported`` files of a kind link-migration
    does not run (Flyway's repeatable R__ migrations)."""

    folder: MigrationsFolder
    migrations: tuple[Migration, ...]
    skipped: tuple[Path, ...] = ()
    unsupported: tuple[Path, ...] = ()


class MigrationLoader:
    """Imports migration modules, each at most once per run.

    One loader lives for one run: it is the only memory of which files were executed, so that
    a module imported during discovery is not executed again when it runs.
    """

    def __init__(self, folder: MigrationsFolder) -> None:
        self._folder = folder
        # By the path's text: a key per file, and lighter than a Path for a plan of thousands.
        self._modules: dict[str, ModuleType] = {}
        self._importing: Any = None  # a lock, once shared(): the targets of a fleet share one

    def shared(self) -> MigrationLoader:
        """Make this loader safe to share between threads (a fleet's targets, SPEC 11):
        each file is still executed once, by whichever target needs it first."""
        import threading

        self._importing = threading.Lock()
        self._failed: dict[str, DiscoveryError] = {}
        return self

    def load(self, path: str | os.PathLike[str]) -> ModuleType:
        """The module of the migration at ``path``, which must be resolved (as discovery's
        paths are): one key per file, so that no file is executed twice."""
        key = os.fspath(path)
        module = self._modules.get(key)
        if module is None and self._importing is not None:
            with self._importing:
                failed = self._failed.get(key)
                if failed is not None:  # another target's import of it failed: not again
                    raise failed
                try:
                    return self._load(key)
                except DiscoveryError as exc:
                    self._failed[key] = exc
                    raise
        return module if module is not None else self._load(key)

    def _load(self, key: str) -> ModuleType:
        module = self._modules.get(key)
        if module is None:
            stem = os.path.splitext(os.path.basename(key))[0]
            if key.endswith(".sql"):
                module = _load_sql(Path(key))
            elif self._folder.package and "." not in stem:
                module = self._load_submodule(key, self._folder.package, stem)
            else:
                # A dot in the file name cannot be part of a dotted module name.
                module = import_file(key, private_module_name("migration", key), DiscoveryError)
            self._modules[key] = module
        return module

    @staticmethod
    def _load_submodule(filename: str, package: str, stem: str) -> ModuleType:
        """Import a migration in a dotted package as its submodule (SPEC 3), from its source,
        as import_file does for folders: importlib would run a bytecode cache keyed on the
        file's time and size, so an edited migration could run its old code."""
        name = f"{package}.{stem}"
        module = sys.modules.get(name)
        if module is None:  # not imported already by the package's own code
            module = import_file(filename, name, DiscoveryError, with_spec=True)
            setattr(sys.modules[package], stem, module)  # as import binds a submodule
        return module


def locate_migrations(config: Config, cwd: Path) -> MigrationsFolder:
    """Resolve MIGRATIONS_DIR: a folder (absolute, beside conf.py, or in cwd) or a package."""
    value = config.get("MIGRATIONS_DIR")
    if value is None:
        return MigrationsFolder(config.folder.resolve())
    if not isinstance(value, (str, os.PathLike)) or not os.fspath(value):
        raise ConfigError(
            f"MIGRATIONS_DIR in {config.path} is {value!r}; it must be a folder or a package name",
            "Set it to a folder path or a dotted package name, or remove it to use conf.py's folder.",
        )
    text = os.fspath(value)
    candidate = Path(text).expanduser()
    places = [candidate] if candidate.is_absolute() else [config.folder / candidate, cwd / candidate]
    for place in places:
        if place.is_dir():
            return MigrationsFolder(place.resolve())
        if place.exists():
            raise ConfigError(
                f"MIGRATIONS_DIR {text!r} in {config.path} is a file, not a folder: {place}",
                "Point MIGRATIONS_DIR at the folder that holds the migration files.",
            )
    looked = " and ".join(str(p) for p in dict.fromkeys(places))
    if not all(part.isidentifier() for part in text.split(".")):
        raise ConfigError(
            f"MIGRATIONS_DIR {text!r} in {config.path}: no such folder (looked in {looked})",
            "Create the folder, or fix MIGRATIONS_DIR in conf.py.",
        )
    try:
        package = import_dotted(text, ConfigError, "MIGRATIONS_DIR package")
    except ConfigError as exc:
        raise ConfigError(
            f"MIGRATIONS_DIR {text!r} in {config.path} is not a folder (looked in {looked}) "
            f"and not an importable package: {exc.message}",
            "Create the folder, or fix MIGRATIONS_DIR in conf.py.",
        ) from None
    search_path = list(getattr(package, "__path__", []))
    if not search_path:
        raise ConfigError(
            f"MIGRATIONS_DIR {text!r} in {config.path} is a module, not a package",
            "Name a package: a folder with an __init__.py that holds the migrations.",
        )
    return MigrationsFolder(Path(search_path[0]).resolve(), package.__name__)


def discover(
    folder: MigrationsFolder, loader: MigrationLoader, exclude: Collection[Path] = ()
) -> Catalogue:
    """Read every migration in ``folder`` (not recursively), sorted by version: ``.py``
    files, and ``.sql`` files in the layouts of link_migration.formats.sql.

    Skips names starting with ``_`` or ``.``, files named ``conf.py`` and the files in
    ``exclude`` (the conf file itself). Raises DiscoveryError for a bad or duplicated version,
    a ``.sql`` name in no known layout, and a symbolic link that leads nowhere.
    """
    base = folder.path.resolve()
    excluded = {p.resolve().name for p in exclude if p.resolve().parent == base}
    try:
        with os.scandir(base) as listing:
            entries = sorted(
                (
                    entry
                    for entry in listing
                    if entry.name.endswith((".py", ".sql"))
                    and not entry.name.startswith(("_", "."))
                    and entry.name != "conf.py"
                    and entry.name not in excluded
                ),
                key=_NAME,  # by name, so that of two broken links the same one is named
            )
            names = [
                entry.name
                for entry in entries
                if (_is_linked_file(entry) if entry.is_symlink() else entry.is_file())
            ]
    except OSError as exc:
        raise DiscoveryError(
            f"cannot list the migrations folder {folder.path}: {exc.strerror or exc}",
            "Check that the folder exists and is readable.",
        ) from None
    found: dict[int, Migration] = {}
    skipped: list[Path] = []
    unsupported: list[Path] = []
    sql = [name for name in names if name.endswith(".sql")]
    base_text = str(base)
    for name in names:
        if name.endswith(".sql"):
            continue
        migration = _read_migration(base, os.path.join(base_text, name), name, loader)
        if migration is None:
            skipped.append(base / name)
            continue
        _add(found, migration)
    if sql:
        for migration in _read_sql_migrations(base, sql, unsupported):
            _add(found, migration)
    migrations = tuple(found[v] for v in sorted(found))
    return Catalogue(folder, migrations, tuple(skipped), tuple(unsupported))


def _add(found: dict[int, Migration], migration: Migration) -> None:
    clash = found.get(migration.version)
    if clash is not None:
        raise DiscoveryError(
            f"two migrations have version {migration.version}: {clash.path} and "
            f"{migration.path}",
            "Give each migration its own version.",
        )
    found[migration.version] = migration


def _read_sql_migrations(folder: Path, names: list[str], unsupported: list[Path]) -> list[Migration]:
    """The ``.sql`` migrations among ``names``: one per up file, with the checksum of every
    byte that can run (both files of a pair)."""
    from .formats import sql

    ups: list[tuple[str, sql.SqlName]] = []
    downs: dict[str, str] = {}
    for name in names:
        shape = sql.read_name(name, folder)
        if shape is None:
            unsupported.append(folder / name)
        elif shape.down:
            downs[name] = name
        else:
            if not 1 <= shape.version <= MAX_VERSION:
                _check_version(shape.version, folder / name, 0)
            ups.append((name, shape))
    migrations = []
    base = str(folder)  # paths as text: a Path per file would cost as much as reading it
    for name, shape in ups:
        source = sql.read_bytes(os.path.join(base, name))
        partner = sql.partner(name, shape.layout)
        if partner is not None and downs.pop(partner, None) is not None:
            source += b"\0" + sql.read_bytes(os.path.join(base, partner))
        description = sql.description_from(source) or shape.description
        migrations.append(Migration(shape.version, folder, name, description, checksum(source)))
    for orphan in downs:
        raise DiscoveryError(
            f"{folder / orphan}: a down file with no up file beside it",
            "Name the up file as its pair (VERSION_name.up.sql for VERSION_name.down.sql, "
            "V<N>__name.sql for U<N>__name.sql), or remove this one.",
        )
    return migrations


def _load_sql(path: Path) -> Any:
    from .formats import sql

    shape = sql.read_name(path.name, path.parent)
    assert shape is not None
    return sql.load(path, shape.version, shape.layout)


_NAME = operator.attrgetter("name")


def _is_linked_file(entry: os.DirEntry[str]) -> bool:
    """Whether a symbolic link among the migrations leads to a file (not to a folder).

    One that leads nowhere, or in a circle, is an error naming it: skipped, it would leave
    its migration unrun while ``check`` stayed green.
    """
    try:
        return stat.S_ISREG(os.stat(entry.path).st_mode)
    except FileNotFoundError:
        raise DiscoveryError(
            f"{entry.path} is a symbolic link to {os.path.realpath(entry.path)}, "
            "which does not exist",
            "Restore the file the link points to, or remove the link.",
        ) from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise DiscoveryError(
                f"{entry.path} is a symbolic link that leads back to itself (a loop of links)",
                "Point the link at a migration file, or remove it.",
            ) from None
        raise DiscoveryError(
            f"cannot read migration {entry.path}: {exc.strerror or exc}",
            "Check its permissions, and those of the file it links to.",
        ) from None


MAX_VERSION = 2**63 - 1  # what an SQL INTEGER column holds


def _read_migration(
    folder: Path, path: str, name: str, loader: MigrationLoader
) -> Migration | None:
    """Read one file's version statically; None when the file has no ``version`` at all.

    ``path`` is resolved already: its folder was, and its name is a plain file in it. It is
    text, not a Path: this runs once per file, and a Path is made only when one is needed.
    """
    try:
        with open(path, "rb") as handle:  # not Path.read_bytes: this loop runs per file
            source = handle.read()
    except OSError as exc:
        raise DiscoveryError(
            f"cannot read migration {path}: {exc.strerror or exc}", "Check its permissions."
        ) from None
    quick = _read_quickly(source)
    if quick is not None:
        version, line, description = quick
        _check_version(version, path, line)
        return Migration(version, folder, name, description, checksum(source))
    return _read_with_ast(folder, path, name, source, loader)


# The common case, read with regular expressions instead of a parse (see bench/). It answers
# only when it cannot be wrong: no byte-order mark or coding cookie, the word "version" once in
# the file, in a plain `version = 12` at the start of a line with no string or bracket open
# around it, and a docstring (if any) that is a plain triple-quoted string without escapes,
# alone on its lines. Anything else goes to the full parse.
_LITERAL_VERSION = re.compile(
    rb"^version[ \t]*(?::[ \t]*int[ \t]*)?=[ \t]*(0|[1-9][0-9]*)[ \t]*(?:#[^\r\n]*)?\r?$",
    re.M,
)
_BLANKS_AND_COMMENTS = re.compile(rb"\A(?:[ \t]*(?:#[^\n]*)?\r?\n)*[ \t]*")
_PREFIXED_STRING = re.compile(rb"[A-Za-z]{1,2}[\"']")
_REST_OF_LINE_IS_EMPTY = re.compile(rb"[ \t]*(?:#[^\n]*)?(?:\r?\n|\Z)")
_BRACKETS = ((b"(", b")"), (b"[", b"]"), (b"{", b"}"))


def _read_quickly(source: bytes) -> tuple[int, int, str] | None:
    if source.startswith(b"\xef\xbb\xbf") or b"coding" in source[:300]:
        return None
    if source.count(b"version") != 1:
        return None
    match = _LITERAL_VERSION.search(source)
    if match is None:
        return None
    before = source[: match.start()]
    if before.count(b'"""') % 2 or before.count(b"'''") % 2:
        return None
    if any(before.count(opening) != before.count(closing) for opening, closing in _BRACKETS):
        return None
    first = _BLANKS_AND_COMMENTS.match(source).end()  # type: ignore[union-attr]
    description = ""
    if source[first : first + 1] in (b'"', b"'"):
        quote = source[first : first + 3]
        if quote not in (b'"""', b"'''"):
            return None  # a single-quoted docstring: let the parser read it
        end = source.find(quote, first + 3)
        if end == -1 or end > match.start():
            return None
        if not _REST_OF_LINE_IS_EMPTY.match(source, end + 3):
            return None  # """Doc.""".strip(), or implicit concatenation
        text = source[first + 3 : end]
        if b"\\" in text:
            return None
        lines = (line.strip() for line in text.decode("utf-8", "replace").splitlines())
        description = next((line for line in lines if line), "")
    elif _PREFIXED_STRING.match(source, first):
        return None  # r"""...""", u"...", b"...": let the parser read it
    return int(match.group(1)), before.count(b"\n") + 1, description


def _read_with_ast(
    folder: Path, filename: str, name: str, source: bytes, loader: MigrationLoader
) -> Migration | None:
    from . import syntax  # only for the files the quick reader leaves to the parser

    path = folder / name
    value, line, description = syntax.static_version(path, source)
    if value is syntax.MISSING:
        return None
    if value is syntax.DYNAMIC:
        # The same text as Migration.filename, which the run loads: one key, one execution.
        value = getattr(loader.load(filename), "version", syntax.MISSING)
        if value is syntax.MISSING:
            return None
    _check_version(value, path, line)
    return Migration(value, folder, name, description, checksum(source))


def _check_version(value: object, path: Path | str, line: int) -> None:
    where = f"{path}, line {line}" if line else str(path)
    if isinstance(value, bool) or not isinstance(value, int):
        raise DiscoveryError(
            f"{where}: version must be a whole number, not {value!r}",
            "Write, for example: version = 3",
        )
    if value < 1:
        raise DiscoveryError(
            f"{where}: version must be 1 or more, not {value}",
            "Versions start at 1; 0 means no migration applied.",
        )
    if value > MAX_VERSION:
        raise DiscoveryError(
            f"{where}: version {value} is too large to store (the most is {MAX_VERSION})",
            "A timestamp such as 20261125193000 is fine; use fewer digits.",
        )


def checksum(source: bytes) -> str:
    """SHA-256 of a file's bytes with line endings normalised, so a checkout on another OS
    does not look modified."""
    normalised = source.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    return _sha256(normalised).hexdigest()


def _load_sha256() -> Callable[[bytes], Any]:
    """The interpreter's built-in SHA-256 where it has one: hashlib would load OpenSSL, which
    weighs more than the rest of a status run together (see bench/)."""
    try:
        from _sha2 import sha256  # Python 3.12 and later
    except ImportError:
        try:
            from _sha256 import sha256  # Python 3.9 to 3.11
        except ImportError:
            from hashlib import sha256
    return sha256  # type: ignore[no-any-return]


_sha256 = _load_sha256()
