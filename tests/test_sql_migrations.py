"""SPEC 8 on SQLite: .sql migrations in the four layouts, beside .py ones."""
from __future__ import annotations

import json
import sqlite3
import textwrap

import pytest

from checks import assert_error, ok


@pytest.fixture
def sql_project(project):
    project.write_conf('DATABASE = "app.db"\n')
    return project


def _write(project, name: str, text: str) -> None:
    (project.migrations / name).write_text(textwrap.dedent(text))


def _tables(project) -> list[str]:
    with sqlite3.connect(project.root / "app.db") as connection:
        rows = connection.execute(
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'view', 'trigger') "
            "AND name NOT LIKE 'link_migration_%' ORDER BY name").fetchall()
    connection.close()
    return [name for (name,) in rows]


def _query(project, sql: str) -> list[tuple]:
    with sqlite3.connect(project.root / "app.db") as connection:
        rows = connection.execute(sql).fetchall()
    connection.close()
    return rows


def _history(project) -> list[tuple[int, str]]:
    """The history rows; none before the first step created the table."""
    if not _query(project, "SELECT name FROM sqlite_master WHERE name = 'link_migration_history'"):
        return []
    return _query(project, "SELECT version, file_name FROM link_migration_history ORDER BY version")


def _every_layout(project) -> None:
    _write(project, "001_users.sql", """\
        -- migrate:up
        CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);
        INSERT INTO users (name) VALUES ('a;b -- not a comment');
        -- migrate:down
        DROP TABLE users;
        """)
    _write(project, "002_audit.sql", """\
        -- +goose Up
        CREATE TABLE audit (name TEXT);
        -- +goose StatementBegin
        CREATE TRIGGER users_audit AFTER INSERT ON users BEGIN
            INSERT INTO audit VALUES (new.name);
        END;
        -- +goose StatementEnd

        -- +goose Down
        DROP TRIGGER users_audit;
        DROP TABLE audit;
        """)
    _write(project, "3_orders.up.sql", "CREATE TABLE orders (id INTEGER);\n")
    _write(project, "3_orders.down.sql", "DROP TABLE orders;\n")
    _write(project, "V4__items.sql", "CREATE TABLE items (id INTEGER);\n")
    _write(project, "U4__items.sql", "DROP TABLE items;\n")
    _write(project, "m5.py", """\
        version = 5
        def up(context):
            context.execute("INSERT INTO users (name) VALUES ('from python')")
        def down(context):
            context.execute("DELETE FROM users WHERE name = 'from python'")
        """)


def test_every_layout_runs_in_one_version_order_up_and_down(sql_project):
    _every_layout(sql_project)
    result = sql_project.run()
    ok(result)
    assert "applied 5 migrations" in result.out
    assert _history(sql_project) == [(1, "001_users.sql"), (2, "002_audit.sql"),
                                     (3, "3_orders.up.sql"), (4, "V4__items.sql"), (5, "m5.py")]
    assert _tables(sql_project) == ["audit", "items", "orders", "users", "users_audit"]
    assert _query(sql_project, "SELECT name FROM audit") == [("from python",)]
    assert _query(sql_project, "SELECT name FROM users ORDER BY id") == [
        ("a;b -- not a comment",), ("from python",)]

    ok(sql_project.run("--to", "2"))
    assert _tables(sql_project) == ["audit", "users", "users_audit"]
    ok(sql_project.run("--to", "0"))
    assert _tables(sql_project) == []
    assert _history(sql_project) == []


def test_status_and_check_show_sql_migrations_like_python_ones(sql_project):
    _every_layout(sql_project)
    _write(sql_project, "R__refresh_view.sql", "CREATE VIEW v AS SELECT 1;\n")
    ok(sql_project.run("--to", "3"))
    status = sql_project.run("status", "--json")
    rows = {row["version"]: row for row in json.loads(status.out)["migrations"]}
    assert [(v, rows[v]["state"], rows[v]["file"]) for v in sorted(rows)] == [
        (1, "applied", "001_users.sql"), (2, "applied", "002_audit.sql"),
        (3, "applied", "3_orders.up.sql"), (4, "pending", "V4__items.sql"), (5, "pending", "m5.py")]
    assert rows[1]["description"] == "users" and rows[4]["description"] == "items"
    check = sql_project.run("check")
    assert check.status == 1
    assert "unsupported: R__refresh_view.sql" in check.out
    assert "pending: 4 V4__items.sql" in check.out


def test_a_leading_comment_describes_a_sql_migration(sql_project):
    _write(sql_project, "7_x.sql", "-- Add the users table\n-- migrate:up\nCREATE TABLE u (x INTEGER);\n")
    status = sql_project.run("status")
    assert "Add the users table" in status.out


@pytest.mark.parametrize("edited", ["3_orders.down.sql", "3_orders.up.sql", "U4__items.sql",
                                    "001_users.sql"])
