"""Output at scale: `history` shows the newest 20 entries unless --limit says otherwise, `check`
lists at most 20 problems of each kind unless -v, and `status` on a terminal cuts its rows to
the terminal's width unless --wide; JSON always holds everything asked for.

The terminal cases run the real program on a pseudo-terminal whose window size the test sets:
in-process runs write to pytest's capture, which is not a terminal."""
from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import sqlite3
import struct
import subprocess
import sys
import termios
import unicodedata

import pytest

from checks import assert_error, ok
from link_migration import Migrator
from link_migration.report import cut, display_width

DATABASE_CONF = 'DATABASE = "app.db"\n'
LONG = "Backfill the denormalised order totals for every customer account created before the move"
FOOTER = "entries shown; --limit 0 shows all)"


# ============================================================================= helpers


def applied(project, count: int) -> None:
    """``count`` migrations applied on SQLite: ``count`` log entries, numbered 1 to count."""
    project.write_conf(DATABASE_CONF)
    for version in range(1, count + 1):
        project.add_migration(version, doc=f"Migration {version}.")
    ok(project.run())


def table_seqs(out: str) -> list[int]:
    """The # column of the history table."""
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("#"))
    seqs = []
    for line in lines[header + 1:]:
        if not line:
            break
        seqs.append(int(line.split()[0]))
    return seqs


def footer(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.endswith(FOOTER)]


def problem_lines(out: str) -> list[str]:
    return [line.strip() for line in out.splitlines() if line.startswith("  ")]


def on_terminal(project, argv: list[str], *, columns: int, env: dict[str, str] | None = None) -> str:
    """Run `python -m link_migration -c conf.py ARGV` with stdout on a pseudo-terminal
    ``columns`` wide (0: a size never set); its output, with the terminal's \\r\\n as \\n."""
    environ = {k: v for k, v in os.environ.items()
               if k not in ("COLUMNS", "LINES", "NO_COLOR", "LINK_MIGRATION_CONFIG", "FORCE_COLOR")}
    environ.update(env or {})
    master, slave = pty.openpty()
    try:
        if columns:
            fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
        process = subprocess.Popen(
            [sys.executable, "-m", "link_migration", "-c", str(project.conf), "--color", "never",
             *argv],
            cwd=project.root, env=environ, stdin=subprocess.DEVNULL, stdout=slave,
            stderr=subprocess.PIPE,
        )
    finally:
        os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the program has closed the terminal's other side
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    err = process.stderr.read().decode()
    process.stderr.close()
    assert process.wait(timeout=60) == 0, err
    encoding = environ.get("PYTHONIOENCODING", "utf-8")
    return b"".join(chunks).decode(encoding).replace("\r\n", "\n")


def status_table(out: str) -> list[str]:
    """The header and rows of the status table."""
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("VERSION"))
    return lines[header:]


def columns_of(line: str) -> int:
    """The terminal columns a line takes, measured independently of the code under test."""
    return sum(
        0 if unicodedata.category(c) in ("Mn", "Me")
        else 2 if unicodedata.east_asian_width(c) in ("W", "F") else 1
        for c in line
    )


# ============================================================================= history


def test_history_shows_the_newest_20_and_says_how_many_were_left_out(project) -> None:
    applied(project, 25)
    result = project.run("history")
    ok(result)
    assert table_seqs(result.out) == list(range(25, 5, -1))
    assert footer(result.out) == ["(20 of 25 entries shown; --limit 0 shows all)"]
    assert result.out.rstrip("\n").endswith(FOOTER)  # the last line


@pytest.mark.parametrize(("limit", "shown"), [("0", 25), ("25", 25), ("30", 25), ("24", 24), ("3", 3)])
def test_history_limit(project, limit: str, shown: int) -> None:
    applied(project, 25)
    result = project.run("history", "--limit", limit)
    ok(result)
    assert table_seqs(result.out) == list(range(25, 25 - shown, -1))
    if shown < 25:
        assert footer(result.out) == [f"({shown} of 25 entries shown; --limit 0 shows all)"]
    else:
        assert footer(result.out) == [], result.out


