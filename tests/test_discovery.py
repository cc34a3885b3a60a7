"""Finding migrations: static versions, what is skipped, bad files, private imports, packages."""
from __future__ import annotations

import os
import py_compile
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Collection

import pytest

from link_migration.config import load_config
from link_migration.discovery import (
    Catalogue,
    MigrationLoader,
    MigrationsFolder,
    discover,
    locate_migrations,
)
from link_migration.errors import DiscoveryError
from link_migration.syntax import function_docstrings

if TYPE_CHECKING:
    from conftest import Project


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def _discover(folder: Path, exclude: Collection[Path] = ()) -> Catalogue:
    migrations = MigrationsFolder(folder)
    return discover(migrations, MigrationLoader(migrations), exclude=exclude)


def _counted(log: Path, counter: Path, version_expr: str, version_shown: int) -> str:
    """A migration that appends 'x' to ``counter`` every time its module is executed."""
    return f"""\
        with open({str(counter)!r}, "a") as _count:
            _count.write("x")
        version = {version_expr}

        def up():
            with open({str(log)!r}, "a") as log:
                log.write("up {version_shown}\\n")

        def down():
            with open({str(log)!r}, "a") as log:
                log.write("down {version_shown}\\n")
        """


def _assert_clean_error(result, *names: str) -> None:
    assert result.status == 2, (result.out, result.err)
    assert "link-migration: error:" in result.err
    assert "Traceback" not in result.err
    for name in names:
        assert name in result.err


# -- the version is read from the source, not by running it -------------------------------

LITERAL_FORMS = {
    "plain": "version = 3",
    "annotated": "version: int = 3",
    "reassigned literally": "version = 2\nversion = 3",
    "local named version in up()": "version = 3\n\ndef helper(context):\n    version = context.version\n    return version",
    "class attribute named version": "version = 3\n\nclass Table:\n    version = 2",
    "function local in an if block": "version = 3\n\nif True:\n    def helper():\n        version = 1\n        return version",
    "comprehension variable named version": "version = 3\nLABELS = [f'v{version}' for version in (1, 2)]",
}


@pytest.mark.parametrize("form", LITERAL_FORMS.values(), ids=LITERAL_FORMS.keys())
def test_literal_version_is_read_without_executing_the_file(tmp_path: Path, form: str) -> None:
    marker = tmp_path / "executed.txt"
    folder = tmp_path / "migrations"
    path = _write(folder, "0003_add_users.py", f'''\
"""Add the users table.

More detail that is not the description.
"""
import pathlib
pathlib.Path({str(marker)!r}).write_text("executed")
raise RuntimeError("discovery must not execute this file")

{form}


def up():
    """Create users."""


def down():
    """Drop users."""
''')
    catalogue = _discover(folder)
    assert [m.version for m in catalogue.migrations] == [3]
    migration = catalogue.migrations[0]
    assert migration.path == path.resolve()
    assert migration.description == "Add the users table."
    docstrings = function_docstrings(migration.path)
    assert (docstrings["up"], docstrings["down"]) == ("Create users.", "Drop users.")
    assert not marker.exists()


def test_migrations_not_in_the_plan_are_never_executed(project: Project) -> None:
    marker = project.root / "executed.txt"
    poison = f"open({str(marker)!r}, 'w').write('executed')\nraise RuntimeError('imported!')\n"
    project.add_migration(1, header=poison)
    project.add_migration(2)
    (project.root / "version.txt").write_text("1\n")

    dry = project.run("--dry-run")
    assert dry.status == 0, dry.err
    assert project.log() == []

    result = project.run()
    assert result.status == 0, result.err
    assert project.log() == ["up 2"]
    assert project.version() == "2"
    assert not marker.exists()


COMPUTED_FORMS = ["3 + 4", 'int("7")', "sum([3, 4])", "len('seven!!')"]


@pytest.mark.parametrize("expr", COMPUTED_FORMS)
def test_computed_version_is_imported_once_for_discovery_and_run(project: Project, expr: str) -> None:
    counter = project.root / "count.txt"
    project.add_migration(1)
    _write(project.migrations, "computed.py", _counted(project.log_path, counter, expr, 7))

    result = project.run()
    assert result.status == 0, result.err
    assert project.log() == ["up 1", "up 7"]
    assert project.version() == "7"
    assert counter.read_text() == "x"


