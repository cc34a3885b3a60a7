"""forget and accept (issue 12: repairs without hand-written SQL), on SQLite and PostgreSQL.

Every scenario in RepairTests runs once on a SQLite file (DATABASE) and once per PostgreSQL
driver (get_connection()); the tests after it need no database server.
"""
from __future__ import annotations

import re
import sqlite3
import textwrap
from pathlib import Path
from typing import Callable

import pytest

from checks import assert_error, ok
from link_migration import ConfigError, LockTimeout, Migrator, PlanError
from link_migration.config import load_config
from link_migration.discovery import checksum
from link_migration.lock import held, lock_for
from link_migration.stores import open_store

CLI_OPTION = re.compile(r"(?:^|[\s(`'\"])--?[A-Za-z]")


class Backend:
    """A project whose store is a SQL database, and a way to read that database's tables."""

    def __init__(self, project, query: Callable[[str], list]) -> None:
        self.project = project
        self.query = query
        # Statements that make the log refuse a row for version 4, and that undo that.
        self.refuse_log_of_version_4: list[str] = []
        self.allow_log: list[str] = []

    def history(self) -> list[tuple[int, str, str]]:
        return [(int(v), name, digest) for v, name, digest in self.query(
            "SELECT version, file_name, checksum FROM link_migration_history ORDER BY version")]

    def log(self) -> list[tuple[int, str, str]]:
        return [(int(v), operation, name) for v, operation, name in self.query(
            "SELECT version, operation, file_name FROM link_migration_log ORDER BY seq")]

    def tables(self) -> tuple[list, list]:
        """Everything a refusal must leave as it was."""
        return self.history(), self.log()

    def migration(self, version: int) -> Path:
        return self.project.add_migration(version, doc=f"Migration {version}.")

    def applied(self, *versions: int) -> None:
        for version in versions:
            self.migration(version)
        ok(self.project.run())

    def edit(self, version: int) -> Path:
        path = self.project.migrations / f"m{version}.py"
        path.write_text(path.read_text() + "# edited on purpose\n")
        return path

    def remove(self, version: int) -> None:
        (self.project.migrations / f"m{version}.py").unlink()

    def states(self) -> dict[int, str]:
        status = Migrator.from_config(self.project.conf).status()
        return {row.version: row.state for row in status.migrations}

    def every_state(self) -> None:
        """1 applied, 2 modified, 3 out of order, 4 missing, 5 applied, 6 pending."""
        self.applied(1, 2, 4, 5)
        self.migration(3)
        self.migration(6)
        self.edit(2)
        self.remove(4)
        assert self.states() == {1: "applied", 2: "modified", 3: "out_of_order", 4: "missing",
                                 5: "applied", 6: "pending"}


