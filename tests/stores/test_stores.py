"""The file store (VERSION_FILE) and the user-function store (get_current_version /
set_current_version), through the real CLI (SPEC sections 2 and 6)."""
from __future__ import annotations

import ast
import os
import re
import textwrap
from pathlib import Path

import pytest

from checks import assert_error


def line_of(path: Path, marker: str) -> int:
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if marker in line:
            return number
    raise AssertionError(f"{marker!r} not in {path}")


# ==================================================================== VERSION_FILE


def test_missing_version_file_is_zero_and_created_by_first_migration(project):
    project.add_migration(1)
    project.add_migration(2)
    path = project.root / "version.txt"
    current = project.run("current")
    assert current.status == 0, current.err
    assert current.out == "0\n"
    assert not path.exists()  # reading does not create it
    result = project.run()
    assert result.status == 0, result.err
    assert project.log() == ["up 1", "up 2"]
    assert path.exists()
    assert path.read_text().strip() == "2"


def test_version_file_holds_one_integer(project):
    project.add_migration(3)
    project.add_migration(12)
    assert project.run().status == 0
    raw = (project.root / "version.txt").read_text()
    assert re.fullmatch(r"12\n?", raw), repr(raw)


def test_version_file_rewritten_after_down(project):
    project.add_migration(1)
    project.add_migration(5)
    assert project.run().status == 0
    result = project.run("--down")
    assert result.status == 0, result.err
    assert re.fullmatch(r"1\n?", (project.root / "version.txt").read_text())
    result = project.run("--down")
    assert result.status == 0, result.err
    assert re.fullmatch(r"0\n?", (project.root / "version.txt").read_text())
    assert project.log() == ["up 1", "up 5", "down 5", "down 1"]


def test_existing_version_file_is_read(project):
    (project.root / "version.txt").write_text("2\n")
    for version in (1, 2, 3):
        project.add_migration(version)
    result = project.run()
    assert result.status == 0, result.err
    assert project.log() == ["up 3"]
    assert project.version() == "3"


def test_version_file_relative_to_conf_folder_from_other_cwd(project, elsewhere):
    (project.root / "state").mkdir()
    (elsewhere / "state").mkdir()
    project.write_conf('VERSION_FILE = "state/version.txt"\n')
    project.add_migration(1)
    result = project.run()
    assert result.status == 0, result.err
    assert (project.root / "state" / "version.txt").read_text().strip() == "1"
    assert not (elsewhere / "state" / "version.txt").exists()
    current = project.run("current")
    assert current.out == "1\n"


@pytest.mark.parametrize("content", ["abc", "-3", "1.5"])
def test_garbage_version_file(project, content):
    path = project.root / "version.txt"
    path.write_text(content + "\n")
    project.add_migration(1)
    project.add_migration(2)
    result = project.run()
    assert_error(result, str(path), content)
    assert project.log() == []
    assert path.read_text() == content + "\n"


@pytest.mark.parametrize("content", ["abc", "-3", "1.5"])
def test_garbage_version_file_current(project, content):
    path = project.root / "version.txt"
    path.write_text(content)
    result = project.run("current")
    assert_error(result, str(path), content)
    assert result.out == ""
    assert path.read_text() == content


def test_version_file_in_missing_folder(project):
    project.write_conf('VERSION_FILE = "no_such_folder/version.txt"\n')
    project.add_migration(1)
    result = project.run()
    assert_error(result, "no_such_folder")
    assert project.log() == []
    assert not (project.root / "no_such_folder").exists()


def test_version_file_in_missing_folder_current(project):
    project.write_conf('VERSION_FILE = "no_such_folder/version.txt"\n')
    result = project.run("current")
    assert_error(result, "no_such_folder")
    assert result.out == ""


def test_no_temporary_files_left(project):
    state = project.root / "state"
    state.mkdir()
    project.write_conf('VERSION_FILE = "state/version.txt"\n')
    for version in (1, 2, 3):
        project.add_migration(version)
    assert project.run().status == 0
    assert sorted(os.listdir(state)) == [".link-migration.lock", "version.txt"]  # the lock stays, empty
    assert project.run("--down", "2").status == 0
    assert sorted(os.listdir(state)) == [".link-migration.lock", "version.txt"]  # the lock stays, empty
    assert (state / "version.txt").read_text().strip() == "1"