def test_loader_returns_the_module_discovery_already_imported(tmp_path: Path) -> None:
    counter = tmp_path / "count.txt"
    folder = tmp_path / "migrations"
    _write(folder, "computed.py", _counted(tmp_path / "log.txt", counter, "3 + 4", 7))
    migrations = MigrationsFolder(folder)
    loader = MigrationLoader(migrations)
    catalogue = discover(migrations, loader)
    assert [m.version for m in catalogue.migrations] == [7]
    assert counter.read_text() == "x"
    for named_by in (catalogue.migrations[0].filename, catalogue.migrations[0].path):
        module = loader.load(named_by)
        assert module.version == 7
        assert counter.read_text() == "x"


@pytest.mark.parametrize("route", ["symlink", "dotdot"])
def test_computed_version_beside_conf_is_executed_once_whatever_path_names_conf(
    project: Project, route: str
) -> None:
    """No MIGRATIONS_DIR: the migrations live beside conf.py, reached through -c as given."""
    project.write_conf(migrations_dir=None)
    counter = project.root / "count.txt"
    _write(project.root, "computed.py", _counted(project.log_path, counter, "3 + 4", 7))
    if route == "symlink":
        (project.root / "link").symlink_to(project.root, target_is_directory=True)
        conf = os.path.join("link", "conf.py")
    else:
        (project.root / "sub").mkdir()
        conf = os.path.join("sub", "..", "conf.py")

    result = project.run("-c", conf, conf=False)
    assert result.status == 0, result.err
    assert project.log() == ["up 7"]
    assert counter.read_text() == "x", "the migration module was executed more than once"


def test_symlinked_computed_version_migration_is_executed_once(project: Project) -> None:
    counter = project.root / "count.txt"
    target = _write(project.root / "shared", "computed.py", _counted(project.log_path, counter, "3 + 4", 7))
    (project.migrations / "computed.py").symlink_to(target)

    result = project.run()
    assert result.status == 0, result.err
    assert project.log() == ["up 7"]
    assert counter.read_text() == "x", "the migration module was executed more than once"


# -- what is not a migration --------------------------------------------------------------

SKIPPED_NAMES = [
    "_private.py",
    "__init__.py",
    ".hidden.py",
    "notes.txt",
    "m5.py.bak",
    "m6.pyw",
    "noext",
    "sub/m8.py",
    "deeper/sub/m9.py",
    "conf.py",
    "settings.py",  # the conf file itself, passed in exclude
]


@pytest.mark.parametrize("content", ["valid", "broken"])
def test_skipped_names_are_neither_read_nor_listed(tmp_path: Path, content: str) -> None:
    folder = tmp_path / "migrations"
    marker = tmp_path / "executed.txt"
    for number, name in enumerate(SKIPPED_NAMES, start=1):
        if content == "valid":
            body = f"open({str(marker)!r}, 'a').write({name!r})\nversion = {number}\ndef up(): pass\n"
        else:
            body = f"version = {number}\ndef up(:\n"
        _write(folder, name, body)
    (folder / "dir.py").mkdir()
    real = _write(folder, "real.py", "version = 100\ndef up(): pass\n")
    conf = folder / "sub" / ".." / "settings.py"

    catalogue = _discover(folder, exclude=[conf])
    assert [m.path for m in catalogue.migrations] == [real.resolve()]
    assert catalogue.skipped == ()
    assert not marker.exists()


def test_conf_file_among_the_migrations_is_not_one_of_them(project: Project) -> None:
    """-c names a conf file that is not called conf.py, in the migrations folder itself."""
    project.conf.unlink()
    conf = _write(project.root, "settings.py", 'VERSION_FILE = "version.txt"\n')
    project.add_migration(1, name="../m1.py")

    result = project.run("-c", str(conf), conf=False)
    assert result.status == 0, result.err
    assert project.log() == ["up 1"]
    assert "settings.py" not in result.err


NO_VERSION = {
    "no version at all": "def helper():\n    return 1\n",
    "version only inside a function": "def helper():\n    version = 1\n    return version\n",
    "version only in a class": "class Helper:\n    version = 1\n",
}