class RepairTests:
    """The scenarios; subclasses give the ``backend`` fixture."""

    def test_forget_a_missing_migration(self, backend):
        project = backend.project
        backend.applied(1, 2, 3)
        backend.remove(3)
        result = project.run("forget", "3")
        ok(result)
        assert result.out == ("Forgot version 3 (m3.py, missing since its file is gone); "
                              "the current version is now 2.\n")
        assert [v for v, _, _ in backend.history()] == [1, 2]
        assert backend.log()[-1] == (3, "forget", "m3.py")
        assert backend.states() == {1: "applied", 2: "applied"}
        assert project.run("current").out == "2\n"
        status = project.run("status")
        assert "m3.py" not in status.out and "Current version: 2" in status.out
        history = project.run("history")
        ok(history)
        newest = history.out.splitlines()[3].split()
        assert newest[3:6] == ["forget", "3", "m3.py"], history.out
        ok(project.run("check"))

    def test_forget_below_the_current_version_leaves_it(self, backend):
        backend.applied(1, 2, 3)
        backend.remove(2)
        result = backend.project.run("forget", "2")
        ok(result)
        assert result.out == "Forgot version 2 (m2.py, missing since its file is gone).\n"
        assert backend.project.run("current").out == "3\n"
        assert backend.states() == {1: "applied", 3: "applied"}

    def test_accept_a_modified_migration(self, backend):
        project = backend.project
        backend.applied(1, 2)
        old = backend.history()[1][2]
        path = backend.edit(2)
        new = checksum(path.read_bytes())
        assert project.run("check").status == 1
        result = project.run("accept", "2")
        ok(result)
        assert result.out == (f"Accepted version 2 (m2.py): checksum {new[:12]}... recorded "
                              f"(it was {old[:12]}...).\n")
        assert backend.history()[1] == (2, "m2.py", new)
        assert backend.log()[-1] == (2, "accept", "m2.py")
        assert backend.states() == {1: "applied", 2: "applied"}
        assert "accept" in project.run("history").out
        ok(project.run("check"))
        run = project.run()  # no warning about a changed migration any more
        ok(run)
        assert "changed" not in run.err, run.err

    def test_accept_records_a_renamed_and_edited_file_under_its_new_name(self, backend):
        backend.applied(1)
        path = backend.edit(1)
        renamed = path.with_name("0001_first.py")
        path.rename(renamed)
        ok(backend.project.run("accept", "1"))
        assert backend.history() == [(1, "0001_first.py", checksum(renamed.read_bytes()))]
        assert backend.log()[-1] == (1, "accept", "0001_first.py")

    @pytest.mark.parametrize("command, version, state", [
        ("forget", 1, "applied, and its file is unchanged"),
        ("forget", 2, "modified"),
        ("forget", 3, "out of order"),
        ("forget", 6, "pending"),
        ("forget", 9, "unknown"),
        ("accept", 1, "applied, and its file is unchanged"),
        ("accept", 3, "out of order"),
        ("accept", 4, "missing"),
        ("accept", 6, "pending"),
        ("accept", 9, "unknown"),
    ])
    def test_a_version_in_another_state_is_refused(self, backend, command, version, state):
        backend.every_state()
        before = backend.tables()
        result = backend.project.run(command, str(version))
        assert_error(result, f"cannot {command} version {version}: it is {state}")
        assert result.out == ""
        assert backend.tables() == before

    def test_one_refused_version_refuses_them_all(self, backend):
        backend.every_state()
        before = backend.tables()
        assert_error(backend.project.run("forget", "4", "5"), "version 5: it is applied")
        assert_error(backend.project.run("accept", "2", "4"), "version 4: it is missing")
        assert backend.tables() == before

    def test_all(self, backend):
        project = backend.project
        backend.every_state()
        backend.edit(5)
        backend.remove(1)
        result = project.run("forget", "--all")
        ok(result)
        assert result.out == ("Forgot version 1 (m1.py, missing since its file is gone).\n"
                              "Forgot version 4 (m4.py, missing since its file is gone).\n")
        result = project.run("accept", "--all")
        ok(result)
        assert [line.split(" (")[0] for line in result.out.splitlines()] == [
            "Accepted version 2", "Accepted version 5"]
        assert backend.states() == {2: "applied", 3: "out_of_order", 5: "applied", 6: "pending"}
        assert [(v, op) for v, op, _ in backend.log()[-4:]] == [
            (1, "forget"), (4, "forget"), (2, "accept"), (5, "accept")]
        before = backend.tables()
        nothing = project.run("forget", "--all")
        ok(nothing)
        assert nothing.out == "Nothing to forget: every applied migration still has its file.\n"
        nothing = project.run("accept", "--all")
        ok(nothing)
        assert nothing.out == ("Nothing to accept: no applied migration has changed since it "
                               "was applied.\n")
        assert backend.tables() == before

    def test_forget_all_that_empties_the_history(self, backend):
        backend.applied(1, 2)
        backend.remove(1)
        backend.remove(2)
        result = backend.project.run("forget", "--all")
        ok(result)
        assert result.out.endswith("(m2.py, missing since its file is gone); the current version "
                                   "is now 0.\n")
        assert backend.project.run("current").out == "0\n"

    @pytest.mark.parametrize("argv", [
        ("--lock-timeout", "0", "forget", "4"),
        ("forget", "4", "--lock-timeout", "0"),
        ("accept", "--all", "--lock-timeout", "0"),
    ])
    def test_they_wait_for_the_lock(self, backend, argv):
        backend.every_state()
        before = backend.tables()
        config = load_config(str(backend.project.conf), backend.project.root, {})
        store = open_store(config)
        try:
            with held(lock_for(config, store), 0, on_wait=print, warn=print):
                result = backend.project.run(*argv)
        finally:
            store.close()
        assert_error(result, "lock", status=3)
        assert backend.tables() == before
        ok(backend.project.run(*argv))  # and the lock they took is given back
        ok(backend.project.run("--lock-timeout", "0", "status"))

    def test_history_and_log_commit_together(self, backend):
        backend.every_state()
        backend.remove(1)
        before = backend.tables()
        for statement in backend.refuse_log_of_version_4:
            backend.query(statement)
        result = backend.project.run("forget", "--all")  # 1 is deleted and logged, then 4 fails
        assert_error(result, "refused by a test")
        assert backend.tables() == before
        for statement in backend.allow_log:
            backend.query(statement)
        ok(backend.project.run("forget", "--all"))
        log = backend.query("SELECT seq FROM link_migration_log ORDER BY seq")
        assert [int(seq) for (seq,) in log] == list(range(1, len(log) + 1))

    def test_the_api_waits_for_the_lock(self, backend):
        backend.every_state()
        config = load_config(str(backend.project.conf), backend.project.root, {})
        store = open_store(config)
        try:
            with held(lock_for(config, store), 0, on_wait=print, warn=print):
                with pytest.raises(LockTimeout) as raised:
                    Migrator.from_config(backend.project.conf, lock_timeout=0).forget(4)
        finally:
            store.close()
        assert_in_api_words(raised.value, "lock_timeout")
        assert backend.states()[4] == "missing"

    def test_the_python_api(self, backend):
        backend.every_state()
        migrator = Migrator.from_config(backend.project.conf, lock_timeout=5)
        forgotten = migrator.forget(4)
        assert (forgotten.operation, forgotten.previous, forgotten.current) == ("forget", 5, 5)
        assert [(r.version, r.file_name) for r in forgotten.repaired] == [(4, "m4.py")]
        accepted = migrator.accept_all()
        assert [(r.version, r.checksum) for r in accepted.repaired] == [
            (2, checksum((backend.project.migrations / "m2.py").read_bytes()))]
        assert migrator.forget_all().repaired == ()
        with pytest.raises(PlanError) as raised:
            migrator.accept(6)
        assert_in_api_words(raised.value, "version 6", "pending", "Migrator.status()")


