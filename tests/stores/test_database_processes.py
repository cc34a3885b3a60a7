"""SPEC 7 on real servers with real processes: racing runners, kill -9 mid-run, the lock.

Migrations insert their version into a table `done` that exists beforehand, so that history
and data can be compared on MariaDB too, where DDL would commit by itself; on PostgreSQL
each also creates a table in its transaction.
"""
from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest


def _write_project(root: Path, database, count: int, *, sleep: float = 0.0) -> None:
    root.mkdir(exist_ok=True)
    (root / "conf.py").write_text(database.connect_code)
    database.execute("CREATE TABLE done (version INTEGER NOT NULL PRIMARY KEY)")
    runs = root / "runs.log"
    for version in range(1, count + 1):
        ddl = (f"    context.execute('CREATE TABLE t{version} (x INTEGER)')\n"
               if database.kind == "postgresql" else "")
        (root / f"m{version:03d}.py").write_text(
            "import os, time\n"
            f"version = {version}\n"
            "def up(context):\n"
            f"    with open({str(runs)!r}, 'a') as log:\n"
            f"        log.write('up {version} %d\\n' % os.getpid())\n"
            f"    context.execute('INSERT INTO done VALUES ({version})')\n"
            + ddl +
            f"    time.sleep({sleep!r})\n"
            "def down(context):\n"
            f"    context.execute('DELETE FROM done WHERE version = {version}')\n"
        )


def _start(root: Path, *argv: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "link_migration", *argv], cwd=root,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _run(root: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "link_migration", *argv], cwd=root,
                          capture_output=True, text=True, timeout=120)


def _history_and_data(database) -> tuple[list[int], list[int]]:
    history = [int(v) for (v,) in database.query(
        "SELECT version FROM link_migration_history ORDER BY version")]
    done = [int(v) for (v,) in database.query("SELECT version FROM done ORDER BY version")]
    return history, done


def _runs(root: Path) -> list[str]:
    return (root / "runs.log").read_text().splitlines()


def _tables_made(database) -> list[int]:
    names = database.query("SELECT table_name FROM information_schema.tables "
                           "WHERE table_schema = current_schema()")
    return sorted(int(n[1:]) for (n,) in names if n.startswith("t") and n[1:].isdigit())


def test_eight_runners_at_once_migrate_exactly_once(tmp_path, database):
    root = tmp_path / "app"
    _write_project(root, database, 4, sleep=0.05)
    runners = [_start(root) for _ in range(8)]
    results = [(runner.wait(timeout=120), *runner.communicate()) for runner in runners]
    for status, _, err in results:
        assert status == 0, err
        assert "Traceback" not in err
    runs = (root / "runs.log").read_text().splitlines()
    assert [line.split()[1] for line in runs] == ["1", "2", "3", "4"]
    assert len({line.split()[2] for line in runs}) == 1  # one runner did all the work
    assert sum("nothing to do" in out for _, out, _ in results) == 7
    assert _history_and_data(database) == ([1, 2, 3, 4], [1, 2, 3, 4])


def test_kill_9_mid_run_leaves_history_and_data_in_agreement(tmp_path, database):
    chance = random.Random(20261127)
    ran_before = 0
    root = tmp_path / "app"
    _write_project(root, database, 30, sleep=0.03)
    for attempt in range(3):
        runner = _start(root, *_resume_if_failed(root))
        deadline = time.monotonic() + 30
        while not (root / "runs.log").exists() or attempt and len(_runs(root)) <= ran_before:
            assert time.monotonic() < deadline and runner.poll() is None, runner.communicate()
            time.sleep(0.01)  # until this runner has started a migration of its own
        time.sleep(chance.uniform(0.0, 0.3))
        runner.kill()
        runner.wait()  # reaped: a zombie would still look alive to the stale-lock check
        runner.communicate()
        history, done = _history_and_data(database)
        assert history == done, f"attempt {attempt}: history and data disagree"
        assert history == list(range(1, len(history) + 1))
        if database.kind == "postgresql":
            assert _tables_made(database) == history
        assert len(history) < 30, f"attempt {attempt}: the runner was not killed mid-run"
        ran_before = len(_runs(root))
    rerun = _run(root, "--lock-timeout", "5", *_resume_if_failed(root))
    assert rerun.returncode == 0, rerun.stderr
    assert _history_and_data(database) == (list(range(1, 31)), list(range(1, 31)))


def _resume_if_failed(root: Path) -> tuple[str, ...]:
    """On MariaDB no migration is atomic (SPEC 9): one killed part-way is failed, and the
    next run must say --resume."""
    import json

    status = json.loads(_run(root, "status", "--json").stdout)
    return ("--resume",) if any(m["state"] == "failed" for m in status["migrations"]) else ()


