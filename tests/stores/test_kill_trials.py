"""SPEC 9's trial: kill -9 at seeded moments during runs of SQL migrations that run outside a
transaction, on SQLite, PostgreSQL and MariaDB. After each kill, status must tell the truth,
statement by statement: every table a statement creates exists exactly when the store says
that statement completed. Then --resume (or a plain run) goes on, and the last run completes
them all with no hand-written SQL.

LINK_MIGRATION_KILL_TRIALS sets the number of kills per store (default 50).
"""
from __future__ import annotations

import os
import random
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

from link_migration import Migrator

TRIALS = int(os.environ.get("LINK_MIGRATION_KILL_TRIALS", "50"))
MIGRATIONS, STATEMENTS = 4, 12


def _write(root: Path, conf: str, kind: str) -> None:
    root.mkdir()
    (root / "conf.py").write_text(conf)
    # MySQL's CREATE TABLE commits by itself before the store can count it: a statement that
    # a kill leaves done but not counted must be harmless to run again (SPEC 9). Each
    # statement takes some milliseconds, so that most kills land inside a migration.
    create = "CREATE TABLE IF NOT EXISTS" if kind == "mariadb" else "CREATE TABLE"
    slow = {
        "sqlite": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 20000) "
                  "SELECT x FROM c",
        "postgresql": "SELECT 1 AS x FROM pg_sleep(0.006)",
        "mariadb": "SELECT SLEEP(0.006) AS x",
    }[kind]
    for version in range(1, MIGRATIONS + 1):
        statements = "".join(f"{create} t{version}_{i} AS {slow};\n"
                             for i in range(1, STATEMENTS + 1))
        (root / f"{version}_m.sql").write_text(f"-- migrate:up transaction:false\n{statements}")


def _run(root: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "link_migration", *argv], cwd=root,
                          capture_output=True, text=True, timeout=120)


def _truth(root: Path, kind: str, tables: Callable[[], set[str]]) -> dict[int, Any]:
    """Status, checked against the tables that exist: each migration's tables are all there
    (applied), the first ``done`` of them (failed; on MariaDB one more may be, run but not
    counted), or none (pending)."""
    status = Migrator.from_config(root / "conf.py").status()  # in-process: trials are many
    rows = {row.version: row for row in status.migrations}
    there = tables()
    for version, row in rows.items():
        made = [i for i in range(1, STATEMENTS + 1) if f"t{version}_{i}" in there]
        if row.state == "applied":
            expected = [list(range(1, STATEMENTS + 1))]
        elif row.state == "failed":
            assert row.attempt is not None
            done = row.attempt.done
            expected = [list(range(1, done + 1))]
            if kind == "mariadb" and done < STATEMENTS:
                expected.append(list(range(1, done + 2)))
        else:
            expected = [[]]
        assert made in expected, (version, row, made)
    return rows


def _trials(root: Path, kind: str, tables: Callable[[], set[str]],
            drop: Callable[[list[str]], None]) -> None:
    chance = random.Random(20261128)
    killed_at_work = 0
    for _ in range(TRIALS):
        rows = _truth(root, kind, tables)
        if all(row.state == "applied" for row in rows.values()):
            # All done: start again from nothing (the tables, and the store's record of
            # them), so that every trial kills a run at work.
            drop([*tables(), "link_migration_history", "link_migration_attempt"])
            rows = _truth(root, kind, tables)
        failed = any(row.state == "failed" for row in rows.values())
        runner = subprocess.Popen(
            [sys.executable, "-m", "link_migration", *(["--resume"] if failed else [])],
            cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(chance.uniform(0.08, 0.35))
        runner.kill()
        runner.communicate()
        if runner.returncode == -9:
            killed_at_work += any(row.state == "failed"
                                  for row in _truth(root, kind, tables).values())
    rows = _truth(root, kind, tables)
    failed = any(row.state == "failed" for row in rows.values())
    final = _run(root, *(["--resume"] if failed else []))
    assert final.returncode == 0, final.stderr
    rows = _truth(root, kind, tables)
    assert {row.state for row in rows.values()} == {"applied"}
    # Most kills must land inside a migration, or the trial proves little.
    assert killed_at_work >= TRIALS // 4, killed_at_work


def test_kill_9_trials_on_sqlite(tmp_path):
    root = tmp_path / "app"
    _write(root, 'DATABASE = "app.db"\n', "sqlite")

    def query(sql: str) -> list[Any]:
        connection = sqlite3.connect(root / "app.db", timeout=30)
        try:
            rows = connection.execute(sql).fetchall()
            connection.commit()
            return rows
        finally:
            connection.close()

    def tables() -> set[str]:
        if not (root / "app.db").exists():
            return set()
        return {n for (n,) in query("SELECT name FROM sqlite_master WHERE type = 'table'")
                if n.startswith("t")}

    def drop(names: list[str]) -> None:
        connection = sqlite3.connect(root / "app.db", timeout=30)
        try:
            for name in names:
                connection.execute(f"DROP TABLE IF EXISTS {name}")
            connection.commit()
        finally:
            connection.close()

    _trials(root, "sqlite", tables, drop)


def test_kill_9_trials_on_a_server(tmp_path, one_driver_each):
    database = one_driver_each
    kind = database.kind
    root = tmp_path / "app"
    _write(root, database.connect_code, kind)
    where = "current_schema()" if kind == "postgresql" else "DATABASE()"

    def tables() -> set[str]:
        return {n for (n,) in database.query(
            f"SELECT table_name FROM information_schema.tables WHERE table_schema = {where}")
            if n.startswith("t")}

    _trials(root, kind, tables,
            lambda names: database.execute(f"DROP TABLE IF EXISTS {', '.join(names)}"))