def test_failing_third_migration_leaves_second_version(project):
    state = project.root / "state"
    state.mkdir()
    project.write_conf('VERSION_FILE = "state/version.txt"\n')
    project.add_migration(1)
    project.add_migration(2)
    project.add_migration(3, up="raise RuntimeError('third fails')")
    result = project.run()
    assert result.status == 1, result.err
    assert "third fails" in result.err
    assert project.log() == ["up 1", "up 2", "up 3"]
    assert re.fullmatch(r"2\n?", (state / "version.txt").read_text())
    assert sorted(os.listdir(state)) == [".link-migration.lock", "version.txt"]  # the lock stays, empty


# ==================================================================== user functions

FUNCTIONS_CONF = '''\
import pathlib

HERE = pathlib.Path(__file__).resolve().parent
STATE = HERE / "state.txt"
GET_CALLS = HERE / "get_calls.txt"
SET_CALLS = HERE / "set_calls.txt"


def get_current_version():
    with open(GET_CALLS, "a") as calls:
        calls.write("get\\n")
{get_body}


def set_current_version(*args, **kwargs):
    with open(SET_CALLS, "a") as calls:
        calls.write(repr((args, kwargs, [type(a).__name__ for a in args])) + "\\n")
{set_body}
'''

DEFAULT_GET = """\
if not STATE.exists():
    return None
return int(STATE.read_text())
"""

DEFAULT_SET = "STATE.write_text(str(args[0]))\n"


def functions_conf(project, get: str = DEFAULT_GET, set_: str = DEFAULT_SET, extra: str = "") -> Path:
    text = FUNCTIONS_CONF.format(
        get_body=textwrap.indent(textwrap.dedent(get), "    "),
        set_body=textwrap.indent(textwrap.dedent(set_), "    "),
    ) + textwrap.dedent(extra)
    return project.write_conf(text)


def get_calls(project) -> int:
    path = project.root / "get_calls.txt"
    return len(path.read_text().splitlines()) if path.exists() else 0


def set_calls(project) -> list[tuple]:
    path = project.root / "set_calls.txt"
    if not path.exists():
        return []
    return [ast.literal_eval(line) for line in path.read_text().splitlines()]


def set_versions(project) -> list[int]:
    calls = set_calls(project)
    for args, kwargs, types in calls:
        assert len(args) == 1 and kwargs == {} and types == ["int"], (args, kwargs, types)
    return [args[0] for args, _, _ in calls]


def test_function_store_round_trip(project):
    functions_conf(project)
    project.add_migration(1)
    project.add_migration(2)
    result = project.run()
    assert result.status == 0, result.err
    assert project.log() == ["up 1", "up 2"]
    assert (project.root / "state.txt").read_text() == "2"
    assert not (project.root / "version.txt").exists()
    current = project.run("current")
    assert current.status == 0, current.err
    assert current.out == "2\n"


@pytest.mark.parametrize(
    "value, expected",
    [(7, 7), ("7", 7), (" 7\n", 7), (None, 0)],
    ids=["int", "digits", "padded-digits", "None"],
)
def test_get_return_values_accepted(project, value, expected):
    functions_conf(project, get="return VALUE\n", extra=f"\nVALUE = {value!r}\n")
    for version in (6, 7, 8):
        project.add_migration(version)
    current = project.run("current")
    assert current.status == 0, current.err
    assert current.out == f"{expected}\n"
    result = project.run()
    assert result.status == 0, result.err
    pending = [v for v in (6, 7, 8) if v > expected]
    assert project.log() == [f"up {v}" for v in pending]
    assert set_versions(project) == pending


@pytest.mark.parametrize(
    "value", [-1, 1.5, "abc", True, []], ids=["negative", "float", "letters", "bool", "list"]
)
def test_get_return_values_rejected(project, value):
    functions_conf(project, get="return VALUE\n", extra=f"\nVALUE = {value!r}\n")
    project.add_migration(1)
    project.add_migration(2)
    result = project.run()
    assert_error(result, repr(value), "get_current_version")
    assert project.log() == []
    assert set_calls(project) == []
    assert get_calls(project) == 1