def test_history_of_exactly_20_entries_has_no_footer(project) -> None:
    applied(project, 20)
    result = project.run("history")
    ok(result)
    assert table_seqs(result.out) == list(range(20, 0, -1))
    assert footer(result.out) == []


def test_history_footer_counts_with_thousands_separators(project) -> None:
    applied(project, 1)
    connection = sqlite3.connect(str(project.root / "app.db"))
    with connection:
        row = connection.execute("SELECT * FROM link_migration_log").fetchone()
        connection.executemany(
            "INSERT INTO link_migration_log VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(seq, *row[1:]) for seq in range(2, 1235)],
        )
    connection.close()
    result = project.run("history")
    ok(result)
    assert table_seqs(result.out) == list(range(1234, 1214, -1))
    assert footer(result.out) == ["(20 of 1,234 entries shown; --limit 0 shows all)"]


def test_history_json_is_the_whole_log_unless_limited(project) -> None:
    applied(project, 25)
    whole = project.run("history", "--json")
    ok(whole)
    assert [e["seq"] for e in json.loads(whole.out)["entries"]] == list(range(25, 0, -1))

    five = project.run("history", "--json", "--limit", "5")
    ok(five)
    assert [e["seq"] for e in json.loads(five.out)["entries"]] == [25, 24, 23, 22, 21]

    zero = project.run("history", "--json", "--limit", "0")
    ok(zero)
    assert len(json.loads(zero.out)["entries"]) == 25


def test_the_api_history_is_still_the_whole_log(project) -> None:
    applied(project, 25)
    migrator = Migrator.from_config(str(project.conf))
    assert [e.seq for e in migrator.history()] == list(range(25, 0, -1))
    assert [e.seq for e in migrator.history(limit=2)] == [25, 24]


@pytest.mark.parametrize("value", ["-1", "ten", "1.5"])
def test_history_limit_must_be_a_whole_number_0_or_more(project, value: str) -> None:
    applied(project, 1)
    result = project.run("history", "--limit", value)
    assert_error(result, "--limit", value)
    assert result.out == ""


# ============================================================================= check


def many_problems(project, *, pending: int, skipped: int) -> None:
    """Versions 1-3 applied (2 then edited, 3's file deleted), ``pending`` more, and
    ``skipped`` .py files without a version."""
    project.write_conf(DATABASE_CONF)
    for version in (1, 2, 3):
        project.add_migration(version)
    ok(project.run())
    edited = project.migrations / "m2.py"
    edited.write_text(edited.read_text() + "# edited\n")
    (project.migrations / "m3.py").unlink()
    for version in range(4, 4 + pending):
        project.add_migration(version)
    for index in range(skipped):
        (project.migrations / f"helper{index:02}.py").write_text("X = 1\n")


def test_check_lists_20_of_each_kind_and_counts_the_rest(project) -> None:
    many_problems(project, pending=25, skipped=22)
    result = project.run("check")
    assert result.status == 1, (result.out, result.err)
    assert "49 problems:" in result.out
    lines = problem_lines(result.out)
    assert lines[0] == "modified: 2 m2.py: changed since it was applied"
    assert lines[1] == "missing: 3 m3.py: applied, but its file is gone"
    assert lines[2:22] == [f"pending: {v} m{v}.py: not applied yet" for v in range(4, 24)]
    assert lines[22] == "... and 5 more pending"
    assert [line.split(":")[1].strip() for line in lines[23:43]] == [
        f"helper{index:02}.py" for index in range(20)
    ]
    assert lines[43:] == ["... and 2 more skipped"]
    assert result.out.splitlines()[-1] == "(at most 20 of each kind shown; -v shows all)"


def test_check_verbose_lists_everything(project) -> None:
    many_problems(project, pending=25, skipped=22)
    result = project.run("check", "-v")
    assert result.status == 1, (result.out, result.err)
    lines = problem_lines(result.out)
    assert len(lines) == 49
    assert [line for line in lines if "more" in line] == []
    assert "-v shows all" not in result.out


