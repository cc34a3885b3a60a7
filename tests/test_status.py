"""SQL version stores and the status, current and history commands (SPEC sections 5 and 6),
through the real CLI, with real conf.py files, real migrations and real SQLite databases."""
from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from checks import assert_error, ok

DATABASE_CONF = 'DATABASE = "app.db"\n'
CONNECTION_CONF = """\
import sqlite3
from pathlib import Path

def get_connection():
    return sqlite3.connect(str(Path(__file__).with_name("app.db")))
"""
FUNCTIONS_CONF = """\
from pathlib import Path

_PATH = Path(__file__).with_name("stored_version.txt")

def get_current_version():
    return _PATH.read_text() if _PATH.exists() else None

def set_current_version(version):
    _PATH.write_text(str(version))
"""

HISTORY_COLUMNS = ["version", "file_name", "checksum", "applied_at", "duration", "applied_by", "faked"]
LOG_COLUMNS = ["seq", "version", "operation", "file_name", "logged_at", "duration", "logged_by"]
MIGRATION_KEYS = {"version", "file", "description", "state", "applied_at"}
ENTRY_KEYS = {"seq", "version", "operation", "file", "at", "duration", "by"}

SQL_CONFS = pytest.mark.parametrize(
    "conf", [DATABASE_CONF, CONNECTION_CONF], ids=["DATABASE", "get_connection"]
)


# ============================================================================= helpers


def database(project) -> Path:
    return project.root / "app.db"


def query(project, sql: str, parameters: tuple = ()) -> list[tuple]:
    connection = sqlite3.connect(str(database(project)))
    try:
        return connection.execute(sql, parameters).fetchall()
    finally:
        connection.close()


def tables(project) -> set[str]:
    return {name for (name,) in query(project, "SELECT name FROM sqlite_master WHERE type = 'table'")}


def history_rows(project, table: str = "link_migration_history") -> list[tuple]:
    return query(project, f"SELECT * FROM {table} ORDER BY version")


def log_rows(project, table: str = "link_migration_log") -> list[tuple]:
    return query(project, f"SELECT * FROM {table} ORDER BY seq")


def status_doc(project) -> dict:
    result = project.run("status", "--json")
    ok(result)
    return json.loads(result.out)


def states(doc: dict) -> dict[int, str]:
    return {m["version"]: m["state"] for m in doc["migrations"]}


def by_version(doc: dict) -> dict[int, dict]:
    return {m["version"]: m for m in doc["migrations"]}


def table_rows(text: str) -> dict[int, str]:
    """VERSION -> STATE from the plain-text status table."""
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("VERSION"))
    rows = {}
    for line in lines[header + 1 :]:
        match = re.match(r"(\d+)\s+(\S+(?: \(fake\))?)\s", line + " ")
        assert match, line
        rows[int(match.group(1))] = match.group(2)
    return rows


_HISTORY_LINE = re.compile(
    r"(\d+)\s+(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\s+(fake up|fake down|up|down)\s+(\d+)\s+(\S+)\s"
)


def history_lines(text: str) -> list[tuple[int, str, int, str]]:
    """(seq, operation, version, file) of every row of the plain-text history table (which
    ends at a blank line, before a note of the entries left out)."""
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("#"))
    rows = []
    for line in lines[header + 1 :]:
        if not line:
            break
        match = _HISTORY_LINE.match(line + " ")
        assert match, line
        rows.append((int(match.group(1)), match.group(3), int(match.group(4)), match.group(5)))
    return rows


def normalised_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes().replace(b"\r\n", b"\n").replace(b"\r", b"\n")).hexdigest()


def is_utc_iso(timestamp: object) -> bool:
    if not isinstance(timestamp, str) or not timestamp.endswith("+00:00"):
        return False
    parsed = datetime.fromisoformat(timestamp)
    return abs(datetime.now(timezone.utc) - parsed) < timedelta(minutes=10)


def to_crlf(path: Path) -> None:
    data = path.read_bytes()
    assert b"\r" not in data
    path.write_bytes(data.replace(b"\n", b"\r\n"))


# ====================================================================== states, SQL store


