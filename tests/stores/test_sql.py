"""The SQL store's transactions, on real SQLite files: DATABASE and get_connection()."""
from __future__ import annotations

import sqlite3
import textwrap
import time
from pathlib import Path

import pytest

from checks import assert_error

# A DB-API driver in the style of psycopg: paramstyle pyformat, and a transaction opened
# implicitly by the first statement, DDL included. It wraps sqlite3 so the test needs no server.
PYFORMAT_DRIVER = '''
import re
import sqlite3

paramstyle = "pyformat"
COMMITS = []


def connect(path):
    return Connection(sqlite3.connect(path, isolation_level=None))


class Connection:
    def __init__(self, raw):
        self.raw = raw

    def cursor(self):
        return Cursor(self)

    def commit(self):
        if self.raw.in_transaction:
            self.raw.execute("COMMIT")
        COMMITS.append(1)

    def rollback(self):
        if self.raw.in_transaction:
            self.raw.execute("ROLLBACK")

    def close(self):
        self.raw.close()


class Cursor:
    def __init__(self, connection):
        self.connection = connection
        self.inner = None

    def execute(self, sql, parameters=None):
        if "%s" in sql:
            raise AssertionError("this driver speaks pyformat only: " + sql)
        if not self.connection.raw.in_transaction:
            self.connection.raw.execute("BEGIN")
        sql = re.sub(r"%\\((\\w+)\\)s", r":\\1", sql)
        self.inner = self.connection.raw.execute(sql, parameters or {})
        return self

    @property
    def description(self):
        return self.inner.description

    def fetchone(self):
        return self.inner.fetchone()

    def fetchall(self):
        return self.inner.fetchall()

    def fetchmany(self, size):
        return self.inner.fetchmany(size)
'''