def assert_in_api_words(error, *needles: str) -> None:
    """The message and hint name the API's own methods, never a command-line option."""
    text = f"{error.message}\n{error.hint}"
    assert not CLI_OPTION.search(text), text
    assert "link-migration" not in text, text
    for needle in needles:
        assert needle in text, (needle, text)


class TestOnSqlite(RepairTests):
    @pytest.fixture
    def backend(self, project):
        project.write_conf('DATABASE = "app.db"\n')
        database = project.root / "app.db"

        def query(sql: str) -> list:
            connection = sqlite3.connect(database)
            try:
                return connection.execute(sql).fetchall()
            finally:
                connection.close()

        backend = Backend(project, query)
        backend.refuse_log_of_version_4 = [
            "CREATE TRIGGER refuse BEFORE INSERT ON link_migration_log WHEN NEW.version = 4 "
            "BEGIN SELECT RAISE(ABORT, 'refused by a test'); END"]
        backend.allow_log = ["DROP TRIGGER refuse"]
        return backend


class TestOnPostgresql(RepairTests):
    @pytest.fixture
    def backend(self, project, postgresql_database):
        project.write_conf(postgresql_database.connect_code)
        backend = Backend(project, postgresql_database.query)
        backend.refuse_log_of_version_4 = [
            "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN IF NEW.version = 4 THEN "
            "RAISE EXCEPTION 'refused by a test'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER refuse BEFORE INSERT ON link_migration_log FOR EACH ROW "
            "EXECUTE PROCEDURE refuse()"]
        backend.allow_log = ["DROP TRIGGER refuse ON link_migration_log"]
        return backend

    def test_a_connection_in_autocommit_mode_still_commits_once(self, backend,
                                                                  postgresql_database):
        """get_connection() may hand over a connection in autocommit mode, as psycopg users
        often do: the store, not the connection's mode, decides."""
        backend.project.write_conf(postgresql_database.connect_code + textwrap.dedent("""
            _connect = get_connection
            def get_connection():
                connection = _connect()
                connection.autocommit = True
                return connection
            """))
        self.test_history_and_log_commit_together(backend)


