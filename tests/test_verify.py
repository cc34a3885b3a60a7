"""SPEC 10 `verify` on SQLite: each migration's up, down and up again on a scratch copy, the
schemas compared; every kind of forgetful down caught in its own test; the real database
never touched."""
from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import textwrap
from pathlib import Path

import pytest
from checks import assert_error, ok

EXAMPLE = Path(__file__).resolve().parent.parent / "example_migrations"

USERS = """\
    -- migrate:up
    CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL);
    INSERT INTO users (email) VALUES ('a@example.com'), ('b@example.com');
    -- migrate:down
    DROP TABLE users;
    """


def _sql(project, name: str, up: str, down: str) -> None:
    (project.migrations / name).write_text(
        f"-- migrate:up\n{textwrap.dedent(up)}\n-- migrate:down\n{textwrap.dedent(down)}\n")


def _start(project) -> None:
    project.write_conf('DATABASE = "app.db"\n')
    (project.migrations / "001_users.sql").write_text(textwrap.dedent(USERS))


def _fingerprint(folder: Path) -> dict[str, tuple[str, int]]:
    return {p.name: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(folder.iterdir()) if p.is_file()}


def test_the_example_project_verifies_from_empty_and_on_a_copy_with_data(tmp_path, capsys):
    from link_migration.cli import main

    folder = tmp_path / "example"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns("*.db", "__pycache__"))
    conf = str(folder / "conf.py")
    assert main(["-c", conf, "verify", "--all", "--data"]) == 0
    out = capsys.readouterr().out
    assert "[5/5] 0005_orders.sql: ok" in out and "OK: 5 migrations verified" in out
    assert not (folder / "example.db").exists()
    assert main(["-c", conf, "-q", "--to", "2"]) == 0
    before = _fingerprint(folder)
    assert main(["-c", conf, "verify", "--data"]) == 0
    out = capsys.readouterr().out
    assert "[1/3] 0003_split_full_name.py: ok" in out and "OK: 3 migrations verified" in out
    assert _fingerprint(folder) == before  # byte for byte, and not even opened for writing


def _forgetful(project, up: str, down: str, *, data: bool = False) -> str:
    _start(project)
    _sql(project, "002_change.sql", up, down)
    result = project.run("verify", "--all", *(["--data"] if data else []))
    assert result.status == 1, result
    assert "[1/2] 001_users.sql: ok" in result.out
    assert "[2/2] 002_change.sql: FAILED" in result.out
    assert "Migration 2 (002_change.sql) failed verification" in result.out
    return result.out


def test_a_down_that_forgets_an_index(project):
    out = _forgetful(project, "CREATE INDEX users_email_idx ON users (email);", "SELECT 1;")
    assert "after down 2: index users_email_idx still exists" in out


def test_a_down_that_forgets_a_column(project):
    out = _forgetful(project, "ALTER TABLE users ADD COLUMN name TEXT;", "SELECT 1;")
    assert "after down 2: table users: column name still exists" in out


def test_a_down_that_forgets_a_constraint(project):
    out = _forgetful(project, """\
        CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER);
        """, """\
        DROP TABLE accounts;
        CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER CHECK (balance >= 0));
        """)
    assert "after down 2: table accounts still exists" in out
    out = _forgetful(project, """\
        CREATE TABLE new_users (id INTEGER PRIMARY KEY, email TEXT NOT NULL,
                                CONSTRAINT email_shape CHECK (email LIKE '%@%'));
        INSERT INTO new_users SELECT * FROM users;
        DROP TABLE users;
        ALTER TABLE new_users RENAME TO users;
        """, "SELECT 1;")
    assert "after down 2: table users: check email_shape still exists" in out


def test_a_down_that_forgets_a_view(project):
    out = _forgetful(project, "CREATE VIEW emails AS SELECT email FROM users;", "SELECT 1;")
    assert "after down 2: view emails still exists" in out


def test_a_down_that_forgets_a_trigger(project):
    out = _forgetful(project, """\
        CREATE TRIGGER users_lower AFTER INSERT ON users
        BEGIN UPDATE users SET email = lower(email) WHERE id = NEW.id; END;
        """, "SELECT 1;")
    assert "after down 2: trigger users_lower still exists" in out