@pytest.mark.parametrize("source", NO_VERSION.values(), ids=NO_VERSION.keys())
def test_file_without_version_is_skipped(tmp_path: Path, source: str) -> None:
    folder = tmp_path / "migrations"
    helper = _write(folder, "helpers.py", source)
    _write(folder, "m1.py", "version = 1\ndef up(): pass\n")
    catalogue = _discover(folder)
    assert [m.version for m in catalogue.migrations] == [1]
    assert catalogue.skipped == (helper,)


def test_cli_warns_about_a_file_without_version_and_runs_the_rest(project: Project) -> None:
    _write(project.migrations, "helpers.py", "def helper():\n    return 1\n")
    project.add_migration(1)
    result = project.run()
    assert result.status == 0, result.err
    assert project.log() == ["up 1"]
    assert "warning" in result.err
    assert "helpers.py" in result.err
    assert "helpers.py" not in result.out


# -- bad versions ---------------------------------------------------------------------------

BAD_VERSIONS = {
    "string": '"3"',
    "float": "1.5",
    "zero": "0",
    "negative": "-1",
    "True": "True",
    "False": "False",
    "None": "None",
    "list": "[3]",
    "computed string": "str(3)",
    "computed zero": "3 - 3",
    "computed float": "float(2)",
    "computed bool": "1 == 1",
    "computed negative": "-int('4')",
}


def _bad_version_source(expr: str) -> str:
    # The version is on line 5.
    return f'"""A migration with a bad version."""\nimport os\n\n\nversion = {expr}\n\ndef up():\n    pass\n'


@pytest.mark.parametrize("expr", BAD_VERSIONS.values(), ids=BAD_VERSIONS.keys())
def test_bad_version_is_an_error_naming_file_and_line(tmp_path: Path, expr: str) -> None:
    folder = tmp_path / "migrations"
    _write(folder, "m1.py", "version = 1\ndef up(): pass\n")
    bad = _write(folder, "bad.py", _bad_version_source(expr))
    with pytest.raises(DiscoveryError) as caught:
        _discover(folder)
    assert caught.value.exit_code == 2
    assert str(bad.resolve()) in caught.value.message
    assert "line 5" in caught.value.message


@pytest.mark.parametrize("expr", ['"3"', "1.5", "0", "-1", "True", "None"])
def test_cli_bad_version_exits_2_and_changes_nothing(project: Project, expr: str) -> None:
    project.add_migration(1)
    _write(project.migrations, "bad.py", _bad_version_source(expr))
    result = project.run()
    _assert_clean_error(result, "bad.py", "line 5")
    assert project.log() == []
    assert project.version() == ""


@pytest.mark.parametrize("second", ["version = 3", "version = 1 + 2"])
def test_two_files_with_the_same_version_are_an_error_naming_both(tmp_path: Path, second: str) -> None:
    folder = tmp_path / "migrations"
    first = _write(folder, "a_first.py", "version = 3\ndef up(): pass\n")
    other = _write(folder, "b_second.py", f"{second}\ndef up(): pass\n")
    with pytest.raises(DiscoveryError) as caught:
        _discover(folder)
    assert str(first.resolve()) in caught.value.message
    assert str(other.resolve()) in caught.value.message
    assert "3" in caught.value.message


def test_cli_duplicate_versions_exit_2_and_run_nothing(project: Project) -> None:
    project.add_migration(1)
    project.add_migration(2, name="two_a.py")
    project.add_migration(2, name="two_b.py")
    result = project.run()
    _assert_clean_error(result, "two_a.py", "two_b.py")
    assert project.log() == []
    assert project.version() == ""


SYNTAX_ERRORS = {
    "bad def": ("version = 2\n\ndef up(:\n    pass\n", 3),
    "bad indentation": ("version = 2\n\ndef up():\npass\n", 4),
    "unclosed bracket": ("version = 2\nx = [\n", 2),
}


@pytest.mark.parametrize(("source", "line"), SYNTAX_ERRORS.values(), ids=SYNTAX_ERRORS.keys())
def test_syntax_error_exits_2_naming_file_and_line_and_runs_nothing(
    project: Project, source: str, line: int
) -> None:
    project.add_migration(1)
    _write(project.migrations, "broken.py", source)
    result = project.run()
    _assert_clean_error(result, "broken.py", f"line {line}")
    assert project.log() == []
    assert project.version() == ""


# -- private module names -------------------------------------------------------------------