@SQL_CONFS
def test_status_json_applied_and_pending(project, conf):
    project.write_conf(conf)
    project.add_migration(1, doc="Create users")
    project.add_migration(2, doc="Add email\n\nMore text.")
    project.add_migration(3, doc="Drop legacy")
    ok(project.run("--up", "2"))
    assert project.log() == ["up 1", "up 2"]

    doc = status_doc(project)
    assert isinstance(doc["store"], str) and doc["store"]
    if conf == DATABASE_CONF:
        assert str(database(project)) in doc["store"]
    assert doc["current_version"] == 2
    assert [m["version"] for m in doc["migrations"]] == [1, 2, 3]
    for migration in doc["migrations"]:
        assert MIGRATION_KEYS <= set(migration), migration
    rows = by_version(doc)
    assert [rows[v]["file"] for v in (1, 2, 3)] == ["m1.py", "m2.py", "m3.py"]
    assert [rows[v]["description"] for v in (1, 2, 3)] == ["Create users", "Add email", "Drop legacy"]
    assert states(doc) == {1: "applied", 2: "applied", 3: "pending"}
    stored = dict(query(project, "SELECT version, applied_at FROM link_migration_history"))
    for version in (1, 2):
        assert is_utc_iso(rows[version]["applied_at"]), rows[version]
        assert rows[version]["applied_at"] == stored[version]
    assert rows[3]["applied_at"] is None
    assert project.log() == ["up 1", "up 2"]  # status runs nothing


def test_status_json_on_a_fresh_sql_store_is_all_pending(project):
    project.write_conf(DATABASE_CONF)
    project.add_migration(1)
    project.add_migration(2)
    doc = status_doc(project)
    assert doc["current_version"] == 0
    assert states(doc) == {1: "pending", 2: "pending"}
    assert all(m["applied_at"] is None for m in doc["migrations"])


@SQL_CONFS
def test_status_missing_when_an_applied_file_is_deleted(project, conf):
    project.write_conf(conf)
    project.add_migration(1, doc="One")
    second = project.add_migration(2, doc="Two")
    ok(project.run())
    second.unlink()

    doc = status_doc(project)
    assert doc["current_version"] == 2
    assert states(doc) == {1: "applied", 2: "missing"}
    missing = by_version(doc)[2]
    assert missing["file"] == "m2.py"  # the name the history row recorded
    assert is_utc_iso(missing["applied_at"])


@SQL_CONFS
def test_status_modified_when_the_file_changes_after_it_was_applied(project, conf):
    project.write_conf(conf)
    first = project.add_migration(1)
    project.add_migration(2)
    ok(project.run())
    first.write_bytes(first.read_bytes() + b"# edited after it was applied\n")

    doc = status_doc(project)
    assert states(doc) == {1: "modified", 2: "applied"}
    assert doc["current_version"] == 2
    assert by_version(doc)[1]["file"] == "m1.py"
    assert is_utc_iso(by_version(doc)[1]["applied_at"])


@SQL_CONFS
def test_status_crlf_only_change_is_still_applied(project, conf):
    project.write_conf(conf)
    first = project.add_migration(1)
    ok(project.run())
    before = first.read_bytes()
    to_crlf(first)
    assert first.read_bytes() != before

    assert states(status_doc(project)) == {1: "applied"}


def test_status_a_file_applied_with_crlf_and_checked_out_with_lf_is_applied(project):
    project.write_conf(DATABASE_CONF)
    first = project.add_migration(1)
    to_crlf(first)
    ok(project.run())
    first.write_bytes(first.read_bytes().replace(b"\r\n", b"\n"))

    assert states(status_doc(project)) == {1: "applied"}


@SQL_CONFS
def test_status_out_of_order(project, conf):
    project.write_conf(conf)
    project.add_migration(1)
    project.add_migration(3)
    ok(project.run())
    project.add_migration(2, doc="Added late")
    project.add_migration(4)

    doc = status_doc(project)
    assert doc["current_version"] == 3
    assert states(doc) == {1: "applied", 2: "out_of_order", 3: "applied", 4: "pending"}
    late = by_version(doc)[2]
    assert late["file"] == "m2.py"
    assert late["description"] == "Added late"
    assert late["applied_at"] is None


def make_every_state(project) -> None:
    """1 applied, 2 missing, 3 modified, 4 out of order, 5 applied, 6 pending."""
    project.write_conf(DATABASE_CONF)
    project.add_migration(1, doc="First")
    second = project.add_migration(2, doc="Second")
    third = project.add_migration(3, doc="Third")
    project.add_migration(5, doc="Fifth")
    ok(project.run())
    second.unlink()
    third.write_text(third.read_text() + "# changed\n")
    project.add_migration(4, doc="Fourth")
    project.add_migration(6, doc="Sixth")


def test_status_json_every_state_at_once(project):
    make_every_state(project)
    doc = status_doc(project)
    assert doc["current_version"] == 5
    assert states(doc) == {
        1: "applied", 2: "missing", 3: "modified", 4: "out_of_order", 5: "applied", 6: "pending",
    }


