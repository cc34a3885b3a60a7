"""The test infrastructure itself: each driver reaches a fresh, empty database on a real server."""
from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

import servers
from servers import Database

REPO = Path(__file__).resolve().parent.parent
PARAMSTYLES = {"psycopg": "pyformat", "pg8000": "format", "pymysql": "pyformat", "mysql.connector": "pyformat"}


def test_connect_create_insert_select(database: Database) -> None:
    """A table made, filled and read back through the driver, committed across connections."""
    connection = database.connect()
    try:
        cursor = connection.cursor()
        cursor.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, label VARCHAR(20))")
        # %s suits all four: "format", and the positional form of "pyformat"
        cursor.execute("INSERT INTO items (id, label) VALUES (%s, %s)", (1, "one"))
        cursor.execute("INSERT INTO items (id, label) VALUES (%s, %s)", (2, "two"))
        connection.commit()
        cursor.execute("SELECT id, label FROM items ORDER BY id")
        assert [tuple(row) for row in cursor.fetchall()] == [(1, "one"), (2, "two")]
    finally:
        connection.close()
    assert database.query("SELECT label FROM items WHERE id = %s", (2,)) == [("two",)]


def test_autocommit_is_off_by_default(database: Database) -> None:
    """connect() keeps the driver's default: an uncommitted insert is gone after a rollback."""
    database.execute("CREATE TABLE t (a INTEGER)")
    connection = database.connect()
    cursor = connection.cursor()
    cursor.execute("INSERT INTO t (a) VALUES (1)")
    connection.rollback()
    connection.close()
    assert database.query("SELECT COUNT(*) FROM t") == [(0,)]


def test_paramstyle(database: Database) -> None:
    """The module-level paramstyle each driver declares (what a SQL store must adapt to)."""
    assert importlib.import_module(database.driver).paramstyle == PARAMSTYLES[database.driver]


def test_connect_code_and_url(database: Database) -> None:
    """connect_code is a working get_connection() for a conf.py; url names the same database."""
    namespace: dict = {}
    exec(database.connect_code, namespace)
    connection = namespace["get_connection"]()
    try:
        assert type(connection).__module__.split(".")[0] == database.driver.split(".")[0]
        cursor = connection.cursor()
        cursor.execute("SELECT current_database()" if database.kind == "postgresql" else "SELECT DATABASE()")
        assert cursor.fetchone()[0] == database.name
    finally:
        connection.close()
    scheme = "postgresql" if database.kind == "postgresql" else "mysql"
    assert database.url == f"{scheme}://{database.user}@{database.host}:{database.port}/{database.name}"


def _tables(database: Database) -> list[tuple]:
    """The tables of the database (PostgreSQL's in the public schema), as query() rows."""
    return database.query(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
        ("public" if database.kind == "postgresql" else database.name,),
    )


def test_two_databases_are_distinct_and_empty(database: Database, request: pytest.FixtureRequest) -> None:
    """Another database on the same server, made the same way, is separate and starts empty."""
    server = request.getfixturevalue(f"{database.kind}_server")
    other = servers.create_database(server, database.driver)
    try:
        assert other.name != database.name and other.port == database.port
        assert _tables(database) == [] and _tables(other) == []
        database.execute("CREATE TABLE only_here (a INTEGER)")
        assert _tables(database) == [("only_here",)] and _tables(other) == []
    finally:
        servers.drop_database(other, server)
    assert (other.name,) not in database.query(
        "SELECT datname FROM pg_database" if database.kind == "postgresql" else "SHOW DATABASES"
    )


def test_postgresql_database_fixture(postgresql_database: Database) -> None:
    """postgresql_database runs only on PostgreSQL's drivers."""
    assert postgresql_database.kind == "postgresql" and postgresql_database.driver in ("psycopg", "pg8000")
    assert postgresql_database.query("SELECT 1") == [(1,)]


def test_mariadb_database_fixture(mariadb_database: Database) -> None:
    """mariadb_database runs only on MariaDB's drivers, and the server really is MariaDB."""
    assert mariadb_database.kind == "mariadb" and mariadb_database.driver in ("pymysql", "mysql.connector")
    assert "MariaDB" in mariadb_database.query("SELECT VERSION()")[0][0]


def test_missing_driver_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    """A driver that does not import gives the one-line reason the fixtures skip (or fail) with."""
    monkeypatch.setitem(servers.DRIVERS, "no_such_driver_lm", ("postgresql", "no-such-driver"))
    assert servers.missing_driver("no_such_driver_lm") == (
        "driver no_such_driver_lm not installed (no-such-driver): pip install -e '.[test]'"
    )


BLOCKER = """\
import sys
sys.modules["pg8000"] = None  # import pg8000 now raises ImportError
sys.path.insert(0, {tests!r})
import servers
servers.find_mariadb = lambda: None  # as if MariaDB were not installed
"""


@pytest.mark.parametrize("required", ["", "1"], ids=["skips", "fails-when-required"])
def test_missing_driver_or_server_skips_or_fails(tmp_path: Path, required: str) -> None:
    """A missing driver or server skips with one line saying what to install; with
    LINK_MIGRATION_REQUIRE_SERVERS=1 the same line fails the test instead. Pytest runs in a
    child with pg8000 unimportable and MariaDB not found; no server starts."""
    (tmp_path / "blocker.py").write_text(BLOCKER.format(tests=str(REPO / "tests")))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    env[servers.REQUIRE_ENV] = required
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "blocker", "-p", "no:cacheprovider", "-q",
         "tests/test_servers.py", "-k", "test_paramstyle and (pg8000 or pymysql)"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120,
    )
    reasons = [
        "driver pg8000 not installed (pg8000): pip install -e '.[test]'",
        "MariaDB server not found: install it (apt-get install mariadb-server) to run these tests",
    ]
    lines = result.stdout.splitlines()
    if required:
        assert result.returncode == 1, result.stdout
        assert "2 errors" in result.stdout, result.stdout
        assert all(reason in lines for reason in reasons), result.stdout  # each alone on its line
    else:
        assert result.returncode == 0, result.stdout
        assert "2 skipped" in result.stdout, result.stdout
        assert all(any(line.startswith("SKIPPED [1]") and line.endswith(reason) for line in lines) for reason in reasons), result.stdout