def test_migrations_named_like_modules_shadow_nothing(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json as stdlib_json

    # Take json out of sys.modules so that a migration registered under that name would be
    # what the next `import json` finds.
    monkeypatch.delitem(sys.modules, "json")
    monkeypatch.delitem(sys.modules, "users", raising=False)
    _write(project.migrations, "json.py", f"""\
        import json
        import sys

        version = 1

        def up():
            registered = sys.modules.get(__name__) is sys.modules[up.__module__]
            with open({str(project.log_path)!r}, "a") as log:
                log.write("up 1\\n" + json.dumps({{"ok": 1}}) + "\\n")
                log.write(f"{{__name__}} {{registered}}\\n")
        """)
    project.add_migration(2, name="users.py")

    result = project.run()
    assert result.status == 0, result.err
    first, payload, name_and_registered, second = project.log()
    assert (first, payload, second) == ("up 1", '{"ok": 1}', "up 2")
    name, registered = name_and_registered.split()
    # Registered under a private name, as an import would register it.
    assert registered == "True"
    assert name.startswith("_link_migration_") and name.endswith("_json")
    assert sys.modules[name].__file__ == str(project.migrations / "json.py")
    assert "users" not in sys.modules
    import json

    assert json.dumps([1]) == "[1]"
    assert json.__file__ == stdlib_json.__file__
    assert sys.modules["json"].__file__ == stdlib_json.__file__


def test_computed_version_json_migration_is_imported_privately(tmp_path: Path) -> None:
    import json as stdlib_json

    folder = tmp_path / "migrations"
    _write(folder, "json.py", "version = 2 * 3\ndef up(): pass\n")
    catalogue = _discover(folder)
    assert [m.version for m in catalogue.migrations] == [6]
    assert sys.modules["json"] is stdlib_json
    assert sys.modules["json"].dumps({}) == "{}"


# -- a broken migration stops the run before anything runs ----------------------------------

BROKEN = {
    "raises at import": (
        "version = {v}\nraise RuntimeError('boom at import')\ndef up(): pass\ndef down(): pass\n",
        ["RuntimeError", "boom at import", "line 2"],
    ),
    "imports a missing module": (
        "import os\nimport no_such_module_for_link_migration\nversion = {v}\ndef up(): pass\n",
        ["no_such_module_for_link_migration", "line 2"],
    ),
    "imports a missing name": (
        "version = {v}\n\nfrom os import no_such_name_for_link_migration\ndef up(): pass\n",
        ["no_such_name_for_link_migration", "line 3"],
    ),
    "no up()": ("version = {v}\ndef down(): pass\n", ["up"]),
    "up is not callable": ("version = {v}\nup = 5\n", ["up"]),
    "up takes two required arguments": ("version = {v}\ndef up(context, other): pass\n", ["up"]),
    "up takes a required keyword-only argument": ("version = {v}\ndef up(*, context): pass\n", ["up"]),
}


@pytest.mark.parametrize("start", [0, 1], ids=["fresh", "partway"])
@pytest.mark.parametrize(("source", "words"), BROKEN.values(), ids=BROKEN.keys())
def test_broken_migration_in_the_plan_stops_the_run_before_any_runs(
    project: Project, source: str, words: list[str], start: int
) -> None:
    for version in range(1, start + 2):
        project.add_migration(version)
    broken_version = start + 2
    _write(project.migrations, "broken.py", source.format(v=broken_version))
    if start:
        (project.root / "version.txt").write_text(f"{start}\n")

    result = project.run()
    _assert_clean_error(result, "broken.py", *words)
    assert project.log() == []
    assert project.version() == (str(start) if start else "")


def test_missing_down_matters_only_when_rolling_it_back(project: Project) -> None:
    project.add_migration(1, down=None)
    project.add_migration(2)
    assert project.run().status == 0
    assert project.log() == ["up 1", "up 2"]

    result = project.run("--down", "2")
    _assert_clean_error(result, "m1.py", "down")
    assert project.log() == ["up 1", "up 2"], "migration 2 was rolled back before the check"
    assert project.version() == "2"

    result = project.run("--to", "0")
    _assert_clean_error(result, "m1.py", "down")
    assert project.version() == "2"

    assert project.run("--down").status == 0
    assert project.log() == ["up 1", "up 2", "down 2"]
    assert project.version() == "1"

    result = project.run("--down")
    _assert_clean_error(result, "m1.py", "down")
    assert project.version() == "1"


def test_broken_down_is_an_error_only_when_rolling_back(project: Project) -> None:
    project.add_migration(1)
    _write(
        project.migrations,
        "m2.py",
        f"version = 2\ndef up():\n    open({str(project.log_path)!r}, 'a').write('up 2\\n')\n"
        "down = 'not a function'\n",
    )
    assert project.run().status == 0
    result = project.run("--to", "0")
    _assert_clean_error(result, "m2.py", "down")
    assert project.log() == ["up 1", "up 2"]
    assert project.version() == "2"


# -- a dotted package as MIGRATIONS_DIR -------------------------------------------------------


def _package_project(project: Project) -> Path:
    project.write_conf(migrations_dir="mypkg.migs")
    package = project.root / "mypkg" / "migs"
    _write(project.root / "mypkg", "__init__.py", "")
    _write(package, "__init__.py", '"""Migrations as a package."""\n')
    _write(package, "_helpers.py", f"""\
        def note(text):
            with open({str(project.log_path)!r}, "a") as log:
                log.write(text + "\\n")
        """)
    _write(package, "m1.py", """\
        from ._helpers import note

        version = 1

        def up():
            note("up 1 via helper")

        def down():
            note("down 1 via helper")
        """)
    _write(package, "0002_second.py", _counted(project.log_path, project.root / "count.txt", "1 + 1", 2))
    return package


def test_dotted_package_runs_from_another_directory_as_submodules(
    project: Project, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    package = _package_project(project)
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))

    result = project.run()
    assert result.status == 0, result.err
    assert project.log() == ["up 1 via helper", "up 2"]
    assert project.version() == "2"
    assert (project.root / "count.txt").read_text() == "x"
    assert "_helpers" not in result.err
    assert sys.modules["mypkg.migs.m1"].__file__ == str(package / "m1.py")
    assert sys.modules["mypkg.migs.0002_second"].__file__ == str(package / "0002_second.py")
    assert sys.modules["mypkg.migs._helpers"].__file__ == str(package / "_helpers.py")
    assert "m1" not in sys.modules