def test_status_plain_table_shows_states_store_and_current_version(project):
    make_every_state(project)
    result = project.run("status")
    ok(result)
    lines = result.out.splitlines()
    store_lines = [line for line in lines if line.startswith("Store:")]
    assert len(store_lines) == 1 and str(database(project)) in store_lines[0], result.out
    assert "Current version: 5" in lines, result.out
    assert table_rows(result.out) == {
        1: "applied", 2: "missing", 3: "modified", 4: "out_of_order", 5: "applied", 6: "pending",
    }
    row_of = {int(line.split()[0]): line for line in lines if re.match(r"\d+\s", line)}
    assert "m4.py" in row_of[4] and "Fourth" in row_of[4]
    assert "m2.py" in row_of[2]  # the missing file's recorded name
    assert "m6.py" in row_of[6] and "Sixth" in row_of[6]
    assert project.log() == ["up 1", "up 2", "up 3", "up 5"]


def test_status_plain_and_json_agree_on_the_store(project):
    project.write_conf(DATABASE_CONF)
    project.add_migration(1)
    text = project.run("status")
    ok(text)
    doc = status_doc(project)
    assert f"Store: {doc['store']}" in text.out.splitlines()
    assert f"Current version: {doc['current_version']}" in text.out.splitlines()


# ============================================================= up: out of order, modified


@SQL_CONFS
def test_up_refuses_out_of_order_migrations(project, conf):
    project.write_conf(conf)
    project.add_migration(1)
    project.add_migration(3)
    ok(project.run())
    history_before = history_rows(project)
    log_before = log_rows(project)
    project.add_migration(2)
    project.add_migration(4)  # pending above the current version: must not run either

    result = project.run()
    assert_error(result, "m2.py", "--out-of-order")
    assert re.search(r"\b2\b", result.err.replace("m2.py", "")), result.err
    assert project.log() == ["up 1", "up 3"]
    assert history_rows(project) == history_before
    assert log_rows(project) == log_before
    assert states(status_doc(project)) == {1: "applied", 2: "out_of_order", 3: "applied", 4: "pending"}


@SQL_CONFS
def test_up_out_of_order_flag_applies_the_late_migration(project, conf):
    project.write_conf(conf)
    project.add_migration(1)
    project.add_migration(3)
    ok(project.run())
    project.add_migration(2)

    ok(project.run("--out-of-order"))
    assert project.log() == ["up 1", "up 3", "up 2"]
    assert [row[0] for row in history_rows(project)] == [1, 2, 3]
    assert [(row[1], row[2]) for row in log_rows(project)] == [(1, "up"), (3, "up"), (2, "up")]
    current = project.run("current")
    ok(current)
    assert current.out == "3\n"
    doc = status_doc(project)
    assert doc["current_version"] == 3
    assert states(doc) == {1: "applied", 2: "applied", 3: "applied"}


def test_up_and_down_warn_about_a_modified_migration(project):
    project.write_conf(DATABASE_CONF)
    first = project.add_migration(1)
    project.add_migration(2)
    ok(project.run())
    first.write_text(first.read_text() + "# changed\n")
    project.add_migration(3)

    up = project.run()
    ok(up)
    assert "warning" in up.err and "m1.py" in up.err and "changed" in up.err, up.err
    assert "error" not in up.err
    assert project.log() == ["up 1", "up 2", "up 3"]

    down = project.run("--down")
    ok(down)
    assert "warning" in down.err and "m1.py" in down.err, down.err
    assert project.log() == ["up 1", "up 2", "up 3", "down 3"]


def test_up_does_not_warn_when_nothing_is_modified(project):
    project.write_conf(DATABASE_CONF)
    first = project.add_migration(1)
    ok(project.run())
    to_crlf(first)
    project.add_migration(2)
    result = project.run()
    ok(result)
    assert "warning" not in result.err, result.err


# ========================================================================== simple stores


@pytest.mark.parametrize("conf", ['VERSION_FILE = "version.txt"\n', FUNCTIONS_CONF], ids=["VERSION_FILE", "functions"])
def test_simple_stores_status_json(project, conf):
    project.write_conf(conf)
    project.add_migration(1, doc="One")
    project.add_migration(2, doc="Two")
    project.add_migration(3, doc="Three")
    ok(project.run("--up", "2"))

    doc = status_doc(project)
    assert doc["current_version"] == 2
    assert isinstance(doc["store"], str) and doc["store"]
    assert states(doc) == {1: "applied", 2: "applied", 3: "pending"}
    for migration in doc["migrations"]:
        assert MIGRATION_KEYS <= set(migration), migration
        assert migration["applied_at"] is None
    assert [m["file"] for m in doc["migrations"]] == ["m1.py", "m2.py", "m3.py"]
    assert [m["description"] for m in doc["migrations"]] == ["One", "Two", "Three"]
    assert not database(project).exists()


