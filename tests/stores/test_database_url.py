"""DATABASE_URL (SPEC 12): SQLite paths as SQLAlchemy writes them, PostgreSQL and MariaDB URLs
opened with the first installed driver (or the one after +), and no password ever shown."""
from __future__ import annotations

import json
import sqlite3
import sys

import pytest

from checks import assert_error, ok
from link_migration.dialects.urls import DatabaseUrl
from link_migration.errors import ConfigError

PASSWORD = "s3cret p@ss/wd"
ENCODED = "s3cret%20p%40ss%2Fwd"


def _migration(project, version: int, up: str = "pass", down: str = "pass") -> None:
    (project.migrations / f"m{version}.py").write_text(
        f'"""Migration {version}."""\nversion = {version}\n'
        f"def up(context):\n    {up}\ndef down(context):\n    {down}\n")


def _with_driver(database) -> str:
    """The fixture's URL, naming the fixture's driver after the scheme."""
    scheme, rest = database.url.split("://", 1)
    driver = {"psycopg": "psycopg", "pg8000": "pg8000", "pymysql": "pymysql",
              "mysql.connector": "mysqlconnector"}[database.driver]
    return f"{scheme}+{driver}://{rest}"


def test_sqlite_urls_relative_to_conf_py_and_absolute(project, tmp_path):
    _migration(project, 1, "context.execute('CREATE TABLE a (x INTEGER)')")
    project.write_conf('DATABASE_URL = "sqlite:///data/app.db"\n')
    assert_error(project.run(), "the folder", "data", "does not exist")
    (project.root / "data").mkdir()
    ok(project.run("status"))
    assert not (project.root / "data" / "app.db").exists()  # reading creates nothing
    ok(project.run())
    with sqlite3.connect(project.root / "data" / "app.db") as connection:
        assert connection.execute("SELECT version FROM link_migration_history").fetchall() == [(1,)]
    absolute = tmp_path / "elsewhere.db"
    project.write_conf(f'DATABASE_URL = "sqlite:///{absolute}"\n')  # sqlite:////tmp/...
    ok(project.run())
    assert "SQLite database " + str(absolute) in project.run("status").out


@pytest.mark.parametrize("url, needles", [
    ("sqlite:///:memory:", ["in-memory"]),
    ("sqlite://host/app.db", ["does not name a SQLite file"]),
    ("oracle://u@h/db", ["scheme oracle"]),
    ("postgresql+odbc://u@h/db", ["driver 'odbc'"]),
    (f"postgresql://u:{ENCODED}@h:port/db", ["cannot be read"]),
    ("", ["not a URL"]),
])
def test_bad_urls_are_named_without_their_password(project, url, needles):
    project.write_conf(f"DATABASE_URL = {url!r}\n")
    _migration(project, 1)
    result = project.run()
    assert_error(result, *needles)
    assert "s3cret" not in result.err and "s3cret" not in result.out


def test_a_password_is_decoded_for_the_driver_and_redacted_for_people():
    url = DatabaseUrl(f"postgresql://app:{ENCODED}@db.internal:6432/shop?sslmode=require")
    assert (url.kind, url.user, url.password, url.host, url.port, url.name) == (
        "postgresql", "app", PASSWORD, "db.internal", 6432, "shop")
    assert url.options == {"sslmode": "require"}
    assert url.redacted() == "postgresql://app:***@db.internal:6432/shop?sslmode=require"
    assert url.scrub(f"failed for {PASSWORD} and {ENCODED}") == "failed for *** and ***"
    assert DatabaseUrl("postgres://h/db").kind == "postgresql"
    assert DatabaseUrl("mariadb://h/db").kind == "mysql"
    assert DatabaseUrl("mysql+mysqlconnector://h/db").driver == "mysql.connector"
    with pytest.raises(ConfigError):
        DatabaseUrl("mysql+psycopg://h/db")


def test_no_driver_installed_says_what_to_install(project, monkeypatch):
    for module in ("psycopg", "psycopg2", "pg8000", "pg8000.dbapi"):
        monkeypatch.setitem(sys.modules, module, None)  # import then fails, as if absent
    project.write_conf(f'DATABASE_URL = "postgresql://app:{ENCODED}@127.0.0.1:1/db"\n')
    _migration(project, 1)
    result = project.run("status")
    assert_error(result, "no driver for it is installed", "pip install psycopg[binary]",
                 "pip install pg8000")
    assert "s3cret" not in result.err


def test_a_server_url_migrates_with_the_named_driver(project, database):
    project.write_conf(f"DATABASE_URL = {_with_driver(database)!r}\n")
    _migration(project, 1, "context.execute('CREATE TABLE a (x INTEGER)')",
               "context.execute('DROP TABLE a')")
    ok(project.run())
    status = project.run("status")
    ok(status)
    name = "PostgreSQL" if database.kind == "postgresql" else "MariaDB"
    assert f"Store: {name} {database.name} on {database.host}:{database.port}" in status.out
    assert database.query("SELECT version FROM link_migration_history") == [(1,)]
    ok(project.run("--down"))
    assert database.query("SELECT COUNT(*) FROM link_migration_history") == [(0,)]


def test_query_parameters_reach_the_driver(project, postgresql_database):
    url = _with_driver(postgresql_database) + "?application_name=lm_from_url"
    project.write_conf(f"DATABASE_URL = {url!r}\n")
    _migration(project, 1, "assert context.execute('SHOW application_name').fetchone()[0] "
                           "== 'lm_from_url'")
    ok(project.run())


def test_no_output_path_shows_the_password(project, postgresql_database, tmp_path):
    scheme, rest = _with_driver(postgresql_database).split("://", 1)
    user, _, where = rest.partition("@")
    url = f"{scheme}://{user}:{ENCODED}@{where}"  # trust auth: the server never asks for it
    project.write_conf(f"DATABASE_URL = {url!r}\n")
    _migration(project, 1, "context.execute('CREATE TABLE a (x INTEGER)')")
    _migration(project, 2, "raise RuntimeError('boom')")
    outputs = []
    for command in (["--dry-run"], ["-v"], ["status"], ["status", "--json"], ["history"],
                    ["history", "--json"], ["check"], ["check", "--json"], ["current"],
                    ["unlock"], ["--to", "1", "--fake"], ["--down", "-v"]):
        result = project.run(*command)
        assert result.status in (0, 1), (command, result)
        outputs.append(result.out + result.err)
    json.loads(project.run("status", "--json").out)
    refused = url.replace(where.split("/")[0], "127.0.0.1:1")  # nothing listens there
    project.write_conf(f"DATABASE_URL = {refused!r}\n")
    result = project.run("status")
    assert_error(result, "cannot connect", "127.0.0.1:1")
    outputs.append(result.out + result.err)
    for text in outputs:
        assert "s3cret" not in text and ENCODED not in text, text
    assert any("***" in text for text in outputs)