def test_editing_any_file_of_an_applied_migration_shows_as_modified(sql_project, edited):
    _every_layout(sql_project)
    ok(sql_project.run())
    path = sql_project.migrations / edited
    path.write_text(path.read_text() + "-- edited\n")
    check = sql_project.run("check")
    assert check.status == 1 and "modified" in check.out
    shown = {"3_orders.down.sql": "3_orders.up.sql", "U4__items.sql": "V4__items.sql"}
    assert shown.get(edited, edited) in check.out


def test_transaction_control_in_a_transactional_migration_is_refused_before_anything_runs(sql_project):
    _write(sql_project, "1_a.sql", "-- migrate:up\nCREATE TABLE a (x INTEGER);\n")
    _write(sql_project, "2_b.sql", "-- migrate:up\nCREATE TABLE b (x INTEGER);\n\nCOMMIT;\n"
                                   "CREATE TABLE c (x INTEGER);\n")
    result = sql_project.run()
    assert_error(result, "2_b.sql, line 4", "statement 2 is COMMIT", "transaction:false")
    assert _tables(sql_project) == [] and _history(sql_project) == []


def test_a_golang_migrate_file_wrapped_in_begin_and_commit_runs_in_our_transaction(sql_project):
    _write(sql_project, "1_a.up.sql", "BEGIN;\nCREATE TABLE a (x INTEGER);\nINSERT INTO a VALUES (1);\nCOMMIT;\n")
    _write(sql_project, "1_a.down.sql", "BEGIN;\nDROP TABLE a;\nCOMMIT;\n")
    _write(sql_project, "2_b.up.sql", "CREATE TABLE b (x INTEGER);\nINSERT INTO nowhere VALUES (1);\n")
    result = sql_project.run()
    assert result.status == 1
    assert "2_b.up.sql" in result.err and "no such table: nowhere" in result.err
    assert "statement 2 (line 2)" in result.err
    assert _tables(sql_project) == ["a"]  # migration 2 rolled back whole
    assert _history(sql_project) == [(1, "1_a.up.sql")]
    ok(sql_project.run("--down"))
    assert _tables(sql_project) == []


def test_a_non_transactional_sql_migration_runs_each_statement_on_its_own(sql_project):
    # VACUUM cannot run inside a transaction.
    _write(sql_project, "1_a.sql", "-- migrate:up\nCREATE TABLE a (x INTEGER);\n")
    _write(sql_project, "2_vacuum.sql", "-- migrate:up transaction:false\nVACUUM;\n-- migrate:down\n")
    _write(sql_project, "3_vacuum.sql", "-- +goose NO TRANSACTION\n-- +goose Up\nVACUUM;\n")
    _write(sql_project, "4_vacuum.up.sql", "-- transaction:false\nVACUUM;\n")
    ok(sql_project.run())
    assert [v for v, _ in _history(sql_project)] == [1, 2, 3, 4]
    _write(sql_project, "5_vacuum.sql", "-- migrate:up\nVACUUM;\n")
    result = sql_project.run()
    assert result.status == 1 and "5_vacuum.sql" in result.err


def test_a_failing_statement_names_the_file_statement_and_line(sql_project):
    _write(sql_project, "1_a.sql", """\
        -- migrate:up
        CREATE TABLE a (x INTEGER);

        INSERT INTO a VALUES (1);
        INSERT INTO missing VALUES (2);
        """)
    result = sql_project.run()
    assert result.status == 1
    assert "in statement 3 (line 5) of" in result.err and "1_a.sql" in result.err
    assert _tables(sql_project) == []


def test_a_down_without_its_section_or_file_is_refused_before_anything_runs(sql_project):
    _write(sql_project, "1_a.sql", "-- migrate:up\nCREATE TABLE a (x INTEGER);\n")
    _write(sql_project, "2_b.up.sql", "CREATE TABLE b (x INTEGER);\n")
    ok(sql_project.run())
    assert_error(sql_project.run("--down"), "2_b.up.sql", "no down file (2_b.down.sql)")
    assert_error(sql_project.run("--to", "0"), "2_b.up.sql")
    (sql_project.migrations / "2_b.up.sql").unlink()
    ok(sql_project.run("forget", "2"))
    assert_error(sql_project.run("--down"), "1_a.sql", "no down section")
    assert _tables(sql_project) == ["a", "b"]


@pytest.mark.parametrize("name, text, needles", [
    ("1_a.sql", "CREATE TABLE a (x INTEGER);\n", ["1_a.sql, line 1", "no up marker"]),
    ("1_a.sql", "-- migrate:down\nDROP TABLE a;\n", ["1_a.sql", "no -- migrate:up"]),
    ("1_a.sql", "CREATE TABLE a (x INTEGER);\n-- migrate:up\n", ["1_a.sql, line 1", "no up marker"]),
    ("1_a.sql", "-- +goose Up\n-- +goose StatementBegin\nSELECT 1;\n",
     ["1_a.sql, line 2", "StatementBegin without StatementEnd"]),
    ("1_a.sql", "-- +goose Up\n-- +goose ENVSUB ON\nSELECT 1;\n",
     ["1_a.sql, line 2", "unknown goose annotation"]),
    ("1_a.sql", "-- migrate:up transaction:maybe\nSELECT 1;\n", ["1_a.sql, line 1", "unknown option"]),
])
def test_a_sql_file_in_no_known_shape_is_refused_when_it_would_run(sql_project, name, text, needles):
    _write(sql_project, name, text)
    assert_error(sql_project.run(), *needles)
    assert _history(sql_project) == []