@pytest.mark.parametrize(
    "conf, stored",
    [('VERSION_FILE = "version.txt"\n', "version.txt"), (FUNCTIONS_CONF, "stored_version.txt")],
    ids=["VERSION_FILE", "functions"],
)
def test_simple_stores_current_version_without_a_file_is_missing(project, conf, stored):
    project.write_conf(conf)
    project.add_migration(1)
    project.add_migration(2)
    (project.root / stored).write_text("5\n")

    doc = status_doc(project)
    assert doc["current_version"] == 5
    assert states(doc) == {1: "applied", 2: "applied", 5: "missing"}
    assert by_version(doc)[5]["applied_at"] is None
    text = project.run("status")
    ok(text)
    assert table_rows(text.out) == {1: "applied", 2: "applied", 5: "missing"}


def test_simple_store_status_store_names_the_version_file(project):
    project.add_migration(1)
    doc = status_doc(project)
    assert str(project.root / "version.txt") in doc["store"]
    assert doc["current_version"] == 0
    assert states(doc) == {1: "pending"}


# ================================================================================ current


@SQL_CONFS
def test_current_prints_the_number_alone(project, conf):
    project.write_conf(conf)
    project.add_migration(1)
    project.add_migration(7)
    project.add_migration(12)
    ok(project.run("--up", "2"))
    result = project.run("current")
    ok(result)
    assert result.out == "7\n"
    assert result.err == ""


def test_current_after_rolling_everything_back_is_zero(project):
    project.write_conf(DATABASE_CONF)
    project.add_migration(1)
    project.add_migration(2)
    ok(project.run())
    ok(project.run("--to", "0"))
    result = project.run("current")
    ok(result)
    assert result.out == "0\n"
    assert history_rows(project) == []


def test_read_only_commands_do_not_create_the_database(project):
    project.write_conf(DATABASE_CONF)
    project.add_migration(1)

    current = project.run("current")
    ok(current)
    assert current.out == "0\n"
    assert not database(project).exists()

    status = project.run("status")
    ok(status)
    assert "Current version: 0" in status.out
    assert not database(project).exists()

    doc = status_doc(project)
    assert doc["current_version"] == 0
    assert not database(project).exists()

    history = project.run("history")
    ok(history)
    assert not database(project).exists()

    history_json = project.run("history", "--json")
    ok(history_json)
    assert json.loads(history_json.out)["entries"] == []
    assert not database(project).exists()
    assert project.log() == []


def test_dry_run_does_not_create_the_database(project):
    project.write_conf(DATABASE_CONF)
    project.add_migration(1)
    ok(project.run("--dry-run"))
    assert not database(project).exists()
    assert project.log() == []


# ================================================================================ history


def make_history(project) -> None:
    """up 1, up 2, down 2, fake up 2: four log entries."""
    project.write_conf(DATABASE_CONF)
    project.add_migration(1, doc="One")
    project.add_migration(2, doc="Two")
    ok(project.run())
    ok(project.run("--down"))
    ok(project.run("--fake"))


def test_history_rows_for_up_down_and_fake(project):
    make_history(project)
    assert project.log() == ["up 1", "up 2", "down 2"]  # the fake ran nothing

    rows = log_rows(project)
    assert [(seq, version, operation, file_name) for seq, version, operation, file_name, *_ in rows] == [
        (1, 1, "up", "m1.py"),
        (2, 2, "up", "m2.py"),
        (3, 2, "down", "m2.py"),
        (4, 2, "fake up", "m2.py"),
    ]
    history = {row[0]: dict(zip(HISTORY_COLUMNS, row)) for row in history_rows(project)}
    assert sorted(history) == [1, 2]
    assert history[1]["faked"] == 0
    assert history[2]["faked"] == 1

    result = project.run("history")
    ok(result)
    assert result.out.splitlines()[0].startswith("Store: ")
    assert str(database(project)) in result.out.splitlines()[0]
    assert history_lines(result.out) == [
        (4, "fake up", 2, "m2.py"),
        (3, "down", 2, "m2.py"),
        (2, "up", 2, "m2.py"),
        (1, "up", 1, "m1.py"),
    ]


def test_status_shows_a_faked_migration(project):
    make_history(project)
    doc = status_doc(project)
    assert states(doc) == {1: "applied", 2: "applied"}
    assert by_version(doc)[2].get("faked") is True
    text = project.run("status")
    ok(text)
    assert table_rows(text.out) == {1: "applied", 2: "applied (fake)"}


def test_history_limit_shows_only_the_newest(project):
    make_history(project)
    result = project.run("history", "--limit", "1")
    ok(result)
    assert history_lines(result.out) == [(4, "fake up", 2, "m2.py")]

    two = project.run("history", "--limit", "2")
    ok(two)
    assert [row[0] for row in history_lines(two.out)] == [4, 3]

    doc = project.run("history", "--json", "--limit", "1")
    ok(doc)
    entries = json.loads(doc.out)["entries"]
    assert [e["seq"] for e in entries] == [4]


