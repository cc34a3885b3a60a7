"""SPEC 9 on SQLite: a migration that runs outside a transaction is recorded as it starts and
as each statement completes; if it fails it is failed, every run stops before it, and the
ways out are --resume and resolve."""
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


def _query(project, sql: str) -> list[tuple]:
    connection = sqlite3.connect(project.root / "app.db")
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


def _tables(project) -> list[str]:
    return [name for (name,) in _query(
        project, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE "
                 "'link_migration_%' ORDER BY name")]


def _history(project) -> list[int]:
    return [v for (v,) in _query(project, "SELECT version FROM link_migration_history ORDER BY version")]


def _log(project) -> list[tuple[int, str]]:
    return _query(project, "SELECT version, operation FROM link_migration_log ORDER BY seq")


def _status(project) -> dict[int, dict]:
    result = project.run("status", "--json")
    ok(result)
    return {row["version"]: row for row in json.loads(result.out)["migrations"]}


_FOUR_STATEMENTS = """\
    -- migrate:up transaction:false
    CREATE TABLE a (x INTEGER);
    INSERT INTO a VALUES (1);
    INSERT INTO {target} VALUES (2);
    CREATE TABLE c (x INTEGER);
    -- migrate:down transaction:false
    DROP TABLE c;
    DROP TABLE a;
    """


def _failed_sql(project) -> None:
    _write(project, "1_a.sql", _FOUR_STATEMENTS.format(target="nowhere"))
    _write(project, "2_d.sql", "-- migrate:up\nCREATE TABLE d (x INTEGER);\n")
    result = project.run()
    assert result.status == 1
    assert "2 of its 4 statements completed and are in place" in result.err
    assert "recorded as failed" in result.err and "--resume" in result.err
    assert "resolve 1 --applied" in result.err


def test_a_sql_migration_outside_a_transaction_that_fails_is_failed_statement_by_statement(sql_project):
    _failed_sql(sql_project)
    assert _tables(sql_project) == ["a"]
    status = _status(sql_project)
    assert status[1]["state"] == "failed" and status[2]["state"] == "pending"
    failure = status[1]["failure"]
    assert (failure["direction"], failure["statements_done"], failure["statements"]) == ("up", 2, 4)
    assert "no such table: nowhere" in failure["error"] and failure["ended_at"]
    check = sql_project.run("check")
    assert check.status == 1
    assert "failed: 1 1_a.sql: up failed, 2 of 4 statements completed: OperationalError" in check.out
    text = sql_project.run("status")
    assert "failed" in text.out


def test_a_run_refuses_to_go_past_a_failed_migration(sql_project):
    _failed_sql(sql_project)
    for argv in ([], ["--to", "2"], ["--down"], ["--fake"]):
        result = sql_project.run(*argv)
        assert_error(result, "migration 1 (1_a.sql) failed", "2 of 4 statements completed",
                     "nothing was run", "--resume", "resolve 1 --applied")
    assert _tables(sql_project) == ["a"] and _history(sql_project) == []


def test_resume_goes_on_from_the_statement_that_failed(sql_project):
    _failed_sql(sql_project)
    _write(sql_project, "1_a.sql", _FOUR_STATEMENTS.format(target="a"))
    result = sql_project.run("--resume")
    ok(result)
    assert _query(sql_project, "SELECT x FROM a ORDER BY x") == [(1,), (2,)]  # 1 ran once
    assert _tables(sql_project) == ["a", "c", "d"]
    assert _history(sql_project) == [1, 2]
    assert {row["state"] for row in _status(sql_project).values()} == {"applied"}
    assert_error(sql_project.run("--resume"), "nothing to resume")


def test_resume_refuses_when_a_completed_statement_changed(sql_project):
    _failed_sql(sql_project)
    _write(sql_project, "1_a.sql", _FOUR_STATEMENTS.format(target="a").replace(
        "VALUES (1)", "VALUES (10)"))
    assert_error(sql_project.run("--resume"), "cannot resume migration 1",
                 "first 2 statements", "not the same")
    assert _query(sql_project, "SELECT x FROM a") == [(1,)]


def test_resume_must_start_with_the_failed_migration(sql_project):
    _write(sql_project, "1_x.sql", "-- migrate:up\nCREATE TABLE x (x INTEGER);\n-- migrate:down\nDROP TABLE x;\n")
    ok(sql_project.run())
    _write(sql_project, "2_a.sql", _FOUR_STATEMENTS.format(target="nowhere"))
    assert sql_project.run().status == 1
    assert_error(sql_project.run("--down", "--resume"), "cannot resume",
                 "failed migration is 2 (up)", "starts with 1 (down)")
    assert _tables(sql_project) == ["a", "x"]


def test_a_python_migration_outside_a_transaction_fails_and_resumes_from_its_start(sql_project):
    flag = sql_project.root / "broken"
    flag.touch()
    _write(sql_project, "m1.py", f"""\
        import os
        version = 1
        transactional = False
        def up(context):
            context.execute("CREATE TABLE IF NOT EXISTS p (x INTEGER)")
            context.execute("INSERT INTO p VALUES (1)")
            if os.path.exists({str(flag)!r}):
                raise RuntimeError("half done")
        def down(context):
            context.execute("DROP TABLE p")
        """)
    result = sql_project.run()
    assert result.status == 1 and "recorded as failed" in result.err
    status = _status(sql_project)[1]
    assert status["state"] == "failed" and status["failure"]["statements"] is None
    check = sql_project.run("check")
    assert "a Python migration, stopped part-way: RuntimeError: half done" in check.out
    flag.unlink()
    ok(sql_project.run("--resume"))
    assert _query(sql_project, "SELECT COUNT(*) FROM p") == [(2,)]  # from its start: twice
    assert _history(sql_project) == [1]


