"""Finds migration files and reads their versions without running them.

A migration's ``version`` is read from its source without running it: with two regular
expressions in the common case, else with ``ast``; the file is executed only when the version
is not a literal, or when the migration is about to run. Listing, planning and dry
runs therefore never execute user code they do not need.
"""
from __future__ import annotations

import ast
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Collection, NamedTuple

from .config import Config
from .errors import ConfigError, DiscoveryError
from .importer import import_dotted, import_file, private_module_name


class Migration(NamedTuple):
    """One migration file, as far as it can be known without running it.

    A NamedTuple, not a dataclass: a project may hold ten thousand of them (see bench/).
    """

    version: int
    path: Path
    description: str = ""
    checksum: str = ""

    @property
    def name(self) -> str:
        """The file name, which is how users know a migration."""
        return self.path.name


@dataclass(frozen=True)
class MigrationsFolder:
    """Where migrations live; ``package`` is set when MIGRATIONS_DIR was a dotted name."""

    path: Path
    package: str | None = None


@dataclass(frozen=True)
class Catalogue:
    """Every migration found in a folder, by ascending version, and the files skipped."""

    folder: MigrationsFolder
    migrations: tuple[Migration, ...]
    skipped: tuple[Path, ...] = ()


class MigrationLoader:
    """Imports migration modules, each at most once per run.

    One loader lives for one run: it is the only memory of which files were executed, so that
    a module imported during discovery is not executed again when it runs.
    """

    def __init__(self, folder: MigrationsFolder) -> None:
        self._folder = folder
        self._modules: dict[Path, ModuleType] = {}

    def load(self, path: Path) -> ModuleType:
        """The module of the migration at ``path``, which must be resolved (as discovery's
        paths are): one key per file, so that no file is executed twice."""
        module = self._modules.get(path)
        if module is None:
            if self._folder.package and "." not in path.stem:
                module = import_dotted(
                    f"{self._folder.package}.{path.stem}", DiscoveryError, "migration"
                )
            else:
                # A dot in the file name cannot be part of a dotted module name.
                module = import_file(path, private_module_name("migration", path), DiscoveryError)
            self._modules[path] = module
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
    """Read every migration in ``folder`` (not recursively), sorted by version.

    Skips names starting with ``_`` or ``.``, files named ``conf.py`` and the files in
    ``exclude`` (the conf file itself). Raises DiscoveryError for a bad or duplicated version.
    """
    base = folder.path.resolve()
    excluded = {p.resolve().name for p in exclude if p.resolve().parent == base}
    try:
        with os.scandir(base) as listing:
            names = sorted(
                entry.name
                for entry in listing
                if entry.name.endswith(".py")
                and not entry.name.startswith(("_", "."))
                and entry.name != "conf.py"
                and entry.name not in excluded
                and entry.is_file()
            )
    except OSError as exc:
        raise DiscoveryError(
            f"cannot list the migrations folder {folder.path}: {exc.strerror or exc}",
            "Check that the folder exists and is readable.",
        ) from None
    found: dict[int, Migration] = {}
    skipped: list[Path] = []
    for name in names:
        path = base / name
        migration = _read_migration(path, loader)
        if migration is None:
            skipped.append(path)
            continue
        clash = found.get(migration.version)
        if clash is not None:
            raise DiscoveryError(
                f"two migrations have version {migration.version}: {clash.path} and {path}",
                "Give each migration its own version.",
            )
        found[migration.version] = migration
    migrations = tuple(found[v] for v in sorted(found))
    return Catalogue(folder, migrations, tuple(skipped))


_MISSING = object()
_DYNAMIC = object()
MAX_VERSION = 2**63 - 1  # what an SQL INTEGER column holds