def test_history_json(project):
    make_history(project)
    result = project.run("history", "--json")
    ok(result)
    doc = json.loads(result.out)
    assert str(database(project)) in doc["store"]
    entries = doc["entries"]
    for entry in entries:
        assert ENTRY_KEYS <= set(entry), entry
        assert is_utc_iso(entry["at"]), entry
        assert isinstance(entry["by"], str) and entry["by"], entry
    assert [(e["seq"], e["version"], e["operation"], e["file"]) for e in entries] == [
        (4, 2, "fake up", "m2.py"),
        (3, 2, "down", "m2.py"),
        (2, 2, "up", "m2.py"),
        (1, 1, "up", "m1.py"),
    ]
    assert entries[0]["duration"] is None  # a fake takes no time
    for entry in entries[1:]:
        assert isinstance(entry["duration"], (int, float)) and entry["duration"] >= 0
    stored = {row[0]: row for row in log_rows(project)}
    for entry in entries:
        assert entry["at"] == stored[entry["seq"]][4]
        assert entry["by"] == stored[entry["seq"]][6]


def test_history_on_a_fresh_database_is_empty(project):
    project.write_conf(DATABASE_CONF)
    project.add_migration(1)
    sqlite3.connect(str(database(project))).close()
    result = project.run("history")
    ok(result)
    assert "No history yet." in result.out
    assert str(database(project)) in result.out


@pytest.mark.parametrize("argv", [("history",), ("history", "--json"), ("history", "--limit", "1")])
@pytest.mark.parametrize("conf", ['VERSION_FILE = "version.txt"\n', FUNCTIONS_CONF], ids=["VERSION_FILE", "functions"])
def test_history_needs_a_sql_store(project, conf, argv):
    project.write_conf(conf)
    project.add_migration(1)
    ok(project.run())
    result = project.run(*argv)
    assert_error(result, "history needs a SQL store")
    assert result.out == ""


# ========================================================================== table layout


def test_table_columns_checksum_and_timestamps(project):
    project.write_conf(DATABASE_CONF)
    first = project.add_migration(1)
    to_crlf(first)  # so that the normalisation is visible in the checksum
    ok(project.run())

    history_columns = [row[1] for row in query(project, "PRAGMA table_info(link_migration_history)")]
    log_columns = [row[1] for row in query(project, "PRAGMA table_info(link_migration_log)")]
    assert history_columns == HISTORY_COLUMNS
    assert log_columns == LOG_COLUMNS

    (row,) = history_rows(project)
    record = dict(zip(HISTORY_COLUMNS, row))
    assert record["version"] == 1
    assert record["file_name"] == "m1.py"
    assert record["checksum"] == normalised_sha256(first)
    assert record["checksum"] != hashlib.sha256(first.read_bytes()).hexdigest()
    assert re.fullmatch(r"[0-9a-f]{64}", record["checksum"])
    assert is_utc_iso(record["applied_at"]), record
    assert isinstance(record["duration"], float) and record["duration"] >= 0
    assert isinstance(record["applied_by"], str) and record["applied_by"]
    assert record["faked"] == 0

    (entry,) = log_rows(project)
    logged = dict(zip(LOG_COLUMNS, entry))
    assert logged["seq"] == 1
    assert logged["version"] == 1
    assert logged["operation"] == "up"
    assert logged["file_name"] == "m1.py"
    assert is_utc_iso(logged["logged_at"]), logged
    assert logged["logged_at"] == record["applied_at"]
    assert logged["logged_by"] == record["applied_by"]


def test_checksum_is_of_the_file_as_it_was_when_applied(project):
    project.write_conf(DATABASE_CONF)
    first = project.add_migration(1)
    ok(project.run())
    applied = normalised_sha256(first)
    first.write_text(first.read_text() + "# changed\n")
    (checksum,) = query(project, "SELECT checksum FROM link_migration_history")[0]
    assert checksum == applied
    assert by_version(status_doc(project))[1]["state"] == "modified"


def test_down_deletes_the_history_row_and_appends_to_the_log(project):
    project.write_conf(DATABASE_CONF)
    project.add_migration(1)
    project.add_migration(2)
    ok(project.run())
    ok(project.run("--down"))
    assert [row[0] for row in history_rows(project)] == [1]
    assert [(row[1], row[2]) for row in log_rows(project)] == [(1, "up"), (2, "up"), (2, "down")]


# ======================================================================= table names


