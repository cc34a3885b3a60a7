"""SPEC 8: adopt TOOL takes over a database that golang-migrate, dbmate, goose or Flyway
migrated, on SQLite, PostgreSQL and MariaDB.

The peers' tables are written here as each tool's documentation and source create them:
golang-migrate's schema_migrations (version, dirty), dbmate's schema_migrations (version as
text, one row per applied migration), goose's goose_db_version (a row per up and per down,
with the bootstrap row for version 0), Flyway's flyway_schema_history (a row per script, with
its type and success).
"""
from __future__ import annotations

import sqlite3
import textwrap
from typing import Any, Callable

import pytest

from checks import assert_error, ok
from link_migration import Migrator

TOOLS = ("golang-migrate", "dbmate", "goose", "flyway")


def _peer_table(tool: str, kind: str) -> list[str]:
    """CREATE TABLE for ``tool``'s table on a database of ``kind``."""
    boolean = "INTEGER" if kind == "sqlite" else "BOOLEAN"
    if tool == "golang-migrate":
        return [f"CREATE TABLE schema_migrations (version BIGINT NOT NULL PRIMARY KEY, "
                f"dirty {boolean} NOT NULL)"]
    if tool == "dbmate":
        return ["CREATE TABLE schema_migrations (version VARCHAR(128) PRIMARY KEY)"]
    if tool == "goose":
        identity = {"sqlite": "INTEGER PRIMARY KEY AUTOINCREMENT",
                    "postgresql": "SERIAL PRIMARY KEY",
                    "mariadb": "SERIAL PRIMARY KEY"}[kind]
        return [f"CREATE TABLE goose_db_version (id {identity}, version_id BIGINT NOT NULL, "
                f"is_applied {boolean} NOT NULL, tstamp TIMESTAMP NULL DEFAULT CURRENT_TIMESTAMP)"]
    return [f"CREATE TABLE flyway_schema_history (installed_rank INT NOT NULL PRIMARY KEY, "
            "version VARCHAR(50), description VARCHAR(200) NOT NULL, type VARCHAR(20) NOT NULL, "
            "script VARCHAR(1000) NOT NULL, checksum INT, installed_by VARCHAR(100) NOT NULL, "
            "installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, execution_time INT NOT "
            f"NULL, success {boolean} NOT NULL)"]


def _true(kind: str) -> str:
    return "1" if kind == "sqlite" else "TRUE"


def _false(kind: str) -> str:
    return "0" if kind == "sqlite" else "FALSE"


def _flyway_row(rank: int, version: str | None, kind_of_row: str, success: str) -> str:
    version_sql = "NULL" if version is None else f"'{version}'"
    return (f"INSERT INTO flyway_schema_history (installed_rank, version, description, type, "
            f"script, checksum, installed_by, execution_time, success) VALUES ({rank}, "
            f"{version_sql}, 'd', '{kind_of_row}', 's', 0, 'ops', 1, {success})")


def _applied_1_and_2(tool: str, kind: str) -> list[str]:
    """Rows saying that versions 1 and 2 are applied (and, where the tool keeps them, the
    rows that stand for no migration)."""
    t, f = _true(kind), _false(kind)
    if tool == "golang-migrate":
        return [f"INSERT INTO schema_migrations VALUES (2, {f})"]
    if tool == "dbmate":
        return ["INSERT INTO schema_migrations VALUES ('1')",
                "INSERT INTO schema_migrations VALUES ('2')"]
    if tool == "goose":
        return [f"INSERT INTO goose_db_version (version_id, is_applied) VALUES ({v}, {a})"
                for v, a in ((0, t), (1, t), (2, t), (3, t), (3, f))]  # 3 up, then down
    return [_flyway_row(0, None, "SCHEMA", t), _flyway_row(1, "1", "SQL", t),
            _flyway_row(2, "2", "SQL", t), _flyway_row(3, None, "SQL", t)]  # rank 3: an R__


class Backend:
    def __init__(self, kind: str, conf: str, execute: Callable[[str], Any],
                 query: Callable[[str], list[tuple]]) -> None:
        self.kind, self.conf, self.execute, self.query = kind, conf, execute, query

    def history(self) -> list[tuple[int, str]]:
        return [(int(v), f) for v, f in self.query(
            "SELECT version, file_name FROM link_migration_history ORDER BY version")]

    def log(self) -> list[tuple[int, str]]:
        return [(int(v), op) for v, op in self.query(
            "SELECT version, operation FROM link_migration_log ORDER BY seq")]

    def has_history_table(self) -> bool:
        try:
            self.query("SELECT COUNT(*) FROM link_migration_history")
        except Exception:
            return False
        return True


@pytest.fixture
def sqlite_backend(project) -> Backend:
    path = project.root / "app.db"

    def query(sql: str) -> list[tuple]:
        connection = sqlite3.connect(path)
        try:
            rows = connection.execute(sql).fetchall()
            connection.commit()
            return rows
        finally:
            connection.close()

    return Backend("sqlite", 'DATABASE = "app.db"\n', query, query)


@pytest.fixture
def server_backend(database) -> Backend:
    return Backend(database.kind, database.connect_code, database.execute, database.query)


def _files(project) -> None:
    """Migrations 1 to 3 in the tool's own layout would do; one layout is enough here, since
    adopt reads versions, and the run afterwards applies 3."""
    for version in (1, 2, 3):
        (project.migrations / f"{version}_t{version}.up.sql").write_text(
            f"CREATE TABLE t{version} (x INTEGER);\n")
        (project.migrations / f"{version}_t{version}.down.sql").write_text(f"DROP TABLE t{version};\n")