@pytest.mark.parametrize("value", [-1, 1.5, "abc", True, []], ids=["negative", "float", "letters", "bool", "list"])
def test_get_return_values_rejected_by_current(project, value):
    functions_conf(project, get="return VALUE\n", extra=f"\nVALUE = {value!r}\n")
    result = project.run("current")
    assert_error(result, repr(value))
    assert result.out == ""


@pytest.mark.parametrize("exception", ["ValueError", "TypeError"])
def test_get_raising(project, exception):
    conf = functions_conf(project, get=f"raise {exception}('no version table here')\n")
    line = line_of(conf, "no version table here")
    project.add_migration(1)
    result = project.run()
    assert_error(
        result, exception, "no version table here", "get_current_version", f"{conf}, line {line}"
    )
    assert project.log() == []
    assert set_calls(project) == []
    assert get_calls(project) == 1  # a TypeError is not a reason to call it another way


def test_get_raising_inside_library_call_names_conf_line(project):
    # The README's own get_current_version reads a file; with pathlib a missing file raises
    # from inside pathlib.py. The message must still point at the line of conf.py.
    conf = functions_conf(project, get="return int(STATE.read_text())  # reads state\n")
    line = line_of(conf, "# reads state")
    project.add_migration(1)
    result = project.run()
    assert_error(result, "FileNotFoundError", f"{conf}, line {line}")
    assert project.log() == []
    assert set_calls(project) == []


@pytest.mark.parametrize("exception", ["OSError", "TypeError"])
def test_set_raising(project, exception):
    functions_conf(project, set_=f"raise {exception}('cannot record')\n")
    project.add_migration(1)
    project.add_migration(2)
    result = project.run()
    assert_error(result, "cannot record", exception, "set_current_version", "ran", status=1)
    # says that the migration ran and that recording its version failed
    assert re.search(r"\bran\b", result.err), result.err
    assert re.search(r"recording version 1\b.*\bfailed", result.err), result.err
    assert project.log() == ["up 1"]  # ran once, not retried, and nothing after it
    assert set_versions(project) == [1]
    assert get_calls(project) == 1
    assert not (project.root / "state.txt").exists()


def test_set_called_with_one_int_after_every_migration(project):
    functions_conf(project)
    for version in (1, 5, 10):
        project.add_migration(version)
    result = project.run()
    assert result.status == 0, result.err
    assert set_versions(project) == [1, 5, 10]
    result = project.run("--down")
    assert result.status == 0, result.err
    assert set_versions(project) == [1, 5, 10, 5]
    result = project.run("--to", "0")
    assert result.status == 0, result.err
    assert set_versions(project) == [1, 5, 10, 5, 1, 0]
    assert project.log() == ["up 1", "up 5", "up 10", "down 10", "down 5", "down 1"]
    assert (project.root / "state.txt").read_text() == "0"


def test_set_called_per_step_of_multi_step_down(project):
    functions_conf(project)
    for version in (2, 4, 8):
        project.add_migration(version)
    assert project.run().status == 0
    result = project.run("--down", "2")
    assert result.status == 0, result.err
    assert set_versions(project) == [2, 4, 8, 4, 2]
    assert project.log()[-2:] == ["down 8", "down 4"]


def test_set_with_readme_signature(project):
    # The README's own pair, with its exact signatures (set returns a value, which is ignored).
    project.write_conf(
        """\
        import os
        MIGRATIONS_ABS_PATH = os.path.abspath(os.path.dirname(__file__))

        def get_current_version():
            path = "%s/current_version.txt" % MIGRATIONS_ABS_PATH
            if not os.path.exists(path):
                return 0
            with open(path, "r+") as f:
                content = f.read()
            return int(content)

        def set_current_version(version):
            path = "%s/current_version.txt" % MIGRATIONS_ABS_PATH
            with open(path, "w") as f:
                content = f.write(f'{version}')
            return int(content)
        """
    )
    project.add_migration(1)
    project.add_migration(2)
    result = project.run()
    assert result.status == 0, result.err
    assert project.log() == ["up 1", "up 2"]
    assert (project.root / "current_version.txt").read_text() == "2"
    assert project.run("current").out == "2\n"


