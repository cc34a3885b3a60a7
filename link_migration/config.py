"""Finds and loads conf.py, by path or by dotted module name."""
from __future__ import annotations

import os
import sys
from pathlib import Path
from types import ModuleType
TYPE_CHECKING = False  # typing itself costs milliseconds to import; type checkers know this name

if TYPE_CHECKING:
    from typing import Any, Mapping

from .errors import ConfigError
from .importer import import_dotted, import_file, private_module_name

CONFIG_ENV = "LINK_MIGRATION_CONFIG"
DEFAULT_LOCK_TIMEOUT = 60.0
DEFAULT_LEASE_TERM = 30.0  # seconds: LOCK_LEASE, how long a SQL store's lock outlives its last renewal
_ABSENT = object()


class Wording:
    """How an error names what its caller passed: the command line's options, or the Python
    API's methods and parameters, so that neither kind of user is told of the other's. All
    but ``conf`` and ``out_of_order`` are format strings for the value given.

    A plain class, as Config is: every command imports this module.
    """

    __slots__ = ("conf", "conf_example", "to", "up", "down", "out_of_order", "status", "unlock",
                 "lock_timeout", "new_example", "no_timestamp", "resume", "resolve")

    def __init__(
        self, *, conf: str, conf_example: str, to: str, up: str, down: str, out_of_order: str,
        status: str, unlock: str, lock_timeout: str, new_example: str, no_timestamp: str,
        resume: str, resolve: str,
    ) -> None:
        self.conf = conf  # what names conf.py: "-c"
        self.conf_example = conf_example  # "-c {}", for a path or module name
        self.to = to  # "--to {}", for a target version
        self.up = up  # "--up {}", for a number of migrations
        self.down = down  # "--down {}", for a number of migrations
        self.out_of_order = out_of_order  # "--out-of-order"
        self.status = status  # how to look at the store: "`link-migration status`"
        self.unlock = unlock  # how to break the lock: "`link-migration unlock`"
        self.lock_timeout = lock_timeout  # "--lock-timeout"
        self.new_example = new_example  # how to write a new migration
        self.no_timestamp = no_timestamp  # how to ask for the sequential scheme
        self.resume = resume  # how to run a failed migration again: "--resume"
        self.resolve = resolve  # "resolve {} --applied", for a version (and --rolled-back)


CLI_WORDING = Wording(
    conf="-c", conf_example="-c {}", to="--to {}", up="--up {}", down="--down {}",
    out_of_order="--out-of-order", status="`link-migration status`",
    unlock="`link-migration unlock`", lock_timeout="--lock-timeout",
    new_example='link-migration new "add users table"', no_timestamp="drop --timestamp",
    resume="--resume", resolve="`link-migration resolve {} --applied` (or `--rolled-back`)",
)
API_WORDING = Wording(
    conf="the conf argument", conf_example="Migrator.from_config({!r})", to="migrate_to({})",
    up="upgrade(steps={})", down="downgrade(steps={})", out_of_order="out_of_order=True",
    status="Migrator.status()", unlock="Migrator.unlock()", lock_timeout="lock_timeout",
    new_example='Migrator.new("add users table")', no_timestamp="pass timestamp=False",
    resume="resume=True", resolve="Migrator.resolve({}, applied=True) (or applied=False)",
)