def test_dotted_package_migration_runs_its_source_not_a_stale_bytecode_cache(
    project: Project, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # A cache keyed on the file's time and size cannot see an edit that keeps both: the
    # migration must run what its checksum was taken from.
    package = _package_project(project)
    migration = package / "m1.py"
    py_compile.compile(str(migration), doraise=True)  # the cache an earlier import would leave
    stat = migration.stat()
    edited = migration.read_text().replace('"up 1 via helper"', '"up 1 as edited!"')
    assert len(edited) == len(migration.read_text())
    migration.write_text(edited)
    os.utime(migration, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))

    result = project.run("--up", "1")
    assert result.status == 0, result.err
    assert project.log() == ["up 1 as edited!"]
    assert sys.modules["mypkg.migs"].m1 is sys.modules["mypkg.migs.m1"]


def test_dotted_package_rolls_back_from_another_directory(
    project: Project, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    _package_project(project)
    (project.root / "version.txt").write_text("2\n")
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))

    result = project.run("--to", "0")
    assert result.status == 0, result.err
    assert project.log() == ["down 2", "down 1 via helper"]
    assert project.version() == "0"


def test_dotted_package_migration_with_a_dot_in_its_file_name_runs(
    project: Project, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """SPEC 1: the file name is free; it works in a plain folder, so it must in a package."""
    package = _package_project(project)
    _write(package, "v3.initial.py", f"""\
        version = 3

        def up():
            with open({str(project.log_path)!r}, "a") as log:
                log.write("up 3\\n")
        """)
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))

    result = project.run()
    assert result.status == 0, result.err
    assert project.log() == ["up 1 via helper", "up 2", "up 3"]
    assert project.version() == "3"


def test_plain_folder_migration_with_a_dot_in_its_file_name_runs(project: Project) -> None:
    project.add_migration(3, name="v3.initial.py")
    result = project.run()
    assert result.status == 0, result.err
    assert project.log() == ["up 3"]