def _holder_inside_its_migration(root: Path, database) -> tuple[subprocess.Popen[str], Path]:
    """A runner that holds the lock inside its one migration until the test removes the
    returned gate file; returned once it is in there."""
    _write_project(root, database, 1)
    gate = root / "hold"
    gate.touch()
    (root / "m001.py").write_text((root / "m001.py").read_text().replace(
        "    time.sleep(0.0)\n",
        f"    while os.path.exists({str(gate)!r}):\n        time.sleep(0.02)\n"))
    holder = _start(root)
    deadline = time.monotonic() + 30
    while not (root / "runs.log").exists():
        if time.monotonic() >= deadline or holder.poll() is not None:
            gate.unlink()
            raise AssertionError(holder.communicate())
        time.sleep(0.05)
    return holder, gate


def test_a_runner_waits_for_the_lock_and_gives_up_with_status_3(tmp_path, database):
    root = tmp_path / "app"
    holder, gate = _holder_inside_its_migration(root, database)
    try:
        waiter = _run(root, "--lock-timeout", "0.5")
    finally:
        gate.unlink()
    assert waiter.returncode == 3, waiter.stderr
    assert "waiting for the lock" in waiter.stderr and f":{holder.pid}" in waiter.stderr
    assert "Traceback" not in waiter.stderr
    assert holder.wait(timeout=60) == 0, holder.communicate()
    assert _history_and_data(database) == ([1], [1])
    status = _run(root, "status")
    assert status.returncode == 0 and "pending" not in status.stdout


def test_a_second_sigint_during_a_statement_stops_the_run_cleanly(tmp_path, database):
    """A conf.py connection in autocommit mode, switched off for the step: giving the mode
    back while the statement still runs must not turn the stop into an internal error."""
    root = tmp_path / "app"
    root.mkdir()
    switch = ("connection.autocommit(True)" if database.driver == "pymysql"
              else "connection.autocommit = True")
    (root / "conf.py").write_text(database.connect_code + (
        "_connect = get_connection\n"
        "def get_connection():\n"
        "    connection = _connect()\n"
        f"    {switch}\n"
        "    return connection\n"))
    sleep = "SELECT pg_sleep(3)" if database.kind == "postgresql" else "SELECT SLEEP(3)"
    started = root / "started"
    (root / "m001.py").write_text(
        "version = 1\n"
        "def up(context):\n"
        f"    open({str(started)!r}, 'w').close()\n"
        f"    context.execute({sleep!r}).fetchall()\n"
        "def down(context):\n    pass\n")
    runner = _start(root)
    deadline = time.monotonic() + 30
    while not started.exists():
        assert time.monotonic() < deadline and runner.poll() is None, runner.communicate()
        time.sleep(0.02)
    time.sleep(0.2)  # inside the statement
    runner.send_signal(signal.SIGINT)
    time.sleep(0.2)
    runner.send_signal(signal.SIGINT)
    out, err = runner.communicate(timeout=60)
    assert runner.returncode == 130, err
    assert "internal error" not in err and "Traceback" not in err, err
    # A driver that waits in C (mysql-connector's extension) sees both signals only once the
    # statement has ended, and Python then runs one handler for the two: the run stops after
    # the migration instead of during it. Either way it stops by SIGINT, and cleanly.
    assert "interrupted by SIGINT" in err or "stopped by SIGINT" in err, err
    if "interrupted by SIGINT" in err and database.kind == "mariadb":
        # Stopped part-way where nothing is atomic: failed, and said why (SPEC 9).
        status = _run(root, "check")
        assert "up failed" in status.stdout and "Interrupted: SIGINT" in status.stdout, status.stdout
    rerun = _run(root, "--lock-timeout", "10", *_resume_if_failed(root))
    assert rerun.returncode == 0, rerun.stderr


def test_unlock_refuses_a_live_runner_and_force_breaks_its_lock(tmp_path, postgresql_database):
    database = postgresql_database
    root = tmp_path / "app"
    holder, gate = _holder_inside_its_migration(root, database)
    try:
        refused = _run(root, "unlock")
        assert refused.returncode == 3, refused.stderr
        assert f"(pid {holder.pid})" in refused.stderr and "unlock left it in place" in refused.stderr
        assert database.query("SELECT pid FROM link_migration_lock WHERE id = 1") == [(holder.pid,)]
        forced = _run(root, "unlock", "--force")
        assert forced.returncode == 0, forced.stderr
        assert "It is still running." in forced.stdout
        assert database.query("SELECT pid FROM link_migration_lock WHERE id = 1") == []
    finally:
        gate.unlink()
    assert holder.wait(timeout=60) == 0, holder.communicate()
    assert _history_and_data(database) == ([1], [1])