@pytest.mark.parametrize("names, needles", [
    (["notes.sql"], ["notes.sql", "no known layout"]),
    (["V1.1__x.sql"], ["V1.1__x.sql", "Flyway version 1.1 is not a whole number"]),
    (["V1_1__x.sql"], ["V1_1__x.sql", "Flyway version 1.1 is not a whole number"]),
    (["1_a.sql", "1_b.up.sql"], ["two migrations have version 1"]),
    (["m1.py", "V1__x.sql"], ["two migrations have version 1", "m1.py", "V1__x.sql"]),
    (["2_a.down.sql"], ["2_a.down.sql", "a down file with no up file"]),
    (["U3__x.sql"], ["U3__x.sql", "a down file with no up file"]),
])
def test_sql_names_that_cannot_be_migrations_are_refused_by_every_command(sql_project, names, needles):
    for name in names:
        text = "version = 1\ndef up():\n    pass\n" if name.endswith(".py") else "-- migrate:up\nSELECT 1;\n"
        _write(sql_project, name, text)
    for command in ([], ["status"], ["check"]):
        assert_error(sql_project.run(*command), *needles)
    assert not (sql_project.root / "app.db").exists()


def test_a_sql_migration_needs_a_sql_store(project):
    _write(project, "1_a.sql", "-- migrate:up\nCREATE TABLE a (x INTEGER);\n")
    assert_error(project.run(), "1_a.sql", "is SQL", "SQL migrations need a SQL store")
    assert project.version() == ""


def test_fake_and_dry_run_run_no_sql(sql_project):
    _write(sql_project, "1_a.sql", "-- migrate:up\nCREATE TABLE a (x INTEGER);\n")
    dry = sql_project.run("--dry-run")
    ok(dry)
    assert "1_a.sql" in dry.out
    ok(sql_project.run("--fake"))
    assert _tables(sql_project) == [] and _history(sql_project) == [(1, "1_a.sql")]


def test_hooks_run_around_sql_migrations(sql_project):
    sql_project.write_conf("""\
        DATABASE = "app.db"
        def before_migration(context):
            context.execute("CREATE TABLE IF NOT EXISTS seen (name TEXT)")
            context.execute("INSERT INTO seen VALUES (?)", (context.migration.name,))
        """)
    _write(sql_project, "1_a.sql", "-- migrate:up\nCREATE TABLE a (x INTEGER);\n")
    ok(sql_project.run())
    assert _query(sql_project, "SELECT name FROM seen") == [("1_a.sql",)]


def test_dry_run_verbose_shows_each_statements_first_line(sql_project):
    _every_layout(sql_project)
    result = sql_project.run("--dry-run", "-v")
    ok(result)
    assert "up line 2: CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)" in result.out
    assert "up line 4: CREATE TRIGGER users_audit AFTER INSERT ON users BEGIN" in result.out
    assert "up line 1: CREATE TABLE orders (id INTEGER)" in result.out
    assert "    INSERT INTO audit" not in result.out  # first lines only
    quiet = sql_project.run("--dry-run")
    assert "up line" not in quiet.out
    assert _tables(sql_project) == []


@pytest.mark.parametrize("how", ["option", "conf"])
def test_new_writes_a_native_sql_migration_that_runs(sql_project, how):
    if how == "conf":
        sql_project.write_conf('DATABASE = "app.db"\nMIGRATION_FORMAT = "sql"\n')
    _write(sql_project, "1_a.sql", "-- migrate:up\nCREATE TABLE a (x INTEGER);\n")
    result = sql_project.run("new", *(["--sql"] if how == "option" else []), "Add the b table")
    ok(result)
    path = sql_project.migrations / "0002_add_the_b_table.sql"
    assert result.out.strip() == str(path)
    assert path.read_text().startswith("-- Add the b table\n-- migrate:up\n")
    path.write_text(path.read_text().replace(
        "-- migrate:up\n", "-- migrate:up\nCREATE TABLE b (x INTEGER);\n").replace(
        "-- migrate:down\n", "-- migrate:down\nDROP TABLE b;\n"))
    status = sql_project.run("status")
    assert "Add the b table" in status.out
    ok(sql_project.run())
    assert _tables(sql_project) == ["a", "b"]
    ok(sql_project.run("--down"))
    assert _tables(sql_project) == ["a"]


def test_a_bad_migration_format_is_refused(sql_project):
    sql_project.write_conf('DATABASE = "app.db"\nMIGRATION_FORMAT = "yaml"\n')
    assert_error(sql_project.run("new", "x"), "MIGRATION_FORMAT", "'yaml'")
    assert list(sql_project.migrations.iterdir()) == []