@pytest.mark.parametrize("history_table, log_table, lock_table, attempt_table", [
    ("my_history", "my_log", "my_lock", "my_attempt"),
    ("main.my_history", "main.my_log", "main.my_lock", "main.my_attempt"),
])
def test_table_names_come_from_conf(project, history_table, log_table, lock_table, attempt_table):
    project.write_conf(
        DATABASE_CONF
        + f"HISTORY_TABLE = {history_table!r}\nLOG_TABLE = {log_table!r}\nLOCK_TABLE = {lock_table!r}\n"
        + f"ATTEMPT_TABLE = {attempt_table!r}\n"
    )
    project.add_migration(1)
    project.add_migration(2)
    ok(project.run())
    assert tables(project) == {"my_history", "my_log", "my_lock", "my_attempt"}
    assert [row[0] for row in history_rows(project, "my_history")] == [1, 2]
    assert [(row[1], row[2]) for row in log_rows(project, "my_log")] == [(1, "up"), (2, "up")]
    assert states(status_doc(project)) == {1: "applied", 2: "applied"}
    current = project.run("current")
    ok(current)
    assert current.out == "2\n"
    history = project.run("history", "--json")
    ok(history)
    assert [e["seq"] for e in json.loads(history.out)["entries"]] == [2, 1]


@pytest.mark.parametrize("setting", ["HISTORY_TABLE", "LOG_TABLE"])
@pytest.mark.parametrize("name", ["x; drop table y", "1abc", "my-table", "", 5])
@pytest.mark.parametrize("argv", [(), ("status",), ("current",), ("history",)], ids=["up", "status", "current", "history"])
def test_invalid_table_name_is_exit_2(project, setting, name, argv):
    project.write_conf(DATABASE_CONF + f"{setting} = {name!r}\n")
    project.add_migration(1)
    result = project.run(*argv)
    assert_error(result, setting)
    assert project.log() == []
    assert not database(project).exists()


@pytest.mark.parametrize("setting", ["HISTORY_TABLE", "LOCK_TABLE"])
@pytest.mark.parametrize("name, reason", [
    ("order", 'near "order": syntax error'),
    ("main.select", 'near "select": syntax error'),
    ("sqlite_history", "reserved for internal use"),
    ("app.history", "unknown database app"),
])
def test_table_name_that_sqlite_cannot_take_unquoted_is_exit_2(project, setting, name, reason):
    project.write_conf(DATABASE_CONF + f"{setting} = {name!r}\n")
    project.add_migration(1)
    result = project.run()
    assert_error(result, f"{setting} in {project.conf} is {name!r}, which SQLite cannot take",
                 reason)
    assert project.log() == []
    assert not database(project).exists()


@pytest.mark.parametrize("name", ["temp.history", "TEMP.history", "temporary.history"])
def test_table_in_a_temporary_schema_is_exit_2(project, name):
    # SQLite's temp schema is private to one connection: every run would start from nothing.
    project.write_conf(DATABASE_CONF + f"LOCK_TABLE = {name!r}\n")
    project.add_migration(1)
    result = project.run()
    assert_error(result, f"LOCK_TABLE in {project.conf} is {name!r}, in a temporary schema")
    assert project.log() == []
    assert not database(project).exists()


@pytest.mark.parametrize("name", ["temp", "main", "key", "action", "user", "history", "main.log"])
def test_words_sqlite_takes_as_table_names_are_accepted(project, name):
    project.write_conf(DATABASE_CONF + f"HISTORY_TABLE = {name!r}\n")
    project.add_migration(1)
    ok(project.run())
    assert [row[0] for row in history_rows(project, name.split(".")[-1])] == [1]


# ========================================================= tables belonging to something else


def foreign_table(project, table: str) -> None:
    connection = sqlite3.connect(str(database(project)))
    connection.execute(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, name TEXT)")
    connection.execute(f"INSERT INTO {table} (id, name) VALUES (7, 'keep me')")
    connection.commit()
    connection.close()


@pytest.mark.parametrize("argv", [(), ("status",), ("current",)], ids=["up", "status", "current"])
def test_existing_history_table_with_other_columns(project, argv):
    project.write_conf(DATABASE_CONF)
    project.add_migration(1)
    foreign_table(project, "link_migration_history")

    result = project.run(*argv)
    assert_error(result, "link_migration_history", "id", "name")
    assert project.log() == []
    assert query(project, "SELECT * FROM link_migration_history") == [(7, "keep me")]
    assert [row[1] for row in query(project, "PRAGMA table_info(link_migration_history)")] == ["id", "name"]
    assert "link_migration_log" not in tables(project)


@pytest.mark.parametrize("argv", [(), ("history",)], ids=["up", "history"])
def test_existing_log_table_with_other_columns(project, argv):
    project.write_conf(DATABASE_CONF)
    project.add_migration(1)
    foreign_table(project, "link_migration_log")

    result = project.run(*argv)
    assert_error(result, "link_migration_log", "id", "name")
    assert project.log() == []
    assert query(project, "SELECT * FROM link_migration_log") == [(7, "keep me")]
    assert "link_migration_history" not in tables(project) or history_rows(project) == []