def test_a_down_that_drops_what_up_did_not_make(project):
    out = _forgetful(project, "CREATE INDEX a_idx ON users (email);",
                     "DROP INDEX a_idx; DROP TABLE users; CREATE TABLE users (id INTEGER);")
    assert "after down 2: table users: column email is gone" in out


def test_with_data_a_down_that_does_not_restore_rows(project):
    up, down = "DELETE FROM users WHERE email LIKE 'b%';", "SELECT 1;"
    _start(project)
    _sql(project, "002_change.sql", up, down)
    ok(project.run("verify", "--all"))  # the schema alone round-trips
    out = _forgetful(project, up, down, data=True)
    assert ("after down 2: table users: rows differ: 1 row missing "
            "(such as (2, 'b@example.com'))") in out


def test_an_up_that_does_not_give_the_same_schema_the_second_time(project):
    _start(project)
    _sql(project, "001_users.sql", "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT);\n"
         "CREATE TABLE runs (n INTEGER);", "DROP TABLE users; DROP TABLE runs;")
    (project.migrations / "002_once.py").write_text(textwrap.dedent("""\
        version = 2

        def up(context):
            (count,) = context.execute("SELECT count(*) FROM runs").fetchone()
            if not count:
                context.execute("CREATE INDEX users_email_idx ON users (email)")
            context.execute("INSERT INTO runs VALUES (1)")

        def down(context):
            context.execute("DROP INDEX IF EXISTS users_email_idx")
        """))
    result = project.run("verify", "--all")
    assert result.status == 1
    assert ("after up again 2: index users_email_idx is missing (the first up made it)"
            in result.out)


def test_a_migration_without_down_is_reported_before_it_runs(project):
    _start(project)
    (project.migrations / "002_no_down.sql").write_text("-- migrate:up\nCREATE TABLE t (x);\n")
    project.add_migration(3, down=None)
    result = project.run("verify", "--all")
    assert result.status == 1
    assert "migration 2 cannot be rolled back" in result.out and "has no down section" in result.out
    assert "1 later migration was not verified." in result.out


def test_an_up_that_fails_names_the_statement(project):
    _start(project)
    _sql(project, "002_bad.sql", "CREATE TABLE t (x);\nCREATE TABLE nonsense (;", "DROP TABLE t;")
    result = project.run("verify", "--all")
    assert result.status == 1 and "up 2 failed" in result.out and "statement 2" in result.out


def test_only_the_pending_migrations_by_default_and_none_is_fine(project):
    _start(project)
    _sql(project, "002_index.sql", "CREATE INDEX i ON users (email);", "DROP INDEX i;")
    ok(project.run("--to", "1"))
    result = project.run("verify")
    ok(result)
    assert "[1/1] 002_index.sql: ok" in result.out and "001_users" not in result.out
    ok(project.run())
    result = project.run("verify")
    ok(result)
    assert "Nothing to verify: no migration is pending" in result.out


def test_json_for_ci(project):
    _start(project)
    _sql(project, "002_index.sql", "CREATE INDEX i ON users (email);", "SELECT 1;")
    result = project.run("verify", "--all", "--json")
    assert result.status == 1
    document = json.loads(result.out)
    assert document["ok"] is False and document["range"] == "all"
    assert document["not_verified"] == 0
    assert [(m["version"], m["ok"]) for m in document["migrations"]] == [(1, True), (2, False)]
    assert document["migrations"][1]["problems"] == ["after down 2: index i still exists"]
    assert "[2/2] 002_index.sql: FAILED" in result.err


def test_verify_refuses_a_database_with_a_failed_migration(project):
    _start(project)
    (project.migrations / "002_bad.sql").write_text(
        "-- migrate:up transaction:false\nCREATE TABLE nonsense (;\n-- migrate:down\nSELECT 1;\n")
    assert project.run().status == 1
    assert_error(project.run("verify"), "migration 2 failed", "--resume", "resolve 2")


def test_verify_needs_a_database_and_a_scratch_one_for_servers(project):
    project.write_conf('VERSION_FILE = "version.txt"\n')
    assert_error(project.run("verify"), "verify needs a database")
    project.write_conf("""\
        import sqlite3

        def get_connection():
            return sqlite3.connect("app.db")
        """)
    assert_error(project.run("verify"), "verify needs a scratch database",
                 "defines no get_scratch_connection()")