def _read_migration(path: Path, loader: MigrationLoader) -> Migration | None:
    """Read one file's version statically; None when the file has no ``version`` at all.

    ``path`` is resolved already: its folder was, and its name is a plain file in it.
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
        return Migration(version, path, description, checksum(source))
    return _read_with_ast(path, source, loader)


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


def _read_with_ast(path: Path, source: bytes, loader: MigrationLoader) -> Migration | None:
    try:
        tree = ast.parse(source, str(path))
    except (SyntaxError, ValueError) as exc:
        line = getattr(exc, "lineno", None)
        where = f"{path}, line {line}" if line else str(path)
        raise DiscoveryError(
            f"{where}: syntax error: {getattr(exc, 'msg', exc)}", f"Fix the syntax of {path.name}."
        ) from None
    value, line = _static_version(tree)
    if value is _MISSING:
        return None
    if value is _DYNAMIC:
        value = getattr(loader.load(path), "version", _MISSING)
        if value is _MISSING:
            return None
    _check_version(value, path, line)
    description = (ast.get_docstring(tree) or "").strip().splitlines()
    return Migration(
        version=value,
        path=path,
        description=description[0] if description else "",
        checksum=checksum(source),
    )


def function_docstrings(migration: Migration) -> dict[str, str]:
    """The docstrings of a migration's top-level functions, read from its source without
    running it; for dry runs, so not read during discovery."""
    try:
        tree = ast.parse(migration.path.read_bytes(), str(migration.path))
    except (OSError, SyntaxError, ValueError):
        return {}
    return {
        node.name: ast.get_docstring(node) or ""
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    }


def _static_version(tree: ast.Module) -> tuple[object, int]:
    """(value, line) of a top-level literal ``version``; _DYNAMIC or _MISSING otherwise."""
    literal: object = _MISSING
    line = 0
    for node in tree.body:
        target_value = _simple_assignment(node)
        if target_value is not None:
            try:
                literal = ast.literal_eval(target_value)
            except Exception:  # ValueError, TypeError ({[]: 1}), RecursionError, ...
                return _DYNAMIC, node.lineno
            line = node.lineno
        elif _binds_version(node):
            return _DYNAMIC, node.lineno
    return literal, line


def _simple_assignment(node: ast.stmt) -> ast.expr | None:
    """The value of ``version = ...`` / ``version: int = ...``, else None."""
    if isinstance(node, ast.Assign) and len(node.targets) == 1:
        target = node.targets[0]
        if isinstance(target, ast.Name) and target.id == "version":
            return node.value
    if isinstance(node, ast.AnnAssign) and node.value is not None and node.simple:
        if isinstance(node.target, ast.Name) and node.target.id == "version":
            return node.value
    return None


def _binds_version(node: ast.stmt) -> bool:
    """Whether a module-level statement may bind ``version`` some other way.

    Looks through blocks (if, try, for, with) but not into the nested scopes of functions,
    classes, lambdas and comprehensions, whose names are their own, except through ``global``.
    """
    pending: list[ast.AST] = [node]
    while pending:
        current = pending.pop()
        if isinstance(current, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if current.name == "version" or _declares_global_version(current):
                return True
            continue
        if isinstance(current, _NESTED_SCOPES):
            # A walrus inside a comprehension binds in the enclosing (module) scope.
            if any(
                isinstance(child, ast.NamedExpr) and child.target.id == "version"
                for child in ast.walk(current)
            ):
                return True
            continue
        if isinstance(current, ast.Name) and current.id == "version":
            if isinstance(current.ctx, (ast.Store, ast.Del)):
                return True
        if isinstance(current, ast.alias) and ((current.asname or current.name) == "version"
                                               or current.name == "*"):
            return True
        pending.extend(ast.iter_child_nodes(current))
    return False


_NESTED_SCOPES = (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def _declares_global_version(scope: ast.AST) -> bool:
    return any(
        isinstance(child, ast.Global) and "version" in child.names for child in ast.walk(scope)
    )


def _check_version(value: object, path: Path, line: int) -> None:
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
    return hashlib.sha256(normalised).hexdigest()