def test_check_json_always_lists_everything(project) -> None:
    many_problems(project, pending=25, skipped=22)
    result = project.run("check", "--json")
    assert result.status == 1, (result.out, result.err)
    problems = json.loads(result.out)["problems"]
    assert len(problems) == 49
    assert sum(p["kind"] == "pending" for p in problems) == 25
    assert sum(p["kind"] == "skipped" for p in problems) == 22


def test_check_with_exactly_20_of_a_kind_lists_them_all(project) -> None:
    many_problems(project, pending=20, skipped=0)
    result = project.run("check")
    assert result.status == 1
    lines = problem_lines(result.out)
    assert len(lines) == 22
    assert "more" not in result.out


def test_check_counts_the_rest_with_thousands_separators(project) -> None:
    # A version file: its store reads in no time, and out of order cannot happen.
    for version in range(1, 1022):
        project.add_migration(version)
    result = project.run("check")
    assert result.status == 1
    assert "1,021 problems:" in result.out
    lines = problem_lines(result.out)
    assert len(lines) == 21
    assert lines[-1] == "... and 1,001 more pending"


def test_check_says_out_of_order_in_words_when_counting(project) -> None:
    project.write_conf(DATABASE_CONF)
    project.add_migration(100)
    ok(project.run())
    for version in range(1, 23):
        project.add_migration(version)
    result = project.run("check")
    assert result.status == 1
    assert "... and 2 more out of order" in problem_lines(result.out)


# ============================================================================= status


def long_rows(project, count: int = 3) -> None:
    project.write_conf(DATABASE_CONF)
    for version in range(1, count + 1):
        project.add_migration(version, name=f"m{version}_backfill_order_totals_for_customers.py",
                              doc=f"{LONG} ({version}).")
    ok(project.run("--up", "1"))


def test_status_fits_an_80_column_terminal(project) -> None:
    long_rows(project)
    out = on_terminal(project, ["status"], columns=80)
    table = status_table(out)
    assert len(table) == 4
    for line in table:
        assert columns_of(line) <= 80, line
    assert LONG not in out
    for version, state in ((1, "applied"), (2, "pending"), (3, "pending")):
        cells = table[version].split()
        assert cells[:2] == [str(version), state], table[version]
        assert table[version].endswith("…"), table[version]  # the description, cut
    assert re.search(r" \d{4}-\d\d-\d\d \d\d:\d\d:\d\d ", table[1]), table[1]  # never cut
    assert out.startswith("Store: SQLite database ")


@pytest.mark.parametrize("columns", [60, 100, 132])
def test_status_fits_each_width(project, columns: int) -> None:
    long_rows(project)
    table = status_table(on_terminal(project, ["status"], columns=columns))
    assert max(columns_of(line) for line in table) <= columns
    assert max(columns_of(line) for line in table) >= columns - 1  # and uses the room it has


def test_status_on_a_wide_terminal_is_not_cut(project) -> None:
    long_rows(project)
    out = on_terminal(project, ["status"], columns=250)
    assert f"{LONG} (3)." in out
    assert "…" not in out


def test_status_wide_shows_everything_on_a_terminal(project) -> None:
    long_rows(project)
    out = on_terminal(project, ["status", "--wide"], columns=80)
    for version in (1, 2, 3):
        assert f"m{version}_backfill_order_totals_for_customers.py" in out
        assert f"{LONG} ({version})." in out
    assert "…" not in out


def test_status_piped_is_never_cut(project, monkeypatch) -> None:
    long_rows(project)
    monkeypatch.setenv("COLUMNS", "40")  # ignored: stdout is not a terminal
    result = project.run("status")
    ok(result)
    assert f"{LONG} (3)." in result.out
    assert "…" not in result.out


def test_status_piped_through_a_real_pipe_is_never_cut(project) -> None:
    long_rows(project)
    done = subprocess.run(
        [sys.executable, "-m", "link_migration", "-c", str(project.conf), "status"],
        cwd=project.root, capture_output=True, text=True, timeout=60,
        env={**os.environ, "COLUMNS": "40"},
    )
    assert done.returncode == 0, done.stderr
    assert f"{LONG} (3)." in done.stdout