def _adopt_then_run(project, backend: Backend, tool: str) -> None:
    project.write_conf(backend.conf)
    _files(project)
    for statement in _peer_table(tool, backend.kind) + _applied_1_and_2(tool, backend.kind):
        backend.execute(statement)
    backend.execute("CREATE TABLE t1 (x INTEGER)")
    backend.execute("CREATE TABLE t2 (x INTEGER)")
    peer_rows = backend.query(f"SELECT * FROM {_table(tool)}")

    result = project.run("adopt", tool)
    ok(result)
    assert f"Adopted 2 migrations from {tool}'s table {_table(tool)} (versions 1, 2)" in result.out
    assert backend.history() == [(1, "1_t1.up.sql"), (2, "2_t2.up.sql")]
    assert backend.log() == [(1, "adopt"), (2, "adopt")]
    assert backend.query(f"SELECT * FROM {_table(tool)}") == peer_rows  # left as it is
    status = project.run("status")
    assert "3        pending" in status.out
    ok(project.run())
    assert [v for v, _ in backend.history()] == [1, 2, 3]
    assert_error(project.run("adopt", tool), "history", "is not empty")


def _table(tool: str) -> str:
    return {"goose": "goose_db_version", "flyway": "flyway_schema_history"}.get(
        tool, "schema_migrations")


@pytest.mark.parametrize("tool", TOOLS)
def test_adopt_from_each_peer_on_sqlite(project, sqlite_backend, tool):
    _adopt_then_run(project, sqlite_backend, tool)


@pytest.mark.parametrize("tool", TOOLS)
def test_adopt_from_each_peer_on_a_server(project, server_backend, tool):
    _adopt_then_run(project, server_backend, tool)


def _refused(project, backend: Backend, tool: str, rows: list[str], *needles: str) -> None:
    project.write_conf(backend.conf)
    _files(project)
    for statement in _peer_table(tool, backend.kind) + rows:
        backend.execute(statement)
    assert_error(project.run("adopt", tool), *needles, "nothing was adopted")
    assert not backend.has_history_table() or backend.history() == []


@pytest.mark.parametrize("case", ["dirty", "failed", "no file", "not whole"])
def test_adopt_refuses_and_records_nothing(project, sqlite_backend, case):
    t = _true("sqlite")
    if case == "dirty":
        _refused(project, sqlite_backend, "golang-migrate",
                 [f"INSERT INTO schema_migrations VALUES (2, {t})"],
                 "marks version 2 dirty")
    elif case == "failed":
        _refused(project, sqlite_backend, "flyway",
                 [_flyway_row(1, "1", "SQL", t), _flyway_row(2, "2", "SQL", _false("sqlite"))],
                 "marks version 2 failed")
    elif case == "no file":
        _refused(project, sqlite_backend, "dbmate",
                 ["INSERT INTO schema_migrations VALUES ('1')",
                  "INSERT INTO schema_migrations VALUES ('20260101000000')"],
                 "lists version 20260101000000, and no migration file here")
    else:
        _refused(project, sqlite_backend, "flyway", [_flyway_row(1, "1.1", "SQL", t)],
                 "'1.1', which is not a whole number")


def test_adopt_refuses_on_a_server_too(project, server_backend):
    _refused(project, server_backend, "golang-migrate",
             [f"INSERT INTO schema_migrations VALUES (3, {_true(server_backend.kind)})"],
             "marks version 3 dirty")


def test_adopt_without_the_peers_table_names_it(project, sqlite_backend):
    project.write_conf(sqlite_backend.conf)
    _files(project)
    assert_error(project.run("adopt", "goose"), "has no table goose_db_version", "--table")
    assert_error(project.run("adopt", "liquibase"), "unknown tool 'liquibase'")


def test_adopt_reads_a_renamed_table_and_a_flyway_baseline(project, sqlite_backend):
    """Flyway's baseline says every version up to it was in place before Flyway ran; an undo
    takes a version back."""
    project.write_conf(sqlite_backend.conf)
    _files(project)
    (project.migrations / "4_t4.up.sql").write_text("CREATE TABLE t4 (x INTEGER);\n")
    sqlite_backend.execute(_peer_table("flyway", "sqlite")[0].replace(
        "flyway_schema_history", "app_history"))
    t = _true("sqlite")
    for row in (_flyway_row(1, "2", "BASELINE", t), _flyway_row(2, "3", "SQL", t),
                _flyway_row(3, "4", "SQL", t), _flyway_row(4, "4", "UNDO_SQL", t)):
        sqlite_backend.execute(row.replace("flyway_schema_history", "app_history"))
    result = project.run("adopt", "flyway", "--table", "app_history")
    ok(result)
    assert [v for v, _ in sqlite_backend.history()] == [1, 2, 3]


def test_adopt_from_an_empty_peer_table_adopts_nothing(project, sqlite_backend):
    project.write_conf(sqlite_backend.conf)
    _files(project)
    sqlite_backend.execute(_peer_table("dbmate", "sqlite")[0])
    result = project.run("adopt", "dbmate")
    ok(result)
    assert "Nothing to adopt" in result.out


def test_adopt_from_python(project, sqlite_backend):
    project.write_conf(sqlite_backend.conf)
    _files(project)
    for statement in _peer_table("goose", "sqlite") + _applied_1_and_2("goose", "sqlite"):
        sqlite_backend.execute(statement)
    result = Migrator.from_config(project.conf).adopt("goose")
    assert (result.adopted, result.current) == ((1, 2), 2)
