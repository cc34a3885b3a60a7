"""SPEC 8: --sql prints the script the plan would run; run by the database's own client (psql,
mariadb) or driver (sqlite3), it leaves the database as a real run does."""
from __future__ import annotations

import shutil
import sqlite3
import subprocess
import textwrap
from pathlib import Path

import pytest

import servers
from checks import assert_error, ok

_MIGRATIONS = {
    "001_users.sql": """\
        -- migrate:up
        CREATE TABLE users (id INTEGER PRIMARY KEY, name VARCHAR(50));
        INSERT INTO users VALUES (1, 'O''Brien; -- not a comment');
        -- migrate:down
        DROP TABLE users;
        """,
    "2_orders.up.sql": "CREATE TABLE orders (id INTEGER, user_id INTEGER);\n",
    "2_orders.down.sql": "DROP TABLE orders;\n",
    "V3__items.sql": "CREATE TABLE items (id INTEGER);\n",
    "U3__items.sql": "DROP TABLE items;\n",
}


def _write(folder: Path, files: dict[str, str]) -> None:
    folder.mkdir(exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(textwrap.dedent(text))


def _sqlite_state(path: Path) -> tuple:
    connection = sqlite3.connect(path)
    try:
        schema = connection.execute(
            "SELECT type, name, sql FROM sqlite_master ORDER BY type, name").fetchall()
        history = connection.execute(
            "SELECT version, file_name, checksum, faked FROM link_migration_history "
            "ORDER BY version").fetchall()
        log = connection.execute(
            "SELECT seq, version, operation, file_name FROM link_migration_log ORDER BY seq"
        ).fetchall()
        lock = connection.execute("SELECT id, owner, pid FROM link_migration_lock").fetchall()
        users = connection.execute("SELECT * FROM users").fetchall() if any(
            name == "users" for _, name, _ in schema) else []
    finally:
        connection.close()
    return schema, history, log, lock, users


def _two_sqlite_projects(project) -> tuple[Path, Path]:
    """The same migrations, under a conf.py that runs them (run.db) and one whose database
    only ever sees the printed script (script.db)."""
    _write(project.migrations, _MIGRATIONS)
    project.write_conf('DATABASE = "run.db"\n')
    other = project.root / "script_conf.py"
    other.write_text(f'MIGRATIONS_DIR = "migrations"\nDATABASE = "script.db"\n')
    return project.root / "run.db", other


def _script_then_run(project, conf: Path, database: Path, *argv: str) -> str:
    printed = project.run("-c", str(conf), "--sql", *argv, conf=False)
    ok(printed)
    connection = sqlite3.connect(database)
    connection.executescript(printed.out)
    connection.close()
    ok(project.run(*argv))
    return printed.out


def test_a_printed_script_run_by_sqlite_leaves_the_database_as_a_run_does(project):
    run_db, script_conf = _two_sqlite_projects(project)
    script_db = project.root / "script.db"
    out = _script_then_run(project, script_conf, script_db)
    assert not out.startswith("link-migration")  # the script alone on stdout
    assert "-- up 1 001_users.sql" in out and out.count("COMMIT;") == 4
    assert _sqlite_state(script_db) == _sqlite_state(run_db)
    status = project.run("-c", str(script_conf), "status", conf=False)
    assert "pending" not in status.out and "modified" not in status.out

    _script_then_run(project, script_conf, script_db, "--to", "1")  # tables exist now: no setup
    assert _sqlite_state(script_db) == _sqlite_state(run_db)
    _write(project.migrations, {"4_vacuum.sql": "-- migrate:up transaction:false\nVACUUM;\n"})
    out = _script_then_run(project, script_conf, script_db)
    assert "VACUUM;\nBEGIN;" in out  # outside the transaction, which records it after
    assert _sqlite_state(script_db) == _sqlite_state(run_db)


def test_sql_changes_nothing_and_refuses_a_python_migration(project):
    _write(project.migrations, _MIGRATIONS)
    project.write_conf('DATABASE = "app.db"\n')
    project.add_migration(4)
    result = project.run("--sql")
    assert_error(result, "m4.py", "is a Python migration", "--sql prints SQL only")
    assert result.out == ""
    assert not (project.root / "app.db").exists()
    ok(project.run("--sql", "--to", "3"))
    assert not (project.root / "app.db").exists()
    faked = project.run("--sql", "--fake")
    ok(faked)
    assert "'fake up'" in faked.out and "CREATE TABLE users" not in faked.out
    assert project.log() == []


def test_sql_needs_a_sql_store(project):
    _write(project.migrations, _MIGRATIONS)
    assert_error(project.run("--sql"), "--sql needs the history of a SQL store")


def _server_schema(database) -> list[tuple]:
    """Every column of every table (ours included), and every trigger and index, by name."""
    where = "current_schema()" if database.kind == "postgresql" else "DATABASE()"
    columns = database.query(
        "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns "
        f"WHERE table_schema = {where} ORDER BY table_name, column_name")
    triggers = database.query("SELECT trigger_name FROM information_schema.triggers "
                              f"WHERE trigger_schema = {where} ORDER BY trigger_name")
    return [tuple(row) for row in columns + triggers]


def _server_script_matches_a_run(project, database, tmp_path, client: list[str]) -> None:
    _write(project.migrations, _MIGRATIONS)
    project.write_conf(database.connect_code)
    printed = project.run("--sql")
    ok(printed)
    script = tmp_path / "plan.sql"
    script.write_text(printed.out)
    with open(script) as source:
        done = subprocess.run(client, stdin=source, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    history = database.query("SELECT version, file_name, checksum, faked FROM "
                             "link_migration_history ORDER BY version")
    log = database.query("SELECT seq, version, operation, file_name FROM link_migration_log "
                         "ORDER BY seq")
    users = database.query("SELECT id, name FROM users")
    schema = _server_schema(database)
    assert users == [(1, "O'Brien; -- not a comment")]
    status = project.run("status")
    assert "pending" not in status.out and "modified" not in status.out
    ok(project.run("--to", "0"))  # the tables the script made serve a real run
    assert database.query("SELECT COUNT(*) FROM link_migration_history") == [(0,)]
    ok(project.run())
    assert _server_schema(database) == schema
    assert database.query("SELECT version, file_name, checksum, faked FROM "
                          "link_migration_history ORDER BY version") == history
    assert {row[2] for row in log} == {"up"} and len(log) == len(history)


def _client(name: str) -> str:
    found = shutil.which(name)
    if name == "psql":
        binaries = servers.find_postgresql_bin()
        found = str(binaries / "psql") if binaries and (binaries / "psql").exists() else found
    if not found:
        message = f"{name} (the database's own client) is not installed"
        if servers.servers_required():
            pytest.fail(message)
        pytest.skip(message)
    return found


def test_a_printed_script_run_by_psql_leaves_the_database_as_a_run_does(
        project, postgresql_database, tmp_path):
    database = postgresql_database
    client = [_client("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", database.host, "-p",
              str(database.port), "-U", database.user, "-d", database.name]
    _server_script_matches_a_run(project, database, tmp_path, client)


def test_a_printed_script_run_by_mariadb_leaves_the_database_as_a_run_does(
        project, mariadb_database, tmp_path):
    database = mariadb_database
    # A backslash in a value the script writes (a file name here; a Windows user name
    # DOMAIN\\user in applied_by) is an escape character in MySQL's strings.
    _MIGRATIONS_WITH_TRIGGER = {"5_back\\slash.up.sql": "SELECT 1;\n", "5_back\\slash.down.sql": "SELECT 2;\n",
                                "4_touch.sql": """\
        -- migrate:up
        CREATE TABLE touched (n INTEGER);
        CREATE TRIGGER users_touch AFTER INSERT ON users FOR EACH ROW
        BEGIN
            INSERT INTO touched VALUES (NEW.id);
        END;
        -- migrate:down
        DROP TABLE touched;
        """}
    _write(project.migrations, _MIGRATIONS_WITH_TRIGGER)
    client = [_client("mariadb") if shutil.which("mariadb") else _client("mysql"),
              "--protocol=TCP", "-h", database.host, "-P", str(database.port), "-u",
              database.user, database.name]
    _server_script_matches_a_run(project, database, tmp_path, client)
    assert ("5_back\\slash.up.sql",) in database.query("SELECT file_name FROM link_migration_history")
    database.execute("INSERT INTO users VALUES (2, 'b')")
    assert database.query("SELECT n FROM touched") == [(2,)]