def test_columns_env_wins_on_a_terminal(project) -> None:
    long_rows(project)
    table = status_table(on_terminal(project, ["status"], columns=80, env={"COLUMNS": "100"}))
    assert max(columns_of(line) for line in table) in (99, 100)


@pytest.mark.parametrize("value", ["", "0", "wide", "-5"])
def test_a_columns_env_that_is_not_a_width_is_ignored(project, value: str) -> None:
    long_rows(project)
    table = status_table(on_terminal(project, ["status"], columns=70, env={"COLUMNS": value}))
    assert max(columns_of(line) for line in table) == 70


def test_a_terminal_of_unknown_width_gets_full_rows(project) -> None:
    long_rows(project)
    out = on_terminal(project, ["status"], columns=0)
    assert f"{LONG} (3)." in out


def test_status_description_is_cut_before_the_file_name(project) -> None:
    long_rows(project)
    # 100 columns leave the description more than its narrowest (11) beside whole file names.
    table = status_table(on_terminal(project, ["status"], columns=100))
    assert "m1_backfill_order_totals_for_customers.py" in table[1]
    description = table[1].split(".py  ")[1]
    assert description.startswith("Backfill the") and description.endswith("…"), table[1]
    assert columns_of(table[1]) == 100


def test_status_cuts_wide_characters_by_the_columns_they_take(project) -> None:
    project.write_conf(DATABASE_CONF)
    description = "注文の合計を顧客ごとに再計算して保存し直す長い説明文です" * 2
    project.add_migration(1, doc=description)
    project.add_migration(2, name="m2_e\u0301te\u0301.py", doc="Re\u0301sume\u0301 " * 20)
    table = status_table(on_terminal(project, ["status"], columns=72))
    for line in table:
        assert columns_of(line) <= 72, line
    assert "注文の合計" in table[1] and table[1].endswith("…")


def test_status_cut_keeps_control_characters_escaped(project) -> None:
    project.write_conf(DATABASE_CONF)
    project.add_migration(1, name="m1_\x1b[31mred.py",
                          doc="Crée \\x1b[2Jla table\\x07 " + "et encore " * 20)
    out = on_terminal(project, ["status"], columns=80)
    assert [c for c in out if not c.isprintable() and c != "\n"] == [], repr(out)
    assert "\\x1b[2J" in out  # cut after printable(): the escape reads as text


def test_status_cut_mark_without_an_ellipsis_in_the_encoding(project) -> None:
    long_rows(project)
    out = on_terminal(project, ["status"], columns=80, env={"PYTHONIOENCODING": "ascii"})
    table = status_table(out)
    assert table[1].endswith("..."), table[1]
    assert max(len(line) for line in table) <= 80


def test_status_json_is_never_cut(project) -> None:
    long_rows(project)
    out = on_terminal(project, ["status", "--json"], columns=40)
    descriptions = [m["description"] for m in json.loads(out)["migrations"]]
    assert descriptions == [f"{LONG} ({v})." for v in (1, 2, 3)]


# ============================================================================= cutting, unit


@pytest.mark.parametrize(("text", "width", "ellipsis", "expected"), [
    ("abcdef", 6, "…", "abcdef"),
    ("abcdef", 5, "…", "abcd…"),
    ("abcdef", 5, "...", "ab..."),
    ("abcdef", 1, "…", "…"),
    ("abcdef", 2, "...", ".."),
    ("日本語の説明", 6, "…", "日本…"),  # 2 + 2 + 1 columns: a third 日 would take 7
    ("日本語の説明", 7, "…", "日本語…"),
    ("e\u0301e\u0301e\u0301e\u0301", 3, "…", "e\u0301e\u0301…"),  # marks take no column
])
def test_cut(text: str, width: int, ellipsis: str, expected: str) -> None:
    assert cut(text, width, ellipsis) == expected
    assert display_width(cut(text, width, ellipsis)) <= width


def test_display_width() -> None:
    assert display_width("abc") == 3
    assert display_width("日本") == 4
    assert display_width("e\u0301") == 1
    assert display_width("\\x1b") == 4
