"""`check` (SPEC section 5): exit 0 when every migration is applied and nothing is wrong, 1 for
each kind of problem, 2 for a configuration error; through the real CLI with real files and
real SQLite databases."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from checks import assert_error, ok

DATABASE_CONF = 'DATABASE = "app.db"\n'
PROBLEM_KEYS = {"kind", "version", "file", "message"}


# ============================================================================= helpers


def check_json(project) -> tuple[int, dict]:
    result = project.run("check", "--json")
    assert result.status in (0, 1), (result.status, result.out, result.err)
    document = json.loads(result.out)
    assert set(document) >= {"ok", "store", "current_version", "problems"}, document
    for problem in document["problems"]:
        assert set(problem) >= PROBLEM_KEYS, problem
    return result.status, document


def kinds(document: dict) -> list[tuple[str, object]]:
    return [(p["kind"], p["version"]) for p in document["problems"]]


def problem_lines(out: str) -> list[str]:
    return [line.strip() for line in out.splitlines() if line.startswith("  ")]


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` and its bytes (sqlite's -journal/-wal files included)."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


# ============================================================================= all is well


def test_everything_applied_is_exit_0_with_an_ok_message(project) -> None:
    project.add_migration(1)
    project.add_migration(2)
    ok(project.run())
    result = project.run("check")
    ok(result)
    assert "OK" in result.out
    assert "version 2" in result.out
    assert result.err == ""


def test_everything_applied_on_sqlite_is_exit_0(project) -> None:
    project.write_conf(DATABASE_CONF)
    project.add_migration(1)
    project.add_migration(2)
    ok(project.run())
    result = project.run("check")
    ok(result)
    assert "OK" in result.out


def test_no_migrations_and_empty_store_is_ok(project) -> None:
    result = project.run("check")
    ok(result)
    assert "OK" in result.out


def test_ok_json(project) -> None:
    project.add_migration(1)
    ok(project.run())
    status, document = check_json(project)
    assert status == 0
    assert document["ok"] is True
    assert document["problems"] == []
    assert document["current_version"] == 1
    assert "version.txt" in document["store"]


# ============================================================================= one kind at a time


def test_pending_on_a_version_file(project) -> None:
    project.add_migration(1)
    project.add_migration(2)
    ok(project.run("--up", "1"))
    result = project.run("check")
    assert result.status == 1, (result.out, result.err)
    assert problem_lines(result.out) == ["pending: 2 m2.py: not applied yet"]
    assert "Current version: 1" in result.out
    status, document = check_json(project)
    assert status == 1
    assert document["ok"] is False
    assert kinds(document) == [("pending", 2)]
    assert document["problems"][0]["file"] == "m2.py"
    assert document["problems"][0]["message"]


def test_pending_on_sqlite(project) -> None:
    project.write_conf(DATABASE_CONF)
    project.add_migration(1)
    project.add_migration(2)
    project.add_migration(3)
    ok(project.run("--up", "1"))
    result = project.run("check")
    assert result.status == 1, (result.out, result.err)
    assert problem_lines(result.out) == [
        "pending: 2 m2.py: not applied yet",
        "pending: 3 m3.py: not applied yet",
    ]
    status, document = check_json(project)
    assert status == 1
    assert kinds(document) == [("pending", 2), ("pending", 3)]
    assert document["current_version"] == 1
    assert "app.db" in document["store"]


def test_pending_on_sqlite_before_any_run_does_not_create_the_database(project) -> None:
    project.write_conf(DATABASE_CONF)
    project.add_migration(1)
    result = project.run("check")
    assert result.status == 1, (result.out, result.err)
    assert "pending: 1" in result.out
    status, document = check_json(project)
    assert (status, kinds(document), document["current_version"]) == (1, [("pending", 1)], 0)
    assert not (project.root / "app.db").exists()
    assert project.log() == []


def test_missing_on_sqlite(project) -> None:
    project.write_conf(DATABASE_CONF)
    project.add_migration(1)
    project.add_migration(2)
    ok(project.run())
    (project.migrations / "m2.py").unlink()
    result = project.run("check")
    assert result.status == 1, (result.out, result.err)
    assert problem_lines(result.out) == ["missing: 2 m2.py: applied, but its file is gone"]
    status, document = check_json(project)
    assert status == 1
    assert kinds(document) == [("missing", 2)]
    assert document["problems"][0]["file"] == "m2.py"


def test_missing_on_a_version_file(project) -> None:
    # A version file knows only the current version: missing is that version without a file.
    project.add_migration(1)
    (project.root / "version.txt").write_text("5\n")
    result = project.run("check")
    assert result.status == 1, (result.out, result.err)
    status, document = check_json(project)
    assert ("missing", 5) in kinds(document)


def test_modified_on_sqlite(project) -> None:
    project.write_conf(DATABASE_CONF)
    project.add_migration(1)
    path = project.add_migration(2)
    ok(project.run())
    path.write_text(path.read_text() + "# edited after it was applied\n")
    result = project.run("check")
    assert result.status == 1, (result.out, result.err)
    assert problem_lines(result.out) == ["modified: 2 m2.py: changed since it was applied"]
    status, document = check_json(project)
    assert status == 1
    assert kinds(document) == [("modified", 2)]


def test_out_of_order_on_sqlite(project) -> None:
    project.write_conf(DATABASE_CONF)
    project.add_migration(1)
    project.add_migration(3)
    ok(project.run())
    project.add_migration(2)
    result = project.run("check")
    assert result.status == 1, (result.out, result.err)
    assert problem_lines(result.out) == ["out_of_order: 2 m2.py: not applied, although a higher version is"]
    status, document = check_json(project)
    assert status == 1
    assert kinds(document) == [("out_of_order", 2)]
    assert document["current_version"] == 3


def test_skipped_file_without_version(project) -> None:
    project.add_migration(1)
    ok(project.run())
    (project.migrations / "helpers.py").write_text("def helper():\n    return 1\n")
    result = project.run("check")
    assert result.status == 1, (result.out, result.err)
    lines = problem_lines(result.out)
    assert len(lines) == 1, result.out
    assert lines[0].startswith("skipped: helpers.py"), lines
    status, document = check_json(project)
    assert status == 1
    assert document["problems"] == [
        {"kind": "skipped", "version": None, "file": "helpers.py",
         "message": document["problems"][0]["message"]}
    ]
    assert document["problems"][0]["message"]


def test_skipped_file_on_sqlite(project) -> None:
    project.write_conf(DATABASE_CONF)
    project.add_migration(1)
    ok(project.run())
    (project.migrations / "notes.py").write_text("# just notes\n")
    status, document = check_json(project)
    assert status == 1
    assert kinds(document) == [("skipped", None)]


def test_several_kinds_at_once(project) -> None:
    project.write_conf(DATABASE_CONF)
    project.add_migration(1)
    project.add_migration(3)
    edited = project.add_migration(4)
    gone = project.add_migration(5)
    ok(project.run())
    project.add_migration(2)
    edited.write_text(edited.read_text() + "# edited\n")
    gone.unlink()
    project.add_migration(6)
    (project.migrations / "helpers.py").write_text("X = 1\n")
    result = project.run("check")
    assert result.status == 1
    assert "5 problems" in result.out
    status, document = check_json(project)
    assert status == 1
    assert sorted(kinds(document), key=str) == sorted(
        [("out_of_order", 2), ("modified", 4), ("missing", 5), ("pending", 6), ("skipped", None)],
        key=str,
    )


# ============================================================================= errors


@pytest.mark.parametrize(
    "conf",
    ["X = 1\n", "VERSION_FILE = 12\n", "this is not python\n"],
    ids=["no-store", "bad-store", "syntax-error"],
)
def test_configuration_error_is_exit_2(project, conf: str) -> None:
    project.add_migration(1)
    project.write_conf(conf)
    result = project.run("check")
    assert_error(result)
    assert result.out == ""
    json_result = project.run("check", "--json")
    assert_error(json_result)


def test_missing_conf_is_exit_2(project) -> None:
    result = project.run("check", "-c", "nowhere/conf.py", conf=False)
    assert_error(result, "nowhere")


def test_bad_migration_file_is_exit_2_not_1(project) -> None:
    project.add_migration(1)
    (project.migrations / "m2.py").write_text("version = 'two'\n")
    result = project.run("check")
    assert_error(result)


# ============================================================================= changes nothing


def test_check_changes_nothing_on_sqlite(project) -> None:
    project.write_conf(DATABASE_CONF)
    project.add_migration(1)
    project.add_migration(3)
    ok(project.run())
    project.add_migration(2)
    project.add_migration(4)
    before = snapshot(project.root)
    log_before = project.log()
    assert project.run("check").status == 1
    assert project.run("check", "--json").status == 1
    assert snapshot(project.root) == before
    assert project.log() == log_before


def test_check_changes_nothing_on_a_version_file(project) -> None:
    project.add_migration(1)
    project.add_migration(2)
    ok(project.run("--up", "1"))
    before = snapshot(project.root)
    assert project.run("check").status == 1
    assert snapshot(project.root) == before
    assert project.version() == "1"
    assert project.log() == ["up 1"]


def test_check_does_not_create_the_version_file(project) -> None:
    project.add_migration(1)
    assert project.run("check").status == 1
    assert not (project.root / "version.txt").exists()
    assert not (project.root / "app.db").exists()
