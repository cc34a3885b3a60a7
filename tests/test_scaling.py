"""Properties behind the benchmark figures that do not depend on the machine (bench/ times
them): what is executed, opened, listed and committed, counted rather than timed."""
from __future__ import annotations

import os
import sqlite3
import sys
from pathlib import Path
from typing import Iterator

import pytest

COUNT = 120


class _Audit:
    """Counts the files opened and the folders listed while ``active``, through an audit hook
    (observation only: Python's own events, nothing of ours replaced)."""

    def __init__(self) -> None:
        self.active = False
        self.opened: dict[str, int] = {}
        self.listed: dict[str, int] = {}

    def __call__(self, event: str, args: tuple) -> None:
        if not self.active:
            return
        if event == "open" and isinstance(args[0], str) and _reads_only(args[2]):
            self.opened[args[0]] = self.opened.get(args[0], 0) + 1
        elif event == "os.scandir":
            self.listed[str(args[0])] = self.listed.get(str(args[0]), 0) + 1


def _reads_only(flags: object) -> bool:
    """Whether open flags are a plain read: writes (and, on 3.9, the second event a write
    raises) are not what these tests count."""
    return isinstance(flags, int) and not flags & (os.O_WRONLY | os.O_RDWR)


_AUDIT = _Audit()
sys.addaudithook(_AUDIT)  # a hook cannot be removed; it does nothing while inactive


@pytest.fixture
def audit() -> Iterator[_Audit]:
    _AUDIT.opened.clear()
    _AUDIT.listed.clear()
    _AUDIT.active = True
    try:
        yield _AUDIT
    finally:
        _AUDIT.active = False


def _many(project, count: int = COUNT) -> Path:
    """``count`` migrations whose import leaves a mark, on a SQLite store."""
    project.write_conf('DATABASE = "app.db"\n')
    marks = project.root / "imported.txt"
    for version in range(1, count + 1):
        (project.migrations / f"{version:04d}_m.py").write_text(
            f'"""Migration {version}."""\n'
            f"open({str(marks)!r}, 'a').write('{version}\\n')\n"
            f"version = {version}\n"
            "def up(context):\n    pass\n"
            "def down(context):\n    pass\n"
        )
    return marks


@pytest.mark.parametrize("argv", [("status",), ("status", "--json"), ("current",), ("check",),
                                  ("--dry-run",), ("history",)])
def test_reading_commands_execute_no_migration(project, argv):
    marks = _many(project)
    assert project.run(*argv).status in (0, 1)
    assert not marks.exists()


def test_up_with_nothing_pending_executes_no_migration(project):
    marks = _many(project)
    assert project.run().status == 0
    assert len(marks.read_text().splitlines()) == COUNT
    marks.unlink()
    result = project.run()
    assert result.status == 0 and "nothing to do" in result.out
    assert not marks.exists()


def test_a_run_executes_each_migration_file_once(project):
    marks = _many(project)
    assert project.run().status == 0
    assert sorted(map(int, marks.read_text().split())) == list(range(1, COUNT + 1))


def test_a_run_in_steps_imports_only_the_migrations_of_each_step(project):
    """What a run holds in memory grows with its plan, not with the folder (README,
    Performance): applying in batches is how to keep a run of thousands small."""
    marks = _many(project)
    assert project.run("--up", "5").status == 0
    assert marks.read_text().split() == ["1", "2", "3", "4", "5"]
    marks.unlink()
    assert project.run("--down", "2").status == 0
    assert marks.read_text().split() == ["5", "4"]
    marks.unlink()
    assert project.run("--to", "7").status == 0
    assert marks.read_text().split() == ["4", "5", "6", "7"]


def test_a_run_lists_the_folder_once_and_reads_each_file_twice(project, audit):
    _many(project)
    assert project.run().status == 0
    assert audit.listed.get(str(project.migrations.resolve()), 0) == 1
    migration_files = {
        path: count for path, count in audit.opened.items()
        if path.startswith(str(project.migrations.resolve())) and path.endswith(".py")
    }
    assert len(migration_files) == COUNT
    # Once to read its version, once to import it (from source: never a bytecode cache).
    assert set(migration_files.values()) == {2}


def test_status_reads_each_file_once(project, audit):
    _many(project)
    assert project.run("status").status == 0
    counts = [
        count for path, count in audit.opened.items()
        if path.startswith(str(project.migrations.resolve())) and path.endswith(".py")
    ]
    assert len(counts) == COUNT and set(counts) == {1}


class CountingConnection(sqlite3.Connection):
    commits = 0

    def commit(self) -> None:
        CountingConnection.commits += 1
        super().commit()


def test_one_up_of_n_migrations_makes_n_commits_and_one_down_of_n_too(project):
    _many(project, 1)
    project.write_conf(
        "import os, sqlite3\n"
        "from test_scaling import CountingConnection\n"
        "def get_connection():\n"
        "    return sqlite3.connect(os.path.join(os.path.dirname(__file__), 'app.db'),\n"
        "                           factory=CountingConnection)\n"
    )
    assert project.run().status == 0  # creates the tables

    def commits(*argv: str) -> int:
        before = CountingConnection.commits
        assert project.run(*argv).status == 0
        return CountingConnection.commits - before

    overhead = commits()  # a run with nothing to do: taking and giving back the lock
    for version in range(2, COUNT + 2):
        (project.migrations / f"{version:04d}_m.py").write_text(
            f"version = {version}\ndef up(context):\n    context.execute('CREATE TABLE t{version} (x)')\n"
            f"def down(context):\n    context.execute('DROP TABLE t{version}')\n"
        )
    assert commits() - overhead == COUNT
    assert commits("--to", "1") - overhead == COUNT