def test_get_called_once_per_run(project):
    functions_conf(project)
    for version in (1, 2, 3):
        project.add_migration(version)
    assert project.run().status == 0
    assert get_calls(project) == 1
    assert project.run("current").out == "3\n"
    assert get_calls(project) == 2
    nothing = project.run()
    assert nothing.status == 0
    assert get_calls(project) == 3
    assert project.run("--dry-run", "--down").status == 0
    assert get_calls(project) == 4
    assert project.run("--down", "3").status == 0
    assert get_calls(project) == 5
    assert set_versions(project) == [1, 2, 3, 2, 1, 0]


@pytest.mark.parametrize(
    "present, missing",
    [("get_current_version", "set_current_version"), ("set_current_version", "get_current_version")],
)
def test_only_one_function_defined(project, present, missing):
    args = "version" if present.startswith("set") else ""
    project.write_conf(f"def {present}({args}):\n    return 0\n")
    project.add_migration(1)
    result = project.run()
    assert_error(result, missing)
    assert project.log() == []


def test_user_functions_come_first_when_conf_also_names_a_built_in_store(project):
    # SPEC 2's order: conf.py may keep a VERSION_FILE of its own for its functions to use.
    functions_conf(project, extra='\nVERSION_FILE = "version.txt"\n')
    project.add_migration(1)
    result = project.run()
    assert result.status == 0, result.err
    assert project.log() == ["up 1"]
    assert set_calls(project) == [((1,), {}, ["int"])]
    assert not (project.root / "version.txt").exists()


@pytest.mark.parametrize(
    "body, names",
    [
        ('DATABASE = "app.db"\nVERSION_FILE = "version.txt"\n', ("DATABASE", "VERSION_FILE")),
        ('import sqlite3\ndef get_connection():\n    return sqlite3.connect("x.db")\n'
         'DATABASE = "app.db"\n', ("get_connection", "DATABASE")),
    ],
)
def test_two_built_in_store_kinds_at_once(project, body, names):
    project.write_conf(body)
    project.add_migration(1)
    result = project.run()
    assert_error(result, *names)
    assert project.log() == []
    assert not (project.root / "version.txt").exists()
    assert not (project.root / "app.db").exists()


@pytest.mark.parametrize(
    "get, set_",
    [
        ("def get_current_version(x):\n    return 0\n", "def set_current_version(v):\n    pass\n"),
        ("def get_current_version():\n    return 0\n", "def set_current_version():\n    pass\n"),
        ("def get_current_version():\n    return 0\n", "def set_current_version(a, b):\n    pass\n"),
    ],
)
def test_store_function_signatures_are_checked_before_anything_runs(project, get, set_):
    project.write_conf(get + set_)
    project.add_migration(1)
    result = project.run()
    assert_error(result, "conf.py, line", "must take")
    assert project.log() == []


def test_version_file_keeps_its_permissions(project):
    project.add_migration(1)
    version_file = project.root / "version.txt"
    version_file.write_text("0")
    version_file.chmod(0o644)
    assert project.run().status == 0
    assert version_file.stat().st_mode & 0o777 == 0o644


def test_no_store_at_all(project):
    project.write_conf("X = 1\n")
    project.add_migration(1)
    result = project.run()
    assert_error(
        result,
        "get_current_version",
        "set_current_version",
        "get_connection",
        "DATABASE",
        "VERSION_FILE",
    )
    assert project.log() == []


def test_no_store_at_all_current(project):
    project.write_conf("X = 1\n")
    result = project.run("current")
    assert_error(result, "get_current_version", "get_connection", "DATABASE", "VERSION_FILE")
    assert result.out == ""


# ==================================================================== current


def test_current_prints_number_alone_for_file_store(project):
    for version in (1, 2, 9):
        project.add_migration(version)
    assert project.run().status == 0
    result = project.run("current")
    assert result.status == 0, result.err
    assert result.out == "9\n"
    assert result.err == ""


def test_current_prints_number_alone_for_function_store(project):
    functions_conf(project)
    (project.root / "state.txt").write_text("4")
    project.add_migration(4)
    result = project.run("current")
    assert result.status == 0, result.err
    assert result.out == "4\n"
    assert result.err == ""
    assert project.log() == []
    assert set_calls(project) == []
