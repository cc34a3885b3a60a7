"""SPEC 11 on PostgreSQL and MariaDB: a fleet of databases migrated in parallel, each through
its own connection from get_connection(target), with DATABASE_URL's {target} too."""
from __future__ import annotations

import textwrap

import pytest
import servers
from checks import ok


@pytest.fixture
def fleet_databases(one_driver_each, request):
    """Twenty fresh databases on the server of ``one_driver_each`` (itself one more)."""
    server = request.getfixturevalue(f"{one_driver_each.kind}_server")
    created = [servers.create_database(server, one_driver_each.driver) for _ in range(20)]
    try:
        yield one_driver_each, created
    finally:
        for database in created:
            servers.drop_database(database, server)


def test_twenty_databases_in_parallel(project, fleet_databases):
    first, databases = fleet_databases
    names = [database.name for database in databases]
    connect = first.connect_code.replace("def get_connection():", "def get_connection(target):")
    connect = connect.replace(repr(first.name), "target")
    project.write_conf(f"TARGETS = {names!r}\n" + connect)
    for version in (1, 2, 3):
        (project.migrations / f"{version:03d}_t{version}.sql").write_text(
            f"-- migrate:up\nCREATE TABLE t{version} (id INTEGER PRIMARY KEY);\n"
            f"INSERT INTO t{version} VALUES ({version});\n"
            f"-- migrate:down\nDROP TABLE t{version};\n")
    result = project.run("--all-targets", "--jobs", "8")
    ok(result)
    assert result.out.count("Now at version 3: applied 3 migrations") == 20
    for database in databases:
        assert database.query("SELECT MAX(version) FROM link_migration_history") == [(3,)]
        assert database.query("SELECT id FROM t2") == [(2,)]
    check = project.run("check", "--all-targets")
    ok(check)
    assert "20 targets: all well." in check.out
    ok(project.run("--all-targets", "--to", "1", "--jobs", "8"))
    assert {database.query("SELECT MAX(version) FROM link_migration_history")[0][0]
            for database in databases} == {1}


def test_database_url_names_the_target(project, one_driver_each, request):
    server = request.getfixturevalue(f"{one_driver_each.kind}_server")
    databases = [servers.create_database(server, one_driver_each.driver) for _ in range(2)]
    try:
        url = databases[0].url.replace(databases[0].name, "{target}")
        names = [database.name for database in databases]
        project.write_conf(f"TARGETS = {names!r}\nDATABASE_URL = {url!r}\n")
        (project.migrations / "001_a.sql").write_text(textwrap.dedent("""\
            -- migrate:up
            CREATE TABLE a (id INTEGER);
            -- migrate:down
            DROP TABLE a;
            """))
        ok(project.run("--all-targets"))
        for database in databases:
            assert database.query("SELECT version FROM link_migration_history") == [(1,)]
    finally:
        for database in databases:
            servers.drop_database(database, server)