def test_other_names_avoid_a_foreign_table(project):
    project.write_conf(DATABASE_CONF + 'HISTORY_TABLE = "lm_history"\n')
    project.add_migration(1)
    foreign_table(project, "link_migration_history")
    ok(project.run())
    assert project.log() == ["up 1"]
    assert query(project, "SELECT * FROM link_migration_history") == [(7, "keep me")]
    assert [row[0] for row in history_rows(project, "lm_history")] == [1]


# ============================================================ DATABASE that is not SQLite


@pytest.mark.parametrize(
    "argv", [(), ("status",), ("status", "--json"), ("current",), ("history",), ("--down",)],
    ids=["up", "status", "status-json", "current", "history", "down"],
)
def test_database_that_is_not_sqlite(project, argv):
    project.write_conf(DATABASE_CONF)
    project.add_migration(1)
    content = b"These are my notes, not a database.\n" * 20
    database(project).write_bytes(content)

    result = project.run(*argv)
    assert_error(result, str(database(project)))
    assert "Traceback" not in result.out
    assert project.log() == []
    assert database(project).read_bytes() == content


def test_fake_down_is_logged_and_removes_the_history_row(project):
    project.write_conf(DATABASE_CONF)
    project.add_migration(1)
    project.add_migration(2)
    ok(project.run())
    ok(project.run("--fake", "--down"))
    assert project.log() == ["up 1", "up 2"]
    assert [row[0] for row in history_rows(project)] == [1]
    assert [(row[1], row[2]) for row in log_rows(project)] == [(1, "up"), (2, "up"), (2, "fake down")]
    result = project.run("history", "--limit", "1")
    ok(result)
    assert history_lines(result.out) == [(3, "fake down", 2, "m2.py")]
    assert states(status_doc(project)) == {1: "applied", 2: "pending"}


def test_history_limit_must_be_0_or_more_and_0_is_all(project):
    make_history(project)
    assert_error(project.run("history", "--limit", "-1"), "--limit")
    result = project.run("history", "--limit", "0")
    ok(result)
    assert [row[0] for row in history_lines(result.out)] == [4, 3, 2, 1]


def test_database_is_relative_to_conf_folder(project, monkeypatch):
    project.write_conf(DATABASE_CONF)
    project.add_migration(1)
    elsewhere = project.root / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    ok(project.run())
    assert database(project).exists()
    assert not (elsewhere / "app.db").exists()
    assert [row[0] for row in history_rows(project)] == [1]
    current = project.run("current")
    ok(current)
    assert current.out == "1\n"


def test_unlock_on_a_fresh_project_creates_no_database(project):
    project.write_conf(DATABASE_CONF)
    project.add_migration(1)
    result = project.run("unlock")
    ok(result)
    assert "No lock is held" in result.out
    assert not database(project).exists()


def test_to_an_out_of_order_version_is_refused(project):
    project.write_conf(DATABASE_CONF)
    project.add_migration(1)
    project.add_migration(3)
    ok(project.run())
    project.add_migration(2)
    result = project.run("--to", "2")
    assert_error(result, "--to 2", "not applied", "--out-of-order")
    assert [row[0] for row in history_rows(project)] == [1, 3]


# ============================================================= output that is data stays clean

PRINTING_FUNCTIONS_CONF = """\
print("conf.py imported")
from pathlib import Path

_PATH = Path(__file__).with_name("stored_version.txt")

def get_current_version():
    print("get_current_version called")
    return _PATH.read_text() if _PATH.exists() else None

def set_current_version(version):
    print("set_current_version called")
    _PATH.write_text(str(version))
"""
PRINTING_CONNECTION_CONF = """\
print("conf.py imported")
import sqlite3
from pathlib import Path

def get_connection():
    print("get_connection called")
    return sqlite3.connect(str(Path(__file__).with_name("app.db")))
"""
PRINTING_CONFS = pytest.mark.parametrize(
    "conf", [PRINTING_FUNCTIONS_CONF, PRINTING_CONNECTION_CONF], ids=["functions", "get_connection"]
)


def printing_project(project, conf: str) -> None:
    """Two migrations applied, a third pending whose computed version makes discovery import
    it: user code that prints at every stage of a reading command."""
    project.write_conf(conf)
    project.add_migration(1)
    project.add_migration(2)
    ok(project.run())
    project.add_migration("1 + 2", name="m3.py", header="print('m3 imported')")


@PRINTING_CONFS
@pytest.mark.parametrize("verbose", [(), ("-v",)], ids=["", "verbose"])
def test_current_prints_only_the_number_whatever_user_code_prints(project, conf, verbose) -> None:
    printing_project(project, conf)
    result = project.run("current", *verbose)
    ok(result)
    assert result.out == "2\n"
    assert "conf.py imported" in result.err
    assert ("get_current_version called" in result.err) or ("get_connection called" in result.err)


