"""SPEC 7 with real processes: racing runners, kill -9 at random moments, SIGINT and SIGTERM.

These are the only tests that sleep: they race and kill real processes.
"""
from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

STORES = {
    "sqlite": 'DATABASE = "app.db"\n',
    "file": 'VERSION_FILE = "version.txt"\n',
}


def _write_project(root: Path, store: str, count: int, *, sleep: float = 0.0) -> None:
    """conf.py and ``count`` migrations; each appends "up N <pid>" to runs.log and, on the
    SQLite store, creates table tN in the migration's transaction."""
    root.mkdir(exist_ok=True)
    (root / "conf.py").write_text(STORES[store])
    runs = root / "runs.log"
    for version in range(1, count + 1):
        ddl = (
            f"    context.execute('CREATE TABLE t{version} (x INTEGER)')\n"
            if store == "sqlite"
            else ""
        )
        drop = f"    context.execute('DROP TABLE t{version}')\n" if store == "sqlite" else "    pass\n"
        (root / f"m{version:03d}.py").write_text(
            "import os, time\n"
            f"version = {version}\n"
            "def up(context):\n"
            f"    with open({str(runs)!r}, 'a') as log:\n"
            f"        log.write('up {version} %d\\n' % os.getpid())\n"
            f"    time.sleep({sleep!r})\n"
            + ddl
            + "def down(context):\n"
            + drop
        )


def _start(root: Path, *argv: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "link_migration", *argv],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _run(root: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "link_migration", *argv],
        cwd=root, capture_output=True, text=True, timeout=120,
    )