# --- without a database server ------------------------------------------------------------


@pytest.mark.parametrize("conf", [
    'VERSION_FILE = "version.txt"\n',
    "def get_current_version():\n    return 1\ndef set_current_version(version):\n    pass\n",
])
@pytest.mark.parametrize("command", ["forget", "accept"])
def test_stores_without_a_history_are_refused(project, conf, command):
    project.write_conf(conf)
    project.add_migration(1)
    (project.root / "version.txt").write_text("1\n")
    result = project.run(command, "1")
    assert_error(result, f"{command} needs the history of a SQL store", "no checksums",
                 "DATABASE")
    assert_error(project.run(command, "--all"), f"{command} needs the history of a SQL store")
    assert not (project.root / ".link-migration.lock").exists()  # refused before locking
    assert (project.root / "version.txt").read_text() == "1\n"
    with pytest.raises(ConfigError) as raised:
        getattr(Migrator.from_config(project.conf), command)(1)
    assert_in_api_words(raised.value, "SQL store")


@pytest.mark.parametrize("argv, needle", [
    (("forget",), "forget needs a version, or --all"),
    (("accept", "2", "--all"), "accept: give versions or --all, not both"),
    (("forget", "two"), "'two' is not a version"),
])
def test_usage_errors(project, argv, needle):
    project.write_conf('DATABASE = "app.db"\n')
    assert_error(project.run(*argv), needle)
    assert not (project.root / "app.db").exists()


def test_api_calls_without_a_version_are_refused_before_the_store_is_opened(project):
    project.write_conf('DATABASE = "app.db"\n')
    migrator = Migrator.from_config(project.conf)
    for call in (lambda: migrator.forget(), lambda: migrator.accept("3"),
                 lambda: migrator.forget(True)):
        with pytest.raises(PlanError) as raised:
            call()
        assert_in_api_words(raised.value)
    assert not (project.root / "app.db").exists()


def test_the_change_happens_under_the_lock(project):
    """conf.py's own lock (acquire_lock/release_lock) sees the history before and after."""
    project.write_conf(textwrap.dedent("""\
        import os, sqlite3
        DATABASE = "app.db"
        EVENTS = os.path.join(os.path.dirname(__file__), "events.txt")

        def _rows():
            path = os.path.join(os.path.dirname(__file__), "app.db")
            if not os.path.exists(path):
                return "-"
            connection = sqlite3.connect(path)
            try:
                return str(connection.execute(
                    "SELECT COUNT(*) FROM link_migration_history").fetchone()[0])
            except sqlite3.Error:
                return "-"
            finally:
                connection.close()

        def acquire_lock():
            with open(EVENTS, "a") as events:
                events.write("acquire " + _rows() + "\\n")
            return True

        def release_lock():
            with open(EVENTS, "a") as events:
                events.write("release " + _rows() + "\\n")
        """))
    for version in (1, 2):
        project.add_migration(version)
    ok(project.run())
    (project.migrations / "m2.py").unlink()
    events = project.root / "events.txt"
    events.write_text("")
    ok(project.run("forget", "2"))
    assert events.read_text().split("\n") == ["acquire 2", "release 1", ""]


def test_help_lists_the_commands(project):
    result = project.run("--help")
    assert "forget" in result.out and "accept" in result.out