class Config:
    """A loaded conf module and the file it came from.

    A plain class rather than a dataclass: dataclasses imports inspect, and every command,
    `current` included, loads a Config.
    """

    __slots__ = ("module", "path")

    def __init__(self, module: ModuleType, path: Path) -> None:
        self.module = module
        self.path = path

    @property
    def folder(self) -> Path:
        """conf.py's folder: relative paths in conf.py are relative to it."""
        return self.path.parent

    def get(self, name: str, default: Any = None) -> Any:
        """conf.py's setting ``name``; a module ``__getattr__`` that fails is conf.py's error."""
        try:
            return getattr(self.module, name, default)
        except Exception as exc:
            raise ConfigError(
                f"reading {name} from {self.path} raised {type(exc).__name__}: {exc}",
                "Fix conf.py's module-level __getattr__.",
            ) from None

    def has(self, name: str) -> bool:
        return self.get(name, _ABSENT) is not _ABSENT

    def function(self, name: str, arguments: int, takes: str, definition: str) -> Any:
        """conf.py's function ``name`` (None where conf.py has none), checked to accept
        ``arguments`` positional arguments: a wrong one is found before any migration runs,
        not when it is first called. ``takes`` and ``definition`` word the error."""
        function = self.get(name)
        if function is None:
            return None
        if not callable(function):
            raise ConfigError(
                f"{name} in {self.path} is {function!r}, not a function",
                f"Define it with {definition}",
            )
        import inspect  # only where conf.py has functions: one of the slowest to import

        try:
            signature = inspect.signature(function)
        except (TypeError, ValueError):
            return function  # a builtin or C function: nothing to check
        try:
            signature.bind(*range(arguments))
        except TypeError:
            code = getattr(function, "__code__", None)
            where = f"{code.co_filename}, line {code.co_firstlineno}" if code else str(self.path)
            raise ConfigError(
                f"{where}: {name}{signature} must take {takes}", f"Define it as {definition}"
            ) from None
        return function


# With TARGETS, these settings may name the target as {target} (SPEC 11), and these
# functions of conf.py take the target's name as their first argument.
TARGET_SETTINGS = ("DATABASE", "VERSION_FILE", "DATABASE_URL", "SCHEMA_FILE")
TARGET_FUNCTIONS = ("get_connection", "get_scratch_connection", "get_current_version",
                    "set_current_version", "acquire_lock", "release_lock")


class TargetConfig(Config):
    """conf.py as one target of its fleet sees it: ``{target}`` filled in, and the store's
    and lock's functions given the target's name first. Everything else is conf.py's."""

    __slots__ = ("target",)

    def __init__(self, config: Config, target: str) -> None:
        super().__init__(config.module, config.path)
        self.target = target

    def get(self, name: str, default: Any = None) -> Any:
        value = super().get(name, default)
        if name in TARGET_SETTINGS and isinstance(value, str):
            return value.replace("{target}", self.target)
        if name in TARGET_FUNCTIONS and callable(value):
            import functools

            return functools.partial(value, self.target)
        return value

    def function(self, name: str, arguments: int, takes: str, definition: str) -> Any:
        if name not in TARGET_FUNCTIONS:
            return super().function(name, arguments, takes, definition)
        takes = f"the target's name, then {takes}" if arguments else "one argument, the target"
        definition = (definition.replace("()", "(target)") if "()" in definition
                      else definition.replace("(", "(target, ", 1))
        # Checked as conf.py wrote it, taking the target too; then given the target.
        function = Config(self.module, self.path).function(name, arguments + 1, takes,
                                                           definition)
        if function is None:
            return None
        import functools

        return functools.partial(function, self.target)


def targets_of(config: Config) -> list[str] | None:
    """TARGETS (SPEC 11): a list of names, or a function returning one; None without it."""
    value = config.get("TARGETS")
    if value is None:
        return None
    where = f"TARGETS in {config.path}"
    if callable(value):
        from .importer import user_location

        try:
            value = value()
        except Exception as exc:
            raise ConfigError(f"{where} raised {type(exc).__name__}: {exc} "
                              f"({user_location(exc)})", "Fix TARGETS().") from exc
        where = f"what TARGETS() in {config.path} returned"
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise ConfigError(f"{where} is {type(value).__name__} {value!r:.60}, not a list of names",
                          "Write TARGETS = ['tenant_a', 'tenant_b'], or a function returning "
                          "such a list.")
    seen: set[str] = set()
    for index, name in enumerate(value):
        if not isinstance(name, str) or not name.strip() or "\0" in name:
            raise ConfigError(f"{where}: item {index} is {name!r}, not a target's name",
                              "Each target is a non-empty string.")
        if name in seen:
            raise ConfigError(f"{where}: {name!r} is there twice", "List each target once.")
        seen.add(name)
    return list(value)