def test_locate_migrations_resolves_a_dotted_package(
    project: Project, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    package = _package_project(project)
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    monkeypatch.chdir(elsewhere)
    config = load_config(str(project.conf), elsewhere, {})

    folder = locate_migrations(config, elsewhere)
    assert folder.package == "mypkg.migs"
    assert folder.path == package.resolve()
    catalogue = discover(folder, MigrationLoader(folder), exclude=[config.path])
    assert [(m.version, m.name) for m in catalogue.migrations] == [(1, "m1.py"), (2, "0002_second.py")]
    assert catalogue.skipped == ()


def test_locate_migrations_prefers_a_folder_beside_conf(project: Project, tmp_path_factory: pytest.TempPathFactory) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    (elsewhere / "migrations").mkdir()
    config = load_config(str(project.conf), elsewhere, {})
    folder = locate_migrations(config, elsewhere)
    assert folder.path == project.migrations.resolve()
    assert folder.package is None


def test_broken_migration_in_a_dotted_package_exits_2_before_any_runs(
    project: Project, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    package = _package_project(project)
    _write(package, "m3.py", "version = 3\nimport no_such_module_for_link_migration\ndef up(): pass\n")
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))

    result = project.run()
    _assert_clean_error(result, "no_such_module_for_link_migration", "m3.py")
    assert project.log() == []
    assert project.version() == ""


@pytest.mark.parametrize(
    "source",
    ["version = {[]: 1}\ndef up():\n    pass\n", "version = 4\ndel version\ndef up():\n    pass\n"],
)
def test_odd_version_expressions_get_a_message_not_a_traceback(project, source):
    (project.migrations / "odd.py").write_text(source)
    result = project.run()
    assert "Traceback" not in result.err
    assert result.status in (0, 2)
    assert "odd.py" in result.err


QUICK_SOURCES = {
    "plain": '"""Add users."""\nversion = 3\ndef up():\n    pass\n',
    "comment after": "version = 12  # the twelfth\ndef up():\n    pass\n",
    "annotated": "version: int = 4\ndef up():\n    pass\n",
    "crlf": '"""Add users."""\r\nversion = 5\r\ndef up():\r\n    pass\r\n',
    "leading comments": '# -*- coding: utf-8 -*-\n# note\n"""\n  Multi line.\n  More.\n"""\nversion = 6\n',
    "single-quoted docstring": "'''Add users.'''\nversion = 7\n",
    "no docstring": "import os\nversion = 8\n",
    "docstring mentions version": '"""Bump the version table."""\nversion = 9\n',
    "version inside a docstring only": '"""\nversion = 1\n"""\ndef up():\n    pass\n',
    "escape in docstring": '"""Tab\\there."""\nversion = 10\n',
    "zero": "version = 0\n",
    "indented": "if True:\n    version = 3\n",
    "non-ascii description": '"""Créer les données."""\nversion = 11\n',
}


@pytest.mark.parametrize("source", list(QUICK_SOURCES.values()), ids=list(QUICK_SOURCES))
def test_quick_reading_agrees_with_the_full_parse(tmp_path: Path, source: str) -> None:
    from link_migration.discovery import _read_quickly, _read_with_ast

    path = tmp_path / "m.py"
    path.write_bytes(source.encode())
    loader = MigrationLoader(MigrationsFolder(tmp_path))
    quick = _read_quickly(source.encode())
    try:
        full = _read_with_ast(tmp_path, str(path), path.name, source.encode(), loader)
        expected: object = None if full is None else (full.version, full.description)
    except DiscoveryError as error:
        expected = error
    if quick is not None:  # when it answers, it answers what the parse does
        assert not isinstance(expected, DiscoveryError) or quick[0] < 1
        if not isinstance(expected, DiscoveryError):
            assert (quick[0], quick[2]) == expected


def test_quick_reading_declines_what_it_cannot_be_sure_of() -> None:
    from link_migration.discovery import _read_quickly

    assert _read_quickly(QUICK_SOURCES["version inside a docstring only"].encode()) is None
    assert _read_quickly(QUICK_SOURCES["docstring mentions version"].encode()) is None
    assert _read_quickly(QUICK_SOURCES["escape in docstring"].encode()) is None
    assert _read_quickly(QUICK_SOURCES["plain"].encode()) == (3, 2, "Add users.")


