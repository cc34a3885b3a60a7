"""SPEC 9 on PostgreSQL and MariaDB: failed migrations, --resume and resolve."""
from __future__ import annotations

import json
import textwrap

from checks import assert_error, ok


def _status(project) -> dict[int, dict]:
    result = project.run("status", "--json")
    ok(result)
    return {row["version"]: row for row in json.loads(result.out)["migrations"]}


def test_a_sql_migration_outside_a_transaction_fails_and_resumes(project, database):
    project.write_conf(database.connect_code)
    script = textwrap.dedent("""\
        -- migrate:up transaction:false
        CREATE TABLE a (x INTEGER);
        INSERT INTO a VALUES (1);
        INSERT INTO {target} VALUES (2);
        """)
    (project.migrations / "1_a.sql").write_text(script.format(target="nowhere"))
    result = project.run()
    assert result.status == 1 and "2 of its 3 statements completed" in result.err
    failure = _status(project)[1]["failure"]
    assert (failure["statements_done"], failure["statements"]) == (2, 3)
    assert_error(project.run(), "migration 1 (1_a.sql) failed", "--resume")
    (project.migrations / "1_a.sql").write_text(script.format(target="a"))
    ok(project.run("--resume"))
    assert sorted(database.query("SELECT x FROM a")) == [(1,), (2,)]
    assert _status(project)[1]["state"] == "applied"


def test_on_mariadb_a_failed_python_migration_is_failed_not_rolled_back(project, mariadb_database):
    """Its CREATE TABLE committed by itself: the store cannot say that nothing changed."""
    database = mariadb_database
    project.write_conf(database.connect_code)
    (project.migrations / "m1.py").write_text(textwrap.dedent("""\
        version = 1
        def up(context):
            context.execute("CREATE TABLE IF NOT EXISTS a (x INTEGER)")
            context.execute("INSERT INTO nowhere VALUES (1)")
        def down(context):
            context.execute("DROP TABLE a")
        """))
    result = project.run()
    assert result.status == 1
    assert "may be in place, so it is recorded as failed" in result.err
    assert "its changes were rolled back" not in result.err
    assert _status(project)[1]["state"] == "failed"
    assert database.query("SELECT COUNT(*) FROM information_schema.tables WHERE "
                          "table_schema = DATABASE() AND table_name = 'a'") == [(1,)]
    ok(project.run("resolve", "1", "--rolled-back"))
    assert _status(project)[1]["state"] == "pending"
    assert [op for (op,) in database.query(
        "SELECT operation FROM link_migration_log ORDER BY seq")] == ["resolve undone"]