def load_config(
    spec: str | None, cwd: Path, environ: Mapping[str, str], *, wording: Wording = API_WORDING
) -> Config:
    """Load the conf named by ``-c`` (``spec``), else ``$LINK_MIGRATION_CONFIG``, else ./conf.py.

    ``spec`` is a path to a file, or a dotted module name importable from the working directory.
    conf.py's folder and the working directory are put on ``sys.path`` for the rest of the run, so
    that conf.py and the migrations can import their neighbours. ``wording`` says how errors
    name ``spec``: as the Python API's argument, or (CLI_WORDING) as ``-c``.
    """
    given_by = wording.conf
    if spec is not None and not spec.strip():
        raise ConfigError(
            f"{given_by} was given an empty name",
            f"Give the path of conf.py, or leave {given_by} out.",
        )
    if spec is None:
        spec = environ.get(CONFIG_ENV) or None
        given_by = f"${CONFIG_ENV}"
    if not spec:
        default = cwd / "conf.py"
        if not default.is_file():
            raise ConfigError(
                f"no configuration: {wording.conf} was not given, ${CONFIG_ENV} is not set, "
                f"and there is no conf.py in {cwd}",
                f"Give one with {wording.conf_example.format('path/to/conf.py')} "
                f"(or set {CONFIG_ENV}).",
            )
        spec, given_by = str(default), "default"
    return _load(spec, cwd, given_by, wording)


def _load(spec: str, cwd: Path, given_by: str, wording: Wording) -> Config:
    # abspath folds "sub/../conf.py" without resolving symlinks, for readable messages.
    path = Path(os.path.abspath(cwd / Path(spec).expanduser()))
    if path.is_dir():
        example = wording.conf_example.format(str(Path(spec) / "conf.py"))
        raise ConfigError(
            f"{spec} (from {given_by}) is a folder, not a conf file",
            f"Name the file itself, for example {example}",
        )
    looks_like_path = spec.endswith(".py") or "/" in spec or "\\" in spec
    if path.exists() or path.is_symlink() or looks_like_path:
        if not path.exists() and not path.is_symlink():
            raise ConfigError(
                f"conf file {path} (from {given_by}) does not exist",
                f"Check the path given with {given_by}.",
            )
        _make_importable(path.parent, cwd)
        module = import_file(path, private_module_name("conf", path), ConfigError, with_spec=True)
        _register_natural_name(module, path)
        return Config(module, path)
    if all(part.isidentifier() for part in spec.split(".")):
        _make_importable(cwd)
        module = import_dotted(spec, ConfigError, "conf module")
        file = getattr(module, "__file__", None)
        if not file:
            raise ConfigError(
                f"conf module {spec!r} is a namespace package, not a module",
                f"Name a module (a .py file), for example "
                f"{wording.conf_example.format('myproject.conf')}",
            )
        _make_importable(Path(file).parent)
        return Config(module, Path(file))
    raise ConfigError(
        f"{spec!r} (from {given_by}) is neither an existing file nor a module name",
        "Give the path of conf.py, or a dotted module name such as myproject.conf",
    )


def _make_importable(*folders: Path) -> None:
    """Append, not prepend: a migration called random.py beside conf.py must not stand in for
    the standard library's random when something imports it later (SPEC 3)."""
    for folder in folders:
        entry = str(folder)
        if entry not in sys.path:
            sys.path.append(entry)


def _register_natural_name(module: ModuleType, path: Path) -> None:
    """Let ``import conf`` in a migration find the conf module already loaded, rather than
    execute conf.py a second time: only when that import would find this very file (a conf
    file called json.py must not replace the standard library's json)."""
    if not path.stem.isidentifier() or path.stem in sys.modules:
        return
    import importlib.util

    try:
        spec = importlib.util.find_spec(path.stem)
    except (ImportError, ValueError):
        return
    if spec is not None and spec.origin and Path(spec.origin).resolve() == path.resolve():
        sys.modules[path.stem] = module
