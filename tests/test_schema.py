"""SPEC 10 on SQLite: `schema` prints the catalog as deterministic text (and JSON), the same
after a dump and restore, with link-migration's own tables left out; SCHEMA_FILE is written
after every run that changed the database, and `check` reports drift from it."""
from __future__ import annotations

import json
import sqlite3
import textwrap

from checks import assert_error, ok

EVERYTHING = """\
    -- migrate:up
    CREATE TABLE orgs (id INTEGER PRIMARY KEY, name TEXT, "odd name" TEXT, UNIQUE (name, "odd name"))
        WITHOUT ROWID;
    CREATE TABLE users (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        org_id INTEGER REFERENCES orgs (id) ON DELETE CASCADE,
        email TEXT NOT NULL DEFAULT '' UNIQUE,
        age INTEGER CHECK (age > 0),  -- a comment
        CONSTRAINT email_shape CHECK (email LIKE '%@%')
    );
    CREATE INDEX users_email_idx ON users (email DESC);
    CREATE UNIQUE INDEX users_lower_email ON users (lower(email)) WHERE age > 18;
    CREATE VIEW adults AS SELECT id, email FROM users WHERE age >= 18;
    CREATE TRIGGER users_touch AFTER INSERT ON users BEGIN UPDATE users SET age = 1 WHERE age IS NULL; END;
    INSERT INTO orgs VALUES (1, 'acme', 'x');
    -- migrate:down
    DROP VIEW adults;
    DROP TABLE users;
    DROP TABLE orgs;
    """

EXPECTED = """\
-- table orgs
CREATE TABLE orgs (
    id INTEGER NOT NULL,
    name TEXT,
    "odd name" TEXT,
    PRIMARY KEY (id),
    UNIQUE (name, "odd name"),
    WITHOUT ROWID
);

-- table users
CREATE TABLE users (
    id INTEGER,
    org_id INTEGER,
    email TEXT NOT NULL DEFAULT '',
    age INTEGER,
    PRIMARY KEY (id) AUTOINCREMENT,
    UNIQUE (email),
    FOREIGN KEY (org_id) REFERENCES orgs (id) ON DELETE CASCADE,
    CHECK (age > 0),
    CONSTRAINT email_shape CHECK (email LIKE '%@%')
);

-- index users_email_idx
CREATE INDEX users_email_idx ON users (email DESC);

-- index users_lower_email
CREATE UNIQUE INDEX users_lower_email ON users(lower(email)) WHERE age > 18;

-- view adults
CREATE VIEW adults AS SELECT id, email FROM users WHERE age >= 18;

-- trigger users_touch
CREATE TRIGGER users_touch AFTER INSERT ON users BEGIN UPDATE users SET age = 1 WHERE age IS NULL; END;
"""


def _project(project, conf: str = "") -> None:
    project.write_conf('DATABASE = "app.db"\n' + textwrap.dedent(conf))
    (project.migrations / "001_everything.sql").write_text(textwrap.dedent(EVERYTHING))


def test_schema_prints_every_object_the_same_way_every_time(project):
    _project(project)
    ok(project.run())
    first = project.run("schema")
    ok(first)
    assert first.out == EXPECTED
    assert project.run("schema").out == first.out
    assert "link_migration" not in first.out and "sqlite_sequence" not in first.out


def test_schema_is_the_same_after_a_dump_and_restore(project):
    _project(project)
    ok(project.run())
    before = project.run("schema").out
    original = sqlite3.connect(project.root / "app.db")
    restored = sqlite3.connect(project.root / "restored.db")
    # Python 3.9's iterdump() writes sqlite_sequence's rows before any table makes it.
    restored.executescript("\n".join(line for line in original.iterdump()
                                     if "sqlite_sequence" not in line))
    original.close()
    restored.close()
    project.write_conf('DATABASE = "restored.db"\n')
    assert project.run("schema").out == before


def test_a_table_rebuilt_with_other_spelling_is_the_same_table(project):
    project.write_conf('DATABASE = "app.db"\n')
    database = sqlite3.connect(project.root / "app.db")
    database.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL CHECK(length(name)>1))")
    database.commit()
    before = project.run("schema").out
    database.executescript('DROP TABLE t; create table "t" ( id integer primary key ,\n'
                           '  name text not null check ( length(name) > 1 ) );')
    database.close()
    after = project.run("schema").out
    assert after.replace("integer", "INTEGER").replace("text", "TEXT") == before
    assert "CHECK (length(name) > 1)" in after


def test_schema_json_has_each_object_and_its_parts(project):
    _project(project)
    ok(project.run())
    result = project.run("schema", "--json", "--data")
    ok(result)
    document = json.loads(result.out)
    kinds = {(o["kind"], o["name"]) for o in document["objects"]}
    assert kinds == {("table", "orgs"), ("table", "users"), ("index", "users_email_idx"),
                     ("index", "users_lower_email"), ("view", "adults"),
                     ("trigger", "users_touch")}
    users = next(o for o in document["objects"] if o["name"] == "users")
    assert {"name": "column email", "sql": "email TEXT NOT NULL DEFAULT ''"} in users["parts"]
    assert {"name": "check email_shape",
            "sql": "CONSTRAINT email_shape CHECK (email LIKE '%@%')"} in users["parts"]
    assert document["rows"] == {"orgs": [[1, "acme", "x"]], "users": []}


def test_schema_of_a_database_not_created_yet_is_empty_and_creates_nothing(project):
    project.write_conf('DATABASE = "app.db"\n')
    result = project.run("schema")
    ok(result)
    assert result.out == "-- (no objects)\n"
    assert not (project.root / "app.db").exists()


