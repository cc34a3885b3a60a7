"""SPEC 7: a second SIGINT cancels the running statement on the server, with real processes.

The run must end within seconds with status 130, its step not recorded, the lock row gone,
and the statement no longer running on the server.
"""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest


def _start(root: Path, *argv: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "link_migration", *argv], cwd=root,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _write_migration(root: Path, statement: str) -> Path:
    started = root / "started"
    (root / "m001.py").write_text(
        "version = 1\n"
        "def up(context):\n"
        f"    open({str(started)!r}, 'w').close()\n"
        f"    context.execute({statement!r}).fetchall()\n"
        "def down(context):\n    pass\n")
    return started


def _interrupt_twice(runner: subprocess.Popen[str], started: Path) -> tuple[float, str]:
    """Two SIGINTs inside the statement; the seconds from the second to the end, and stderr."""
    deadline = time.monotonic() + 30
    while not started.exists():
        assert time.monotonic() < deadline and runner.poll() is None, runner.communicate()
        time.sleep(0.02)
    time.sleep(0.5)  # inside the statement
    runner.send_signal(signal.SIGINT)
    time.sleep(0.3)
    assert runner.poll() is None, runner.communicate()  # the first one lets it run on
    runner.send_signal(signal.SIGINT)
    begun = time.monotonic()
    try:
        _, err = runner.communicate(timeout=60)
    finally:
        if runner.poll() is None:
            runner.kill()
    return time.monotonic() - begun, err


def _check_clean_stop(runner: subprocess.Popen[str], seconds: float, err: str) -> None:
    assert runner.returncode == 130, err
    assert seconds < 10, (seconds, err)
    assert "internal error" not in err and "Traceback" not in err, err
    assert "interrupted by SIGINT during migration 1" in err, err
    assert "could not release the lock" not in err, err


def test_a_second_sigint_cancels_pg_sleep_on_the_server(tmp_path, postgresql_database):
    database = postgresql_database
    root = tmp_path / "app"
    root.mkdir()
    (root / "conf.py").write_text(database.connect_code)
    started = _write_migration(root, "SELECT pg_sleep(30)")
    runner = _start(root)
    seconds, err = _interrupt_twice(runner, started)
    _check_clean_stop(runner, seconds, err)
    assert database.query("SELECT COUNT(*) FROM link_migration_history") == [(0,)]
    assert database.query("SELECT COUNT(*) FROM link_migration_lock WHERE id = 1") == [(0,)]
    running = database.query(
        "SELECT COUNT(*) FROM pg_stat_activity "
        "WHERE query LIKE '%pg_sleep(30)%' AND state = 'active' AND pid <> pg_backend_pid()")
    assert running == [(0,)]


def test_a_second_sigint_interrupts_a_long_sqlite_query(tmp_path):
    root = tmp_path / "app"
    root.mkdir()
    (root / "conf.py").write_text('DATABASE = "app.db"\n')
    started = _write_migration(
        root,
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000000000) "
        "SELECT COUNT(*) FROM n")
    runner = _start(root)
    seconds, err = _interrupt_twice(runner, started)
    _check_clean_stop(runner, seconds, err)
    import sqlite3

    connection = sqlite3.connect(root / "app.db")
    try:
        assert connection.execute("SELECT COUNT(*) FROM link_migration_history").fetchall() == [(0,)]
        assert connection.execute(
            "SELECT COUNT(*) FROM link_migration_lock WHERE id = 1").fetchall() == [(0,)]
    finally:
        connection.close()


def test_a_second_sigint_cancels_sleep_on_mariadb(tmp_path, mariadb_database):
    database = mariadb_database
    root = tmp_path / "app"
    root.mkdir()
    (root / "conf.py").write_text(database.connect_code)
    started = _write_migration(root, "SELECT SLEEP(30)")
    runner = _start(root)
    seconds, err = _interrupt_twice(runner, started)
    _check_clean_stop(runner, seconds, err)
    assert database.query("SELECT COUNT(*) FROM link_migration_history") == [(0,)]
    assert database.query("SELECT COUNT(*) FROM link_migration_lock WHERE id = 1") == [(0,)]
    running = database.query(
        "SELECT COUNT(*) FROM information_schema.processlist "
        "WHERE info LIKE '%SLEEP(30)%' AND id <> CONNECTION_ID()")
    assert running == [(0,)]


@pytest.mark.parametrize("signum", [signal.SIGTERM])
def test_a_second_sigterm_ends_with_143(tmp_path, signum):
    root = tmp_path / "app"
    root.mkdir()
    (root / "conf.py").write_text('DATABASE = "app.db"\n')
    started = _write_migration(
        root,
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000000000) "
        "SELECT COUNT(*) FROM n")
    runner = _start(root)
    deadline = time.monotonic() + 30
    while not started.exists():
        assert time.monotonic() < deadline and runner.poll() is None, runner.communicate()
        time.sleep(0.02)
    time.sleep(0.5)
    runner.send_signal(signum)
    time.sleep(0.3)
    runner.send_signal(signum)
    begun = time.monotonic()
    _, err = runner.communicate(timeout=60)
    assert runner.returncode == 143, err
    assert time.monotonic() - begun < 10
    assert "interrupted by SIGTERM during migration 1" in err, err


_LONG_SQLITE_QUERY = (
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000000000) "
    "SELECT COUNT(*) FROM n")


def test_two_signals_during_a_call_in_c_count_as_two_and_cancel_it():
    """Python runs a handler only after sqlite3 returns, and then once for two signals: the
    watcher counts both as they arrive and interrupts the query."""
    import contextlib
    import io
    import os
    import sqlite3
    import threading

    from link_migration.errors import Interrupted
    from link_migration.signals import SignalGuard

    connection = sqlite3.connect(":memory:")
    stderr = io.StringIO()

    def twice() -> None:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.1)  # the kernel itself merges a signal sent while the same one is pending
        os.kill(os.getpid(), signal.SIGINT)

    begun = time.monotonic()
    with SignalGuard(stderr) as guard:
        with pytest.raises(Interrupted) as raised:
            with guard.migration_running(connection.interrupt):
                threading.Timer(0.3, twice).start()
                watchdog = threading.Timer(15, connection.interrupt)  # should the watcher fail
                watchdog.daemon = True
                watchdog.start()
                with contextlib.suppress(sqlite3.OperationalError):  # "interrupted"
                    connection.execute(_LONG_SQLITE_QUERY).fetchall()
                time.sleep(5)  # the handler raises before this ends
    watchdog.cancel()
    assert raised.value.signum == signal.SIGINT
    assert guard.cancelled
    assert time.monotonic() - begun < 5
    assert "stopping after the running migration" in stderr.getvalue()
    connection.close()


def test_one_signal_cancels_nothing():
    import io
    import os

    from link_migration.signals import SignalGuard

    calls = []
    with SignalGuard(io.StringIO()) as guard:
        with guard.migration_running(lambda: calls.append("cancel")):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.2)
    assert guard.requested == signal.SIGINT
    assert not guard.cancelled and calls == []
