"""Imports user code (conf.py, migrations) and turns every way it can fail into our errors.

Both conf.py and migrations come through here so that a syntax error, a failing import or an
exception at import time always gets the same clear message naming the file and line.
"""
from __future__ import annotations

import importlib
import io
import os
import re
import sys
import zlib
from pathlib import Path
from types import ModuleType

from .errors import LinkMigrationError


_NOT_IN_A_NAME = re.compile(r"[^0-9A-Za-z_]")


def private_module_name(kind: str, path: str | os.PathLike[str]) -> str:
    """A module name no real package uses, unique per file, so that a user's file called
    json.py or users.py shadows nothing."""
    filename = os.fspath(path)
    stem = os.path.splitext(os.path.basename(filename))[0]
    return f"_link_migration_{kind}_{zlib.crc32(filename.encode()):08x}_{_NOT_IN_A_NAME.sub('_', stem)}"


def import_file(
    path: str | os.PathLike[str],
    module_name: str,
    error_class: type[LinkMigrationError],
    *,
    with_spec: bool = False,
) -> ModuleType:
    """Import the Python file at ``path`` as ``module_name``.

    The module is registered in ``sys.modules`` under that (private, unique) name while and
    after it runs, as a normal import would, and removed again if it fails. SystemExit raised
    at import is an error like any other: user code does not get to end the run silently.
    The source is compiled every time, never taken from __pycache__: a bytecode cache keyed on
    mtime and size could run an edited migration's old code while its new checksum is recorded.
    A migration's module is built by hand, with ``__name__`` and ``__file__`` but no spec or
    loader: it weighs about half what importlib's does, and a plan may hold thousands (see
    bench/). ``with_spec`` (for conf.py, and for a migration that is a package's submodule)
    makes it as importlib does, so that relative imports, importlib.util.find_spec() and
    pkgutil.get_data() work with it. The path may be a plain
    string: a run imports thousands, and a Path object each would cost time for nothing.
    """
    filename = os.fspath(path)
    try:
        with io.open_code(filename) as handle:  # as importlib reads code: audit hooks see it
            source = handle.read()
        code = compile(source, filename, "exec", dont_inherit=True)
    except OSError as exc:
        raise error_class(
            f"cannot read {filename}: {exc.strerror or exc}",
            "Check that the file exists and is readable.",
        ) from None
    except (SyntaxError, ValueError, ImportError) as exc:
        raise error_class(
            _syntax_message(Path(filename), exc), f"Fix the syntax of {os.path.basename(filename)}."
        ) from None
    if with_spec:
        module = _module_with_spec(module_name, filename)
    else:
        module = ModuleType(module_name)
        module.__file__ = filename
    sys.modules[module_name] = module
    try:
        exec(code, module.__dict__)
    except (Exception, SystemExit) as exc:
        sys.modules.pop(module_name, None)
        raise _import_failure(exc, error_class, filename, Path(filename)) from None
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return module


def _module_with_spec(module_name: str, filename: str) -> ModuleType:
    import importlib.machinery
    import importlib.util

    loader = importlib.machinery.SourceFileLoader(module_name, filename)
    spec = importlib.util.spec_from_loader(module_name, loader, origin=filename)
    assert spec is not None
    spec.has_location = True
    return importlib.util.module_from_spec(spec)


def import_dotted(name: str, error_class: type[LinkMigrationError], what: str) -> ModuleType:
    """Import the module ``name``; ``what`` says what it is for the message ("conf module")."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing and (name == missing or name.startswith(missing + ".")):
            raise error_class(
                f"{what} {name!r} cannot be imported: there is no module named {missing!r}",
                "Check the name, and that its folder is beside conf.py or in the working directory.",
            ) from None
        raise _import_failure(exc, error_class, f"{what} {name!r}") from None
    except SyntaxError as exc:
        raise error_class(
            _syntax_message(Path(exc.filename or name), exc), "Fix the syntax error."
        ) from None
    except (Exception, SystemExit) as exc:
        raise _import_failure(exc, error_class, f"{what} {name!r}") from None


def _syntax_message(path: Path, exc: Exception) -> str:
    if isinstance(exc, SyntaxError):
        return f"{path}, line {exc.lineno}: syntax error: {exc.msg}"
    return f"{path}: cannot be compiled: {exc}"


def _import_failure(
    exc: BaseException,
    error_class: type[LinkMigrationError],
    subject: str,
    path: Path | None = None,
) -> LinkMigrationError:
    """Describe an exception raised while a user module was executed, with its file and line."""
    where = user_location(exc, path)
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        return error_class(
            f"{where}: {subject} imports {exc.name!r}, which is not installed",
            f"Install {exc.name!r}, or remove the import.",
        )
    return error_class(
        f"{where}: importing {subject} raised {type(exc).__name__}: {exc}",
        "Fix the code at that line; it runs when the file is imported.",
    )


def user_location(exc: BaseException, path: Path | None = None) -> str:
    """The ``file, line N`` in the user's code where ``exc`` arose.

    Prefers the innermost frame inside ``path``, then the innermost frame outside the standard
    library and installed packages: an error that surfaces in pathlib should point at the line
    of conf.py that called it.
    """
    import traceback  # only on error paths

    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith("<")]
    if path is not None:
        inside = [f for f in frames if Path(f.filename) == path]
        frames = inside or frames
    own = [f for f in frames if not f.filename.startswith(_library_folders())]
    chosen = (own or frames or [None])[-1]
    if chosen is None:
        return str(path) if path else "<unknown>"
    return f"{chosen.filename}, line {chosen.lineno}"


def _library_folders() -> tuple[str, ...]:
    import sysconfig  # only on error paths

    paths = sysconfig.get_paths()
    folders = {paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")}
    return tuple(sorted(folders)) + (str(Path(__file__).resolve().parent),)