MORE_QUICK_SOURCES = {
    "double-quoted docstring": '"Create users."\nversion = 3\n',
    "single-quoted docstring": "'Create users.'\nversion = 3\n",
    "raw docstring": 'r"""Create users."""\nversion = 3\n',
    "unicode-prefixed docstring": 'u"""Create users."""\nversion = 3\n',
    "byte-order mark": '\ufeff"""Doc."""\nversion = 3\n',
    "coding cookie": '# -*- coding: latin-1 -*-\n"""Caf\xe9."""\nversion = 3\n',
    "concatenated docstring": '"""Doc""" "more"\nversion = 3\n',
    "method on the docstring": '"""Doc.""".strip()\nversion = 3\n',
    "leading zero": "version = 012\n",
    "inside brackets": "x = dict(\nversion = 3\n)\n",
}


@pytest.mark.parametrize("source", list(MORE_QUICK_SOURCES.values()), ids=list(MORE_QUICK_SOURCES))
def test_quick_reading_leaves_odd_files_to_the_full_parse(source: str) -> None:
    from link_migration.discovery import _read_quickly

    encoding = "latin-1" if "coding: latin-1" in source else "utf-8"
    assert _read_quickly(source.encode(encoding)) is None


def test_a_version_too_large_to_store_is_refused_before_anything_runs(project: Project) -> None:
    project.add_migration(1)
    project.add_migration(2**63, name="huge.py")
    result = project.run()
    assert result.status == 2
    assert "huge.py" in result.err and "too large" in result.err
    assert project.log() == []


# -- symbolic links ------------------------------------------------------------------------


@pytest.mark.parametrize("command", [(), ("status",), ("check",), ("status", "--json"), ("--dry-run",)])
def test_dangling_symlink_is_an_error_naming_it_not_a_skipped_file(
    project: Project, command: tuple[str, ...]
) -> None:
    """Skipping it would leave that migration unrun while check stayed green."""
    project.add_migration(1)
    project.add_migration(2)
    (project.migrations / "m3.py").symlink_to("missing.py")

    result = project.run(*command)
    _assert_clean_error(result, str(project.migrations / "m3.py"), "does not exist", "missing.py")
    assert "symbolic link" in result.err
    assert project.log() == []
    assert project.version() == ""


def test_dangling_symlink_is_an_error_through_discover(tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    _write(folder, "m1.py", "version = 1\ndef up(): pass\n")
    (folder / "m2.py").symlink_to(tmp_path / "gone" / "m2.py")
    with pytest.raises(DiscoveryError) as caught:
        _discover(folder)
    assert str(folder / "m2.py") in caught.value.message
    assert "does not exist" in caught.value.message


LOOPS = {
    "self": [("a.py", "a.py")],
    "two files": [("a.py", "b.py"), ("b.py", "a.py")],
}


@pytest.mark.parametrize("links", LOOPS.values(), ids=LOOPS.keys())
@pytest.mark.parametrize("command", [(), ("status",), ("check",)])
def test_symlink_loop_names_the_file_not_the_folder(
    project: Project, links: list[tuple[str, str]], command: tuple[str, ...]
) -> None:
    project.add_migration(1)
    for name, target in links:
        (project.migrations / name).symlink_to(target)

    result = project.run(*command)
    _assert_clean_error(result, str(project.migrations / "a.py"), "loop")
    assert "cannot list the migrations folder" not in result.err
    assert project.log() == []


def test_symlink_to_a_migration_elsewhere_still_runs(project: Project) -> None:
    target = _write(project.root / "shared", "m2_real.py", "version = 2\ndef up(): pass\n")
    project.add_migration(1)
    (project.migrations / "m2.py").symlink_to(target)
    # A link to a folder is a subfolder, skipped as any other.
    (project.migrations / "sub.py").symlink_to(project.root / "shared", target_is_directory=True)

    result = project.run()
    assert result.status == 0, result.err
    assert project.version() == "2"
    check = project.run("check")
    assert check.status == 0, (check.out, check.err)


def test_dangling_symlink_with_a_skipped_name_is_still_skipped(project: Project) -> None:
    """Names that are never migrations (_x.py, .x.py, not .py) are not looked at at all."""
    project.add_migration(1)
    for name in ("_helper.py", ".hidden.py", "notes.txt"):
        (project.migrations / name).symlink_to("missing.py")
    result = project.run()
    assert result.status == 0, result.err
    assert project.log() == ["up 1"]