@PRINTING_CONFS
@pytest.mark.parametrize("verbose", [(), ("-v",)], ids=["", "verbose"])
@pytest.mark.parametrize("command", ["status", "check"])
def test_json_is_one_document_whatever_user_code_prints(project, conf, verbose, command) -> None:
    printing_project(project, conf)
    result = project.run(command, "--json", *verbose)
    assert result.status == (0 if command == "status" else 1), (result.out, result.err)
    document = json.loads(result.out)
    assert document["current_version"] == 2
    assert "conf.py imported" in result.err
    assert "m3 imported" in result.err


@pytest.mark.parametrize("verbose", [(), ("-v",)], ids=["", "verbose"])
def test_history_json_is_one_document_whatever_user_code_prints(project, verbose) -> None:
    printing_project(project, PRINTING_CONNECTION_CONF)
    result = project.run("history", "--json", *verbose)
    ok(result)
    assert [entry["version"] for entry in json.loads(result.out)["entries"]] == [2, 1]
    assert "conf.py imported" in result.err
    assert "get_connection called" in result.err


def test_new_prints_only_the_path_whatever_conf_prints(project) -> None:
    printing_project(project, PRINTING_FUNCTIONS_CONF)
    result = project.run("new", "add users")
    ok(result)
    path = Path(result.out.rstrip("\n"))
    assert path.parent == project.migrations and path.is_file(), result.out
    assert "conf.py imported" in result.err


def test_a_run_still_shows_what_user_code_prints_among_its_progress(project) -> None:
    """Only data output moves user prints to stderr: a run's stdout is progress, for people."""
    printing_project(project, PRINTING_FUNCTIONS_CONF)
    result = project.run()
    ok(result)
    assert "conf.py imported" in result.out
    assert "m3 imported" in result.out


# ============================================================= out of order: what the run says


def out_of_order_project(project, *late_and_new: int) -> None:
    """Versions 1 and 400 applied on SQLite, then ``late_and_new`` added."""
    project.write_conf(DATABASE_CONF)
    project.add_migration(1)
    project.add_migration(400)
    ok(project.run())
    for version in late_and_new:
        project.add_migration(version)


def test_out_of_order_run_says_what_it_applies(project) -> None:
    out_of_order_project(project, 350)
    result = project.run("--out-of-order")
    ok(result)
    lines = result.out.splitlines()
    assert "from version 400 to 400" not in result.out
    assert lines[0].startswith("Applying 1 out-of-order migration (version 350) "
                               "below the current version 400 ("), lines[0]
    assert lines[1].startswith("[1/1] up 350 m350.py"), lines
    assert re.fullmatch(r"Still at version 400: applied 1 out-of-order migration \(version 350\) "
                        r"in [0-9.]+ ms\.", lines[-1]), lines[-1]
    assert project.log() == ["up 1", "up 400", "up 350"]


def test_out_of_order_run_mixed_with_new_migrations_says_which_are_late(project) -> None:
    out_of_order_project(project, 350, 360, 500)
    result = project.run("--out-of-order")
    ok(result)
    lines = result.out.splitlines()
    assert lines[0].startswith("Migrating up from version 400 to 500: 3 migrations, "
                               "2 of them out of order (versions 350, 360) ("), lines[0]
    assert re.fullmatch(r"Now at version 500: applied 3 migrations \(versions 350, 360, 500\), "
                        r"2 of them out of order, in [0-9.]+ ms\.", lines[-1]), lines[-1]
    assert project.log()[2:] == ["up 350", "up 360", "up 500"]


def test_out_of_order_dry_run_and_fake_say_what_they_would_apply(project) -> None:
    out_of_order_project(project, 350)
    dry = project.run("--out-of-order", "--dry-run")
    ok(dry)
    assert dry.out.splitlines()[0].startswith(
        "Dry run, nothing will run or be recorded. Would apply 1 out-of-order migration "
        "(version 350) below the current version 400 ("), dry.out
    fake = project.run("--out-of-order", "--fake")
    ok(fake)
    lines = fake.out.splitlines()
    assert lines[0].startswith("Faking 1 out-of-order migration (version 350) below the current "
                               "version 400: recording without running them ("), lines[0]
    assert lines[-1].startswith("Still at version 400: recorded without running (fake) "
                                "1 out-of-order migration (version 350) in "), lines[-1]
    assert project.log() == ["up 1", "up 400"]


def test_a_run_without_late_migrations_keeps_its_header(project) -> None:
    out_of_order_project(project, 500)
    result = project.run("--out-of-order")
    ok(result)
    lines = result.out.splitlines()
    assert lines[0].startswith("Migrating up from version 400 to 500: 1 migration ("), lines[0]
    assert lines[-1].startswith("Now at version 500: applied 1 migration (version 500) in "), lines[-1]