@pytest.fixture
def scratch_conf(project):
    """A get_connection() project whose scratch database is another SQLite file."""
    def write(scratch: str = "scratch.db") -> None:
        project.write_conf(f"""\
            import sqlite3

            def get_connection():
                return sqlite3.connect({str(project.root / 'app.db')!r})

            def get_scratch_connection():
                return sqlite3.connect({str(project.root / scratch)!r})
            """)
    return write


def test_a_scratch_connection_is_brought_to_the_real_version_first(project, scratch_conf):
    scratch_conf()
    (project.migrations / "001_users.sql").write_text(textwrap.dedent(USERS))
    _sql(project, "002_index.sql", "CREATE INDEX i ON users (email);", "DROP INDEX i;")
    ok(project.run("--to", "1"))
    before = _fingerprint(project.root)
    result = project.run("verify")
    ok(result)
    assert "[1/1] 002_index.sql: ok" in result.out
    after = _fingerprint(project.root)
    assert after.pop("scratch.db") and after == before
    assert_error(project.run("verify"), "is not empty", "table users", "history at version 2")


def test_a_scratch_connection_to_the_real_database_is_refused(project, scratch_conf):
    scratch_conf("app.db")
    (project.migrations / "001_users.sql").write_text(textwrap.dedent(USERS))
    assert_error(project.run("verify"), "get_scratch_connection() reaches the real database")


def test_a_table_renamed_and_back_is_the_same_schema(project):
    _start(project)
    _sql(project, "002_view.sql", "CREATE VIEW emails AS SELECT email FROM users;",
         "DROP VIEW emails;")
    # SQLite rewrites the view's text, quoting "users", when the table is renamed.
    _sql(project, "003_rename.sql", "ALTER TABLE users RENAME TO people;",
         "ALTER TABLE people RENAME TO users;")
    ok(project.run("verify", "--all"))


def test_a_table_named_by_a_keyword_has_its_rows_compared(project):
    _start(project)
    _sql(project, "002_order.sql", 'CREATE TABLE "order" (id INTEGER); INSERT INTO "order" VALUES (7);',
         'DROP TABLE "order";')
    result = project.run("verify", "--all", "--data")
    ok(result)
    assert "OK: 2 migrations verified" in result.out


def test_a_wal_database_is_copied_and_left_as_it_was(project):
    _start(project)
    _sql(project, "002_index.sql", "CREATE INDEX i ON users (email);", "DROP INDEX i;")
    ok(project.run("--to", "1"))
    database = sqlite3.connect(project.root / "app.db")
    assert database.execute("PRAGMA journal_mode = WAL").fetchone() == ("wal",)
    database.close()
    before = _fingerprint(project.root)
    result = project.run("verify")
    ok(result)
    assert "[1/1] 002_index.sql: ok" in result.out
    assert _fingerprint(project.root) == before  # no -wal or -shm file left behind either


def test_a_pending_migration_below_the_current_version_is_verified_too(project):
    _start(project)
    _sql(project, "003_index.sql", "CREATE INDEX i ON users (email);", "DROP INDEX i;")
    ok(project.run())
    _sql(project, "002_late.sql", "CREATE TABLE late (x);", "DROP TABLE late;")
    result = project.run("verify")
    ok(result)
    assert "[1/1] 002_late.sql: ok" in result.out


def test_a_scratch_connection_to_the_real_file_by_another_path_is_refused(project):
    (project.root / "link.db").symlink_to(project.root / "app.db")
    project.write_conf(f"""\
        import sqlite3

        def get_connection():
            return sqlite3.connect({str(project.root / 'app.db')!r})

        def get_scratch_connection():
            return sqlite3.connect({str(project.root / 'link.db')!r})
        """)
    (project.migrations / "001_users.sql").write_text(textwrap.dedent(USERS))
    assert_error(project.run("verify"), "get_scratch_connection() reaches the real database")
    assert not (project.root / "app.db").exists() or sqlite3.connect(
        project.root / "app.db").execute("SELECT count(*) FROM sqlite_master").fetchone() == (0,)


def test_rows_holding_lists_compare(project):
    from link_migration.schema import Snapshot, differences

    before = Snapshot((), {"t": (([1, 2], {"a": 1}),)})
    after = Snapshot((), {"t": ()})
    (change,) = differences(before, after)
    assert change.what == "table t: rows" and "1 row missing (such as ([1, 2], {'a': 1}))" in change.now