def test_schema_needs_a_database(project):
    project.write_conf('VERSION_FILE = "version.txt"\n')
    assert_error(project.run("schema"), "schema needs a database", "version.txt")
    project.write_conf('DATABASE = "app.db"\n')
    assert_error(project.run("schema", "--data"), "--data goes with --json")


def _two_migrations(project) -> None:
    project.write_conf('DATABASE = "app.db"\nSCHEMA_FILE = "schema.sql"\n')
    (project.migrations / "001_users.sql").write_text(
        "-- migrate:up\nCREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT);\n"
        "-- migrate:down\nDROP TABLE users;\n")
    (project.migrations / "002_email_index.sql").write_text(
        "-- migrate:up\nCREATE INDEX users_email_idx ON users (email);\n"
        "-- migrate:down\nDROP INDEX users_email_idx;\n")


def test_schema_file_is_written_after_every_run_that_changed_the_database(project):
    _two_migrations(project)
    schema_file = project.root / "schema.sql"
    ok(project.run("--dry-run"))
    assert not schema_file.exists()
    ok(project.run())
    written = schema_file.read_text()
    assert written.startswith("-- The database's schema, written by link-migration")
    assert "-- version: 2\n" in written
    assert written.endswith(project.run("schema").out)
    assert "CREATE INDEX users_email_idx ON users (email);" in written
    assert [p.name for p in project.root.iterdir() if p.name.endswith(".tmp")] == []
    ok(project.run("--down"))
    written = schema_file.read_text()
    assert "-- version: 1\n" in written and "users_email_idx" not in written
    check = project.run("check")
    assert check.status == 1 and "pending: 2" in check.out and "drift" not in check.out


def test_schema_file_is_written_when_missing_even_with_nothing_to_run(project):
    _two_migrations(project)
    ok(project.run())
    (project.root / "schema.sql").unlink()
    ok(project.run())
    assert "-- table users" in (project.root / "schema.sql").read_text()


def test_check_reports_drift_after_a_table_is_added_by_hand(project):
    _two_migrations(project)
    ok(project.run())
    database = sqlite3.connect(project.root / "app.db")
    database.execute("CREATE TABLE audit (at TEXT)")
    database.execute("DROP INDEX users_email_idx")
    database.commit()
    database.close()
    check = project.run("check")
    assert check.status == 1, check
    assert "drift: schema.sql: table audit is in the database but not in schema.sql" in check.out
    assert ("drift: schema.sql: index users_email_idx is in schema.sql but not in the database"
            in check.out)
    document = json.loads(project.run("check", "--json").out)
    assert not document["ok"]
    assert {p["kind"] for p in document["problems"]} == {"drift"}


def test_a_changed_column_is_drift_naming_its_table_and_line(project):
    _two_migrations(project)
    ok(project.run())
    database = sqlite3.connect(project.root / "app.db")
    database.execute("ALTER TABLE users ADD COLUMN name TEXT NOT NULL DEFAULT ''")
    database.commit()
    database.close()
    check = project.run("check")
    assert check.status == 1
    assert ("table users: `name TEXT NOT NULL DEFAULT ''` is in the database but not in "
            "schema.sql") in check.out


def test_pending_migrations_are_not_drift(project):
    _two_migrations(project)
    ok(project.run())
    ok(project.run("--down"))
    schema_file = project.root / "schema.sql"
    ok(project.run())
    written = schema_file.read_text()
    ok(project.run("--down"))
    schema_file.write_text(written)  # as after a pull: the file is one migration ahead
    check = project.run("check")
    assert check.status == 1 and "pending: 2" in check.out and "drift" not in check.out


def test_schema_file_after_a_failed_run_shows_what_completed(project):
    _two_migrations(project)
    (project.migrations / "003_broken.sql").write_text(
        "-- migrate:up\nCREATE TABLE nonsense (;\n-- migrate:down\nSELECT 1;\n")
    result = project.run()
    assert result.status == 1, result
    written = (project.root / "schema.sql").read_text()
    assert "-- version: 2\n" in written and "users_email_idx" in written


def test_schema_file_needs_a_database_and_a_folder(project):
    project.write_conf('VERSION_FILE = "version.txt"\nSCHEMA_FILE = "schema.sql"\n')
    project.add_migration(1)
    assert_error(project.run(), "SCHEMA_FILE needs a database", "version.txt")
    assert project.log() == [] and project.version() == ""
    project.write_conf('DATABASE = "app.db"\nSCHEMA_FILE = "nowhere/schema.sql"\n')
    assert_error(project.run(), "SCHEMA_FILE", "nowhere", "does not exist")
    assert project.log() == []


def test_a_schema_file_that_cannot_be_written_after_a_run_is_exit_1_saying_what_ran(project):
    import os

    _two_migrations(project)
    (project.root / f".schema.sql.{os.getpid()}.tmp").mkdir()  # where the file is written first
    result = project.run()
    assert_error(result, "SCHEMA_FILE", "could not be written", "store holds version 2",
                 status=1)
    assert not (project.root / "schema.sql").exists()


def test_schema_file_with_a_driver_whose_catalog_is_unknown_is_refused_before_running(project):
    project.write_conf("""\
        import sqlite3

        SCHEMA_FILE = "schema.sql"
        PARAMSTYLE = "qmark"

        class Wrapped:
            def __init__(self):
                self._connection = sqlite3.connect("app.db")

            def cursor(self):
                return self._connection.cursor()

            def commit(self):
                self._connection.commit()

            def rollback(self):
                self._connection.rollback()

            def close(self):
                self._connection.close()

        def get_connection():
            return Wrapped()
        """)
    project.add_migration(1)
    assert_error(project.run(), "SCHEMA_FILE needs a database whose catalog",
                 "a driver it does not know")
    assert project.log() == []