def _applied_and_tables(database: Path) -> tuple[list[int], list[int]]:
    with sqlite3.connect(database) as connection:
        names = [n for (n,) in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        history: list[int] = []
        if "link_migration_history" in names:
            history = [v for (v,) in connection.execute(
                "SELECT version FROM link_migration_history ORDER BY version")]
    tables = sorted(int(n[1:]) for n in names if n.startswith("t") and n[1:].isdigit())
    return history, tables


def _current(root: Path) -> str:
    result = _run(root, "current")
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.mark.parametrize("store", list(STORES))
def test_eight_runners_at_once_migrate_exactly_once(tmp_path, store):
    root = tmp_path / "app"
    _write_project(root, store, 5, sleep=0.05)
    runners = [_start(root) for _ in range(8)]
    results = [(runner.wait(timeout=120), *runner.communicate()) for runner in runners]
    for status, out, err in results:
        assert status == 0, err
        assert "Traceback" not in err
    runs = (root / "runs.log").read_text().splitlines()
    assert [line.split()[1] for line in runs] == ["1", "2", "3", "4", "5"]
    assert len({line.split()[2] for line in runs}) == 1  # one runner did all the work
    assert sum("nothing to do" in out for _, out, _ in results) == 7
    assert sum("waiting for the lock" in err for _, _, err in results) >= 1
    assert _current(root) == "5"
    if store == "sqlite":
        assert _applied_and_tables(root / "app.db") == ([1, 2, 3, 4, 5], [1, 2, 3, 4, 5])


@pytest.mark.parametrize("store", list(STORES))
def test_kill_9_at_random_moments_leaves_a_consistent_store(tmp_path, store):
    chance = random.Random(20261125)
    for attempt in range(5):
        root = tmp_path / f"app{attempt}"
        _write_project(root, store, 12, sleep=0.02)
        runner = _start(root)
        time.sleep(chance.uniform(0.05, 0.6))
        runner.kill()
        runner.wait()  # reap it: a zombie would still look alive to the stale-lock check
        runner.communicate()
        current = int(_current(root) or 0)
        assert 0 <= current <= 12
        if store == "sqlite":
            history, tables = _applied_and_tables(root / "app.db")
            assert history == tables, f"attempt {attempt}: history and schema disagree"
            assert history == list(range(1, current + 1))
        elif (root / "version.txt").exists():  # absent when killed before the first record
            assert (root / "version.txt").read_text() == f"{current}\n"
        rerun = _run(root, "--lock-timeout", "5")
        assert rerun.returncode == 0, f"attempt {attempt}: {rerun.stderr}"
        assert _current(root) == "12"
        if store == "sqlite":
            assert _applied_and_tables(root / "app.db") == (list(range(1, 13)), list(range(1, 13)))


def _slow_middle_project(root: Path, store: str) -> Path:
    """Three migrations; the second writes started.txt, then sleeps 1.5 s."""
    _write_project(root, store, 3)
    started = root / "started.txt"
    ddl = "    context.execute('CREATE TABLE t2 (x INTEGER)')\n" if store == "sqlite" else ""
    (root / "m002.py").write_text(
        "import time\nversion = 2\ndef up(context):\n"
        + ddl
        + f"    open({str(started)!r}, 'w').write('yes')\n"
        "    time.sleep(1.5)\n"
        "def down(context):\n    pass\n"
    )
    return started


def _wait_for(path: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.01)


@pytest.mark.parametrize("store", list(STORES))
@pytest.mark.parametrize("signum, status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_first_signal_lets_the_running_migration_finish_then_stops(tmp_path, store, signum, status):
    root = tmp_path / "app"
    started = _slow_middle_project(root, store)
    runner = _start(root)
    _wait_for(started)
    runner.send_signal(signum)
    out, err = runner.communicate(timeout=60)
    assert runner.returncode == status, err
    assert "stopping after the running migration" in err
    assert "stopped by" in err and "the store holds version 2" in err
    assert "Traceback" not in err
    assert _current(root) == "2"
    assert "up 3" not in (root / "runs.log").read_text()
    if store == "sqlite":
        assert _applied_and_tables(root / "app.db") == ([1, 2], [1, 2])


@pytest.mark.parametrize("store", list(STORES))
def test_second_signal_interrupts_the_migration(tmp_path, store):
    root = tmp_path / "app"
    started = _slow_middle_project(root, store)
    runner = _start(root)
    _wait_for(started)
    runner.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    runner.send_signal(signal.SIGTERM)
    out, err = runner.communicate(timeout=60)
    assert runner.returncode == 143, err
    assert "interrupted by SIGTERM during migration 2" in err
    assert _current(root) == "1"
    if store == "sqlite":
        assert _applied_and_tables(root / "app.db") == ([1], [1])  # t2 rolled back
    # The lock went with the run: the next one completes at once.
    rerun = _run(root, "--lock-timeout", "0")
    assert rerun.returncode == 0, rerun.stderr
    assert _current(root) == "3"


# A connection whose commit, once armed, sends the process SIGINT the moment the data is on
# disk: the second signal then lands after the step is committed, before the run has noted it.
_SIGNALLING_CONF = """\
import os, signal, sqlite3
from pathlib import Path

ARMED = Path(__file__).with_name("armed")


class SignallingConnection(sqlite3.Connection):
    def commit(self):
        super().commit()
        if ARMED.exists():
            ARMED.unlink()
            os.kill(os.getpid(), signal.SIGINT)


def get_connection():
    return sqlite3.connect(Path(__file__).with_name("app.db"), factory=SignallingConnection)
"""


@pytest.mark.parametrize("first_in_up", [True, False], ids=["second", "first"])
def test_a_signal_after_the_commit_stops_the_run_with_the_version_it_recorded(tmp_path, first_in_up):
    root = tmp_path / "app"
    _write_project(root, "sqlite", 2)
    (root / "conf.py").write_text(_SIGNALLING_CONF)
    armed = root / "armed"
    (root / "m001.py").write_text(
        "import os, signal\nversion = 1\ndef up(context):\n"
        "    context.execute('CREATE TABLE t1 (x INTEGER)')\n"
        + ("    os.kill(os.getpid(), signal.SIGINT)\n" if first_in_up else "")
        + f"    open({str(armed)!r}, 'w').close()\n"
        "def down(context):\n    pass\n"
    )
    result = _run(root)
    assert result.returncode == 130, result.stderr
    assert not armed.exists()  # the signal from the commit was sent
    if not first_in_up:
        assert "stopping after the running migration (which is being recorded)" in result.stderr
    assert "stopped by SIGINT after 1 of 2 migrations; the store holds version 1" in result.stderr
    assert "Traceback" not in result.stderr
    assert _applied_and_tables(root / "app.db") == ([1], [1])


# A commit that hangs until someone insists: it sends SIGINT three times before committing.
_HANGING_COMMIT_CONF = _SIGNALLING_CONF.replace(
    "        super().commit()\n        if ARMED.exists():\n            ARMED.unlink()\n"
    "            os.kill(os.getpid(), signal.SIGINT)\n",
    "        if ARMED.exists():\n            ARMED.unlink()\n"
    "            for _ in range(3):\n                os.kill(os.getpid(), signal.SIGINT)\n"
    "        super().commit()\n",
)


def test_a_third_signal_abandons_a_record_that_hangs_and_says_the_version_is_uncertain(tmp_path):
    root = tmp_path / "app"
    _write_project(root, "sqlite", 2)
    assert _HANGING_COMMIT_CONF != _SIGNALLING_CONF
    (root / "conf.py").write_text(_HANGING_COMMIT_CONF)
    armed = root / "armed"
    (root / "m001.py").write_text(
        "version = 1\ndef up(context):\n"
        "    context.execute('CREATE TABLE t1 (x INTEGER)')\n"
        f"    open({str(armed)!r}, 'w').close()\n"
        "def down(context):\n    pass\n"
    )
    result = _run(root)
    assert result.returncode == 130, result.stderr
    assert "stopping after the running migration (which is being recorded)" in result.stderr
    assert "send SIGINT again to abandon the record" in result.stderr
    assert ("interrupted by SIGINT while migration 1 (up) in " in result.stderr
            and "was being recorded, after 0 of 2 migrations; the store holds version 0 or 1"
            in result.stderr)
    assert "Traceback" not in result.stderr
    assert _current(root) == "0"  # abandoned before the commit: rolled back, DDL included
    assert _applied_and_tables(root / "app.db") == ([], [])


def test_unlock_breaks_a_lock_row_by_hand_and_says_whose(tmp_path):
    root = tmp_path / "app"
    _write_project(root, "sqlite", 1)
    assert _run(root).returncode == 0
    with sqlite3.connect(root / "app.db") as connection:
        connection.execute(
            "INSERT INTO link_migration_lock (id, owner, host, pid, since) VALUES (1, 'ops@elsewhere:42', 'elsewhere', 42, 'then')"
        )
    blocked = _run(root, "--down", "--lock-timeout", "0.2")
    assert blocked.returncode == 3
    assert "held by ops@elsewhere:42" in blocked.stderr
    unlocked = _run(root, "unlock")
    assert unlocked.returncode == 0
    assert "ops@elsewhere:42" in unlocked.stdout
    assert _run(root, "--down", "--lock-timeout", "0.2").returncode == 0


def test_lock_row_of_a_dead_process_on_this_host_is_broken_with_a_warning(tmp_path):
    import socket

    from link_migration.lock import this_host

    root = tmp_path / "app"
    _write_project(root, "sqlite", 2)
    assert _run(root, "--up", "1").returncode == 0
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    with sqlite3.connect(root / "app.db") as connection:
        connection.execute(
            "INSERT INTO link_migration_lock (id, owner, host, pid, since) VALUES (1, ?, ?, ?, 'then')",
            (f"ghost@{socket.gethostname()}:{dead}", this_host(), int(dead)),
        )
    result = _run(root, "--lock-timeout", "0")
    assert result.returncode == 0, result.stderr
    assert "warning: broke the lock of ghost@" in result.stderr
    assert _current(root) == "2"


def _user_lock_project(project, answer: str) -> Path:
    calls = project.root / "lock_calls.txt"
    project.write_conf(
        'VERSION_FILE = "version.txt"\n'
        "def acquire_lock():\n"
        f"    open({str(calls)!r}, 'a').write('acquire\\n')\n"
        f"    return {answer}\n"
        "def release_lock():\n"
        f"    open({str(calls)!r}, 'a').write('release\\n')\n"
    )
    project.add_migration(1)
    return calls


def test_conf_py_lock_is_used_and_released(project):
    calls = _user_lock_project(project, "True")
    result = project.run()
    assert result.status == 0, result.err
    assert calls.read_text().splitlines() == ["acquire", "release"]
    assert not (project.root / ".link-migration.lock").exists()  # conf.py's lock replaces ours


def test_conf_py_lock_that_says_no_times_out_with_status_3(project):
    calls = _user_lock_project(project, "False")
    result = project.run("--lock-timeout", "0.3")
    assert result.status == 3
    assert "acquire_lock() in conf.py" in result.err
    assert project.log() == []
    assert "release" not in calls.read_text()
    assert calls.read_text().count("acquire") >= 2  # it was asked again while waiting


def test_file_store_lock_makes_a_second_runner_wait(tmp_path):
    root = tmp_path / "app"
    _write_project(root, "file", 1, sleep=1.0)
    first = _start(root)
    deadline = time.monotonic() + 30
    while not (root / "runs.log").exists():
        assert time.monotonic() < deadline
        time.sleep(0.01)
    second = _run(root, "--lock-timeout", "0.2")
    assert second.returncode == 3
    assert "waiting for the lock on file" in second.stderr
    out, err = first.communicate(timeout=60)
    assert first.returncode == 0, err


def test_two_runners_in_one_process_do_not_break_each_others_lock(project):
    # Two threads using the API: the second waits for the first, it does not take the
    # first's lock for a dead process's because the pid is its own.
    import threading

    from link_migration import Migrator

    project.write_conf('DATABASE = "app.db"\n')
    project.add_migration(1, header="import time", up="time.sleep(0.5)")
    project.add_migration(2)
    results: dict[int, object] = {}

    def migrate(index: int) -> None:
        try:
            results[index] = Migrator.from_config(str(project.conf), lock_timeout=30).upgrade().versions
        except Exception as exc:  # recorded for the assertion below
            results[index] = exc

    threads = [threading.Thread(target=migrate, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
        time.sleep(0.1)
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(results.values(), key=len) == [[], [1, 2]], results
    assert project.log() == ["up 1", "up 2"]


def test_a_lock_that_cannot_be_released_does_not_hide_how_the_run_ended(project):
    project.write_conf(
        'VERSION_FILE = "version.txt"\n'
        "def acquire_lock():\n    return True\n"
        "def release_lock():\n    raise RuntimeError('lock service down')\n"
    )
    project.add_migration(1)
    project.add_migration(2, up="raise ValueError('migration two broke')")
    result = project.run()
    assert result.status == 1
    assert "ValueError: migration two broke" in result.err
    assert "warning: could not release the lock" in result.err and "lock service down" in result.err
    assert project.version() == "1"


def test_two_release_folders_sharing_one_version_file_share_one_lock(tmp_path):
    # Each release has its own conf.py and its own copy of the migrations, as a deploy tool
    # lays them out; both name one version file, one by a relative path and one absolute.
    shared = tmp_path / "shared"
    shared.mkdir()
    runs = shared / "runs.log"
    releases = [tmp_path / "releases" / "1", tmp_path / "releases" / "2"]
    for release, version_file in zip(releases, ["../../shared/version.txt", str(shared / "version.txt")]):
        release.mkdir(parents=True)
        (release / "conf.py").write_text(f"VERSION_FILE = {version_file!r}\n")
        for version in range(1, 6):
            (release / f"m{version:03d}.py").write_text(
                "import os, time\n"
                f"version = {version}\n"
                "def up():\n"
                f"    with open({str(runs)!r}, 'a') as log:\n"
                f"        log.write('up {version} %d\\n' % os.getpid())\n"
                "    time.sleep(0.05)\n"
            )
    runners = [_start(releases[index % 2]) for index in range(6)]
    results = [(runner.wait(timeout=120), *runner.communicate()) for runner in runners]
    for status, _, err in results:
        assert status == 0, err
        assert "Traceback" not in err
    assert [line.split()[1] for line in runs.read_text().splitlines()] == ["1", "2", "3", "4", "5"]
    assert sum("nothing to do" in out for _, out, _ in results) == 5
    assert (shared / "version.txt").read_text() == "5\n"
    assert (shared / ".link-migration.lock").exists()
    assert not any((release / ".link-migration.lock").exists() for release in releases)


def _held_by_a_live_runner(root: Path) -> tuple[subprocess.Popen[str], Path]:
    """A runner of a SQLite project that holds the lock inside its first migration until
    the returned gate file is removed."""
    _write_project(root, "sqlite", 1)
    gate = root / "hold"
    gate.touch()
    (root / "m001.py").write_text((root / "m001.py").read_text().replace(
        "    time.sleep(0.0)\n",
        f"    while os.path.exists({str(gate)!r}):\n        time.sleep(0.02)\n"))
    runner = _start(root)
    deadline = time.monotonic() + 30
    while not (root / "runs.log").exists():
        assert time.monotonic() < deadline and runner.poll() is None, runner.communicate()
        time.sleep(0.02)
    return runner, gate


def test_unlock_leaves_the_lock_of_a_live_runner_in_place(tmp_path):
    root = tmp_path / "app"
    runner, gate = _held_by_a_live_runner(root)
    try:
        refused = _run(root, "unlock")
        assert refused.returncode == 3, refused.stderr
        assert f"running on this host (pid {runner.pid})" in refused.stderr
        assert "unlock left it in place" in refused.stderr and "Traceback" not in refused.stderr
        assert _run(root, "--lock-timeout", "0").returncode == 3  # still held
    finally:
        gate.unlink()
    assert runner.wait(timeout=60) == 0
    assert _current(root) == "1"


def test_the_lock_of_a_killed_runner_not_yet_reaped_is_broken(tmp_path):
    """A zombie answers signals but holds nothing: its lock is no reason to wait."""
    root = tmp_path / "app"
    runner, gate = _held_by_a_live_runner(root)
    gate.unlink()  # the next run's migration must not wait
    os.kill(runner.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{runner.pid}/stat").read_bytes().rpartition(b")")[2].split()[0] != b"Z":
        assert time.monotonic() < deadline
        time.sleep(0.01)  # killed, and not reaped: nothing has wait()ed for it yet
    try:
        rerun = _run(root, "--lock-timeout", "0")
        assert rerun.returncode == 0, rerun.stderr
        assert "broke the lock of" in rerun.stderr and f":{runner.pid}" in rerun.stderr
        assert _current(root) == "1"
    finally:
        runner.wait()