def _tables(database: Path) -> set[str]:
    with sqlite3.connect(database) as connection:
        return {name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def _history(database: Path) -> list[tuple[int, str, int]]:
    with sqlite3.connect(database) as connection:
        return connection.execute(
            "SELECT version, file_name, faked FROM link_migration_history ORDER BY version"
        ).fetchall()


def _log(database: Path) -> list[tuple[int, str]]:
    with sqlite3.connect(database) as connection:
        return connection.execute(
            "SELECT version, operation FROM link_migration_log ORDER BY seq"
        ).fetchall()


CONFS = {
    "DATABASE": 'DATABASE = "app.db"\n',
    "get_connection(sqlite3)": """\
        import os, sqlite3
        def get_connection():
            return sqlite3.connect(os.path.join(os.path.dirname(__file__), "app.db"))
        """,
    "get_connection(pyformat driver)": """\
        import os
        import pyformat_driver
        def get_connection():
            return pyformat_driver.connect(os.path.join(os.path.dirname(__file__), "app.db"))
        """,
}


@pytest.fixture(params=list(CONFS))
def sql_project(request, project):
    (project.root / "pyformat_driver.py").write_text(PYFORMAT_DRIVER)
    project.write_conf(CONFS[request.param])
    project.database = project.root / "app.db"
    return project


def _sql_migration(project, version: int, up: str, down: str = "", *, extra: str = "") -> None:
    (project.migrations / f"s{version}.py").write_text(
        f"version = {version}\n{extra}\n"
        f"def up(context):\n{textwrap.indent(textwrap.dedent(up), '    ')}\n"
        f"def down(context):\n{textwrap.indent(textwrap.dedent(down) or 'pass', '    ')}\n"
    )


def test_up_and_down_keep_history_and_log(sql_project):
    _sql_migration(sql_project, 1, "context.execute('CREATE TABLE a (x INTEGER)')",
                   "context.execute('DROP TABLE a')")
    _sql_migration(sql_project, 2, "context.execute('CREATE TABLE b (x INTEGER)')",
                   "context.execute('DROP TABLE b')")
    assert sql_project.run().status == 0
    assert {"a", "b"} <= _tables(sql_project.database)
    assert _history(sql_project.database) == [(1, "s1.py", 0), (2, "s2.py", 0)]
    assert sql_project.run("--down").status == 0
    assert "b" not in _tables(sql_project.database)
    assert _history(sql_project.database) == [(1, "s1.py", 0)]
    assert _log(sql_project.database) == [(1, "up"), (2, "up"), (2, "down")]
    assert sql_project.run("current").out == "1\n"


def test_failing_migration_leaves_neither_its_table_nor_a_row(sql_project):
    _sql_migration(sql_project, 1, "context.execute('CREATE TABLE a (x INTEGER)')")
    _sql_migration(
        sql_project, 2,
        "context.execute('CREATE TABLE half (x INTEGER)')\n"
        "context.execute('INSERT INTO a VALUES (1)')\n"
        "raise RuntimeError('after DDL')",
    )
    result = sql_project.run()
    assert result.status == 1
    assert "RuntimeError: after DDL" in result.err
    assert "half" not in _tables(sql_project.database)
    assert _history(sql_project.database) == [(1, "s1.py", 0)]
    with sqlite3.connect(sql_project.database) as connection:
        assert connection.execute("SELECT COUNT(*) FROM a").fetchone() == (0,)


def test_script_helper_stays_inside_the_transaction(sql_project):
    script = (
        "CREATE TABLE t (v TEXT);  -- a comment; with a semicolon\n"
        "INSERT INTO t VALUES ('a;b');\n"
        "CREATE TABLE t2 (n INTEGER);\n"
        "CREATE TRIGGER tr AFTER INSERT ON t BEGIN INSERT INTO t2 VALUES (1); END;\n"
    )
    _sql_migration(sql_project, 1, f"context.execute_script({script!r})\nraise ValueError('stop')")
    assert sql_project.run().status == 1
    assert "t" not in _tables(sql_project.database)
    _sql_migration(
        sql_project, 1,
        f"context.execute_script({script!r})\ncontext.execute(\"INSERT INTO t VALUES ('c')\")",
    )
    assert sql_project.run().status == 0
    with sqlite3.connect(sql_project.database) as connection:
        assert connection.execute("SELECT v FROM t").fetchall() == [("a;b",), ("c",)]
        assert connection.execute("SELECT n FROM t2").fetchall() == [(1,)]  # the trigger fired


def test_non_transactional_migration_runs_outside_a_transaction_and_is_recorded(project):
    project.write_conf('DATABASE = "app.db"\n')
    seen = project.root / "seen.txt"
    _sql_migration(
        project, 1,
        f"open({str(seen)!r}, 'w').write(str(context.connection.in_transaction))\n"
        "context.execute('CREATE TABLE a (x INTEGER)')",
        extra="transactional = False",
    )
    _sql_migration(project, 2, f"open({str(seen)!r}, 'a').write(' ' + str(context.connection.in_transaction))")
    assert project.run().status == 0
    assert seen.read_text() == "False True"
    assert _history(project.root / "app.db") == [(1, "s1.py", 0), (2, "s2.py", 0)]


def test_failing_non_transactional_migration_keeps_its_changes_but_no_row(project):
    project.write_conf('DATABASE = "app.db"\n')
    _sql_migration(
        project, 1,
        "context.execute('CREATE TABLE a (x INTEGER)')\nraise RuntimeError('half way')",
        extra="transactional = False",
    )
    assert project.run().status == 1
    database = project.root / "app.db"
    assert "a" in _tables(database)  # outside a transaction nothing can be undone
    assert _history(database) == []


def test_transactional_must_be_a_bool(project):
    project.write_conf('DATABASE = "app.db"\n')
    _sql_migration(project, 1, "pass", extra="transactional = 'no'")
    result = project.run()
    assert result.status == 2
    assert "transactional" in result.err and "s1.py" in result.err


def test_fake_writes_history_rows_marked_as_faked(sql_project):
    _sql_migration(sql_project, 1, "raise AssertionError('must not run')")
    assert sql_project.run("--fake").status == 0
    assert _history(sql_project.database) == [(1, "s1.py", 1)]
    assert _log(sql_project.database) == [(1, "fake up")]


def test_connection_is_the_stores_own(project):
    project.write_conf('DATABASE = "app.db"\n')
    _sql_migration(
        project, 1,
        "context.connection.execute('CREATE TABLE a (x)')\n"
        "context.connection.execute('INSERT INTO a VALUES (1)')",
    )
    assert project.run().status == 0
    with sqlite3.connect(project.root / "app.db") as connection:
        assert connection.execute("SELECT x FROM a").fetchall() == [(1,)]


def test_pyformat_driver_gets_pyformat_placeholders_and_one_commit_per_migration(project):
    (project.root / "pyformat_driver.py").write_text(PYFORMAT_DRIVER)
    project.write_conf(CONFS["get_connection(pyformat driver)"])
    _sql_migration(project, 1, "context.execute('CREATE TABLE t1 (x)')")
    assert project.run().status == 0  # the driver raises on any other placeholder
    import pyformat_driver  # the copy conf.py imported, still in sys.modules

    def commits_of_a_run() -> int:
        before = len(pyformat_driver.COMMITS)
        assert project.run().status == 0
        return len(pyformat_driver.COMMITS) - before

    overhead = commits_of_a_run()  # nothing to do: what every run costs (the lock)
    for version in range(2, 7):
        _sql_migration(project, version, f"context.execute('CREATE TABLE t{version} (x)')")
    assert commits_of_a_run() - overhead == 5


def test_execute_script_needs_a_sql_store(project):
    _sql_migration(project, 1, "context.execute_script('CREATE TABLE a (x)')")
    result = project.run()
    assert result.status == 1
    assert "need DATABASE or get_connection()" in result.err
    assert project.version() == ""


def test_database_folder_must_exist(project):
    project.write_conf('DATABASE = "no/such/folder/app.db"\n')
    project.add_migration(1)
    result = project.run()
    assert result.status == 2
    assert "does not exist" in result.err
    assert project.log() == []


def test_read_only_commands_do_not_create_the_database(project):
    project.write_conf('DATABASE = "app.db"\n')
    project.add_migration(1)
    assert project.run("current").out == "0\n"
    assert project.run("--dry-run").status == 0
    assert not (project.root / "app.db").exists()


def test_get_connection_returning_something_else_is_an_error(project):
    project.write_conf("def get_connection():\n    return 42\n")
    project.add_migration(1)
    result = project.run()
    assert result.status == 2
    assert "not a DB-API connection" in result.err
    assert project.log() == []


@pytest.mark.parametrize("content", [b"x", b"\n", b"not a database at all"])
def test_a_file_that_is_not_sqlite_is_refused_and_left_alone(project, content):
    project.write_conf('DATABASE = "app.db"\n')
    project.add_migration(1)
    (project.root / "app.db").write_bytes(content)
    result = project.run()
    assert result.status == 2
    assert "app.db" in result.err and "Traceback" not in result.err
    assert (project.root / "app.db").read_bytes() == content
    assert project.log() == []


def test_migrations_run_with_sqlites_usual_page_cache(project):
    """The store reads with a small page cache (memory, see bench/); the migrations it runs
    get back what the connection had, as if the store had never touched it."""
    project.write_conf('DATABASE = "app.db"\n')
    seen = project.root / "cache_size.txt"
    for version in (1, 2):
        _sql_migration(project, version, f"""\
            (size,) = context.execute("PRAGMA cache_size").fetchone()
            with open({str(seen)!r}, "a") as out:
                out.write(f"{{size}}\\n")
            """)
    assert project.run().status == 0
    usual = sqlite3.connect(":memory:").execute("PRAGMA cache_size").fetchone()[0]
    assert seen.read_text().split() == [str(usual), str(usual)]


def test_history_rows_share_the_text_they_have_in_common_with_the_files(project):
    """A row's file name and checksum are the file's own objects when the text is the same,
    not a second copy of each (about 200 bytes a migration, see bench/)."""
    from link_migration.api import Migrator

    project.write_conf('DATABASE = "app.db"\n')
    for version in (1, 2, 3):
        _sql_migration(project, version, "pass")
    assert project.run().status == 0
    (project.migrations / "s2.py").write_text((project.migrations / "s2.py").read_text() + "# edited\n")
    status = Migrator.from_config(project.root / "conf.py", cwd=project.root).status()
    rows = {row.version: row for row in status.migrations}
    for version in (1, 3):
        assert rows[version].applied.checksum is rows[version].migration.checksum
        assert rows[version].applied.file_name is rows[version].migration.name
    edited = rows[2]
    assert edited.state == "modified"
    assert edited.applied.checksum != edited.migration.checksum
    assert edited.applied.file_name is edited.migration.name


@pytest.mark.parametrize("command", [["current"], ["status"], [], ["unlock"]])
def test_a_database_held_by_another_process_is_busy_within_the_lock_timeout(project, command):
    """SQLite's write lock held elsewhere is waited for as long as our own lock would be
    (--lock-timeout), then exit 3 saying the database is busy; nothing changes."""
    project.write_conf('DATABASE = "app.db"\n')
    _sql_migration(project, 1, "pass")
    _sql_migration(project, 2, "raise AssertionError('must not run')")
    assert project.run("--to", "1").status == 0
    holder = sqlite3.connect(project.root / "app.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        started = time.monotonic()
        result = project.run("--lock-timeout", "0.5", *command)
        waited = time.monotonic() - started
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert_error(result, "is busy", "another process kept it locked for longer than 0.5 s",
                 "database is locked", status=3)
    assert "permission" not in result.err
    assert waited < 5, waited  # one wait of the timeout, not several of sqlite3's own 5 s
    assert _history(project.root / "app.db") == [(1, "s1.py", 0)]


# -- what a real migration history broke (issue 11), on SQLite ------------------------------

_FORMAT_1 = """
CREATE TABLE link_migration_history (version INTEGER NOT NULL PRIMARY KEY, file_name
    VARCHAR(255) NOT NULL, checksum VARCHAR(64), applied_at VARCHAR(40) NOT NULL, duration REAL,
    applied_by VARCHAR(255) NOT NULL, faked INTEGER NOT NULL);
CREATE TABLE link_migration_log (seq INTEGER NOT NULL PRIMARY KEY, version INTEGER NOT NULL,
    operation VARCHAR(16) NOT NULL, file_name VARCHAR(255) NOT NULL, logged_at VARCHAR(40) NOT
    NULL, duration REAL, logged_by VARCHAR(255) NOT NULL);
CREATE TABLE link_migration_lock (id INTEGER NOT NULL PRIMARY KEY, owner VARCHAR(255) NOT NULL,
    host VARCHAR(255) NOT NULL, pid INTEGER NOT NULL, since VARCHAR(40) NOT NULL);
INSERT INTO link_migration_history VALUES (1, 's1.py', NULL, '2026-01-01', 0.1, 'old@host', 0);
INSERT INTO link_migration_log VALUES (1, 1, 'up', 's1.py', '2026-01-01', 0.1, 'old@host');
"""


def _format_row(database: Path) -> list[tuple[int, str]]:
    with sqlite3.connect(database) as connection:
        return connection.execute("SELECT id, pid FROM link_migration_lock WHERE id = 0").fetchall()


def test_a_new_store_records_its_format_and_an_old_one_is_upgraded_once(project):
    project.write_conf('DATABASE = "app.db"\n')
    _sql_migration(project, 1, "raise AssertionError('applied already')")
    _sql_migration(project, 20261127193000, "pass")
    with sqlite3.connect(project.root / "app.db") as connection:
        connection.executescript(_FORMAT_1)
    assert project.run().status == 0
    assert _format_row(project.root / "app.db") == [(0, 4)]
    # SQLite's INTEGER is 64-bit already: the format is recorded, with nothing to widen or log.
    assert _log(project.root / "app.db") == [(1, "up"), (20261127193000, "up")]
    assert project.run("--down").status == 0
    assert _history(project.root / "app.db") == [(1, "s1.py", 0)]

    fresh = project.root / "fresh"
    fresh.mkdir()
    (fresh / "conf.py").write_text(f'MIGRATIONS_DIR = {str(project.migrations)!r}\nDATABASE = "new.db"\n')
    (project.migrations / "s1.py").unlink()
    assert project.run("-c", str(fresh / "conf.py"), conf=False).status == 0
    assert _format_row(fresh / "new.db") == [(0, 4)]
    assert _log(fresh / "new.db") == [(20261127193000, "up")]


def test_a_store_of_a_newer_format_is_refused(project):
    project.write_conf('DATABASE = "app.db"\n')
    _sql_migration(project, 1, "pass")
    assert project.run().status == 0
    with sqlite3.connect(project.root / "app.db") as connection:
        connection.execute("UPDATE link_migration_lock SET pid = 99 WHERE id = 0")
    _sql_migration(project, 2, "raise AssertionError('must not run')")
    assert_error(project.run(), "format 99", "newer link-migration")
    assert _history(project.root / "app.db") == [(1, "s1.py", 0)]


@pytest.mark.parametrize("end", [
    "context.connection.commit()",
    "context.connection.rollback()",
    "context.connection.executescript('CREATE TABLE b (x INTEGER)')",
    "context.execute('COMMIT')",
])
def test_a_migration_that_ends_the_stores_transaction_is_not_recorded(project, end):
    project.write_conf('DATABASE = "app.db"\n')
    _sql_migration(project, 1, f"context.execute('CREATE TABLE a (x INTEGER)')\n{end}\n")
    result = project.run()
    assert result.status == 1, result.err
    assert "was not recorded" in result.err and "ended the store's transaction" in result.err
    assert "The store holds version 0" in result.err
    assert _history(project.root / "app.db") == []


_LOST_REPLY_DRIVER = '''
import sqlite3


class Connection:
    """A network driver's connection whose commit reaches the server, but whose reply is lost."""

    def __init__(self, path):
        self.raw = sqlite3.connect(path)
        self.lose_replies = False
        self.broken = False

    def cursor(self):
        if self.broken:
            raise ConnectionResetError("the connection is closed")
        return self.raw.cursor()

    def commit(self):
        self.raw.commit()
        if self.lose_replies:
            self.broken = True  # as a dropped connection is: nothing answers any more
            raise ConnectionResetError("server closed the connection unexpectedly")

    def rollback(self):
        self.raw.rollback()

    def close(self):
        self.raw.close()


paramstyle = "qmark"
'''


def test_a_lost_commit_reply_is_reported_as_uncertain(project):
    (project.root / "lossy_driver.py").write_text(_LOST_REPLY_DRIVER)
    project.write_conf("""\
        import os
        import lossy_driver
        def get_connection():
            return lossy_driver.Connection(os.path.join(os.path.dirname(__file__), "app.db"))
        """)
    _sql_migration(project, 1, "pass")
    _sql_migration(project, 2, "context.connection.lose_replies = True")
    result = project.run()
    assert result.status == 1, result.err
    assert "the store holds version 1 or 2" in result.err
    assert "link-migration status" in result.err
    assert "rolled back too" not in result.err
    assert _history(project.root / "app.db") == [(1, "s1.py", 0), (2, "s2.py", 0)]


def test_a_failed_non_transactional_migration_says_its_work_is_in_place(project):
    project.write_conf('DATABASE = "app.db"\n')
    _sql_migration(project, 1, "context.execute('CREATE TABLE a (x INTEGER)')\nraise ValueError('x')",
                   extra="transactional = False")
    result = project.run()
    assert result.status == 1
    assert "outside a transaction (transactional = False), so what it did before it stopped is in place" in result.err
    assert "nothing after it ran" not in result.err
    assert "a" in _tables(project.root / "app.db")


def test_a_failed_migration_on_the_file_store_does_not_claim_it_changed_nothing(project):
    project.add_migration(1, up="raise ValueError('half done')")
    result = project.run()
    assert result.status == 1
    assert "nothing after it ran" not in result.err
    assert "no transaction to undo what the migration did before it stopped" in result.err


def test_a_version_edited_into_text_is_named(project):
    project.write_conf('DATABASE = "app.db"\n')
    with sqlite3.connect(project.root / "app.db") as connection:
        connection.executescript(_FORMAT_1.replace("version INTEGER NOT NULL PRIMARY KEY",
                                                   "version TEXT NOT NULL PRIMARY KEY"))
        connection.execute("UPDATE link_migration_history SET version = 'v1'")
    _sql_migration(project, 1, "pass")
    for command in (["current"], ["status"], []):
        result = project.run(*command)
        assert_error(result, "link_migration_history", "'v1'")


def test_a_lock_row_whose_pid_is_no_number_is_named(project):
    project.write_conf('DATABASE = "app.db"\n')
    with sqlite3.connect(project.root / "app.db") as connection:
        connection.executescript(_FORMAT_1)
        connection.execute("INSERT INTO link_migration_lock (id, owner, host, pid, since) VALUES (1, 'a@b:c', 'b', 'twelve', 'now')")
    _sql_migration(project, 1, "pass")
    for command in (["unlock"], []):
        assert_error(project.run(*command), "link_migration_lock", "'twelve'", "unlock")


def test_a_pooled_connection_wrapper_runs_migrations(project):
    """A wrapper of an unknown class that forwards everything to sqlite3 (as connection
    pools do) gets the generic dialect, which claims nothing about transactions it cannot
    see: its migrations run and are recorded."""
    project.write_conf("""\
        import os, sqlite3
        class Pooled:
            def __init__(self, raw):
                self._raw = raw
            def __getattr__(self, name):
                return getattr(self._raw, name)
        paramstyle = "qmark"
        def get_connection():
            return Pooled(sqlite3.connect(os.path.join(os.path.dirname(__file__), "app.db")))
        PARAMSTYLE = "qmark"
        """)
    _sql_migration(project, 1, "pass")
    _sql_migration(project, 2, "context.execute('CREATE TABLE a (x INTEGER)')")
    result = project.run()
    assert result.status == 0, result.err
    assert _history(project.root / "app.db") == [(1, "s1.py", 0), (2, "s2.py", 0)]


@pytest.mark.parametrize("target", ["missing", "empty"])
def test_a_database_path_that_links_to_no_sqlite_database_is_refused(project, target):
    project.write_conf('DATABASE = "app.db"\n')
    _sql_migration(project, 1, "pass")
    victim = project.root / "victim.txt"
    if target == "empty":
        victim.write_text("")
    (project.root / "app.db").symlink_to(victim)
    result = project.run()
    assert_error(result, "is a symbolic link to", str(victim), "not a SQLite database")
    assert victim.exists() == (target == "empty")
    if victim.exists():
        assert victim.read_bytes() == b""
    # A link to a real database is fine.
    (project.root / "app.db").unlink()
    real = project.root / "real.db"
    with sqlite3.connect(real) as connection:
        connection.execute("CREATE TABLE kept (x INTEGER)")  # SQLite writes nothing before
    (project.root / "app.db").symlink_to(real)
    assert project.run().status == 0
    assert _history(real) == [(1, "s1.py", 0)]