@pytest.mark.parametrize("outcome", ["--applied", "--rolled-back"])
def test_resolve_a_failed_up(sql_project, outcome):
    _failed_sql(sql_project)
    result = sql_project.run("resolve", "1", outcome)
    ok(result)
    assert "Resolved migration 1 (1_a.sql)" in result.out
    if outcome == "--applied":
        assert _history(sql_project) == [1]
        assert _log(sql_project) == [(1, "resolve applied")]
    else:
        assert _history(sql_project) == []
        assert _log(sql_project) == [(1, "resolve undone")]
    assert _status(sql_project)[1]["state"] == ("applied" if outcome == "--applied" else "pending")
    assert_error(sql_project.run("resolve", "1", outcome), "cannot resolve version 1",
                 "it has not failed")


@pytest.mark.parametrize("outcome", ["--applied", "--rolled-back"])
def test_resolve_a_failed_down(sql_project, outcome):
    _write(sql_project, "1_a.sql", """\
        -- migrate:up
        CREATE TABLE a (x INTEGER);
        CREATE TABLE b (x INTEGER);
        -- migrate:down transaction:false
        DROP TABLE b;
        DROP TABLE nowhere;
        DROP TABLE a;
        """)
    ok(sql_project.run())
    result = sql_project.run("--down")
    assert result.status == 1 and "1 of its 3 statements completed" in result.err
    assert _status(sql_project)[1]["failure"]["direction"] == "down"
    assert _tables(sql_project) == ["a"]
    ok(sql_project.run("resolve", "1", outcome))
    assert _history(sql_project) == ([] if outcome == "--applied" else [1])
    assert _log(sql_project)[-1] == (1, "resolve applied" if outcome == "--applied" else "resolve undone")


def test_resolve_needs_one_outcome_and_a_failed_version(sql_project):
    _failed_sql(sql_project)
    assert_error(sql_project.run("resolve", "1"), "--applied", "--rolled-back")
    assert_error(sql_project.run("resolve", "1", "--applied", "--rolled-back"), "not allowed")
    assert_error(sql_project.run("resolve", "2", "--applied"), "cannot resolve version 2",
                 "failed: 1")
    assert _history(sql_project) == []


def test_a_transactional_failure_is_no_failed_state(sql_project):
    """Inside a transaction on SQLite nothing stays: the migration is pending again."""
    _write(sql_project, "1_a.sql", "-- migrate:up\nCREATE TABLE a (x INTEGER);\nINSERT INTO nowhere VALUES (1);\n")
    result = sql_project.run()
    assert result.status == 1 and "rolled back" in result.err and "--resume" not in result.err
    assert _status(sql_project)[1]["state"] == "pending"
    assert _tables(sql_project) == []


def test_a_failed_down_resumes_with_down_and_resume(sql_project):
    down = """\
        -- migrate:up
        CREATE TABLE a (x INTEGER);
        CREATE TABLE b (x INTEGER);
        -- migrate:down transaction:false
        DROP TABLE b;
        DROP TABLE {target};
        """
    _write(sql_project, "1_a.sql", down.format(target="nowhere"))
    ok(sql_project.run())
    assert sql_project.run("--down").status == 1
    assert_error(sql_project.run("--resume"), "cannot resume", "failed migration is 1 (down)")
    _write(sql_project, "1_a.sql", down.format(target="a"))
    ok(sql_project.run("--down", "--resume"))
    assert _tables(sql_project) == [] and _history(sql_project) == []
    assert _log(sql_project)[-1] == (1, "down")


def test_status_says_when_and_by_whom_and_a_python_down_resolves(sql_project):
    _write(sql_project, "m1.py", """\
        version = 1
        transactional = False
        def up(context):
            context.execute("CREATE TABLE p (x INTEGER)")
        def down(context):
            context.execute("DROP TABLE p")
            raise RuntimeError("half undone")
        """)
    ok(sql_project.run())
    result = sql_project.run("--down")
    assert result.status == 1 and "recorded as failed" in result.err
    status = sql_project.run("status")
    assert "Migration 1 (m1.py) down failed, a Python migration, stopped part-way: " \
           "RuntimeError: half undone" in status.out
    assert "started " in status.out and " by " in status.out and "stopped " in status.out
    assert "Go on with --resume, or settle it with resolve 1 --applied" in status.out
    ok(sql_project.run("resolve", "1", "--applied"))
    assert _history(sql_project) == [] and _tables(sql_project) == []


def test_a_migration_outside_a_transaction_may_group_statements_in_its_own(sql_project):
    _write(sql_project, "1_a.sql", """\
        -- migrate:up transaction:false
        CREATE TABLE a (x INTEGER);
        BEGIN;
        INSERT INTO a VALUES (1);
        INSERT INTO a VALUES (2);
        COMMIT;
        VACUUM;
        """)
    ok(sql_project.run())
    assert _query(sql_project, "SELECT x FROM a ORDER BY x") == [(1,), (2,)]
    assert _history(sql_project) == [1]


def test_fake_resume_and_sql_settle_or_refuse_a_failed_migration(sql_project):
    _failed_sql(sql_project)
    assert_error(sql_project.run("--sql"), "migration 1 (1_a.sql) failed", "--resume")
    ok(sql_project.run("--fake", "--resume", "--to", "1"))
    assert _history(sql_project) == [1] and _status(sql_project)[1]["state"] == "applied"
    assert_error(sql_project.run("resolve", "1", "--applied"), "it has not failed")
