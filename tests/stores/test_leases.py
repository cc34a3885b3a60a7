"""SPEC 12: the lock row of a SQL store is a lease, with real processes on SQLite, PostgreSQL
and MariaDB.

A runner killed where its pid means nothing to the next one (its own PID namespace, as in a
container) leaves a lock that is broken once its lease has gone unrenewed for a whole term; a
live runner keeps its lease through a migration far longer than the term; a runner whose lock
was broken stops before its next step.
"""
from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any, Callable

import pytest

import servers
from checks import assert_error, ok

TERM = 1  # LOCK_LEASE in these tests: renewed every third of a second


class Store:
    """Where a test project keeps its versions, and a way to look at its tables."""

    def __init__(self, kind: str, connect_code: str, query: Callable[..., list[Any]]) -> None:
        self.kind = kind
        self.connect_code = connect_code
        self.query = query

    def history(self) -> list[int]:
        return [int(v) for (v,) in self.query(
            "SELECT version FROM link_migration_history ORDER BY version")]

    def done(self) -> list[int]:
        return [int(v) for (v,) in self.query("SELECT version FROM done ORDER BY version")]

    def lock_row(self) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in self.query(
            "SELECT owner, pid, since, renewed, term_ms FROM link_migration_lock WHERE id = 1")]


def _sqlite(root: Path) -> Store:
    def query(sql: str) -> list[Any]:
        with sqlite3.connect(root / "app.db") as connection:
            rows = connection.execute(sql).fetchall()
        connection.close()
        return rows

    return Store("sqlite", 'DATABASE = "app.db"\n', query)


def _server(database) -> Store:
    def query(sql: str) -> list[Any]:
        if not sql.lstrip().upper().startswith("SELECT"):
            database.execute(sql)
            return []
        return database.query(sql)

    return Store(database.kind, database.connect_code, query)


def _project(root: Path, store: Store, migrations: dict[int, str], *, lease: float = TERM,
             header: str = "") -> None:
    """conf.py with LOCK_LEASE = ``lease``, a table ``done``, and one migration per entry,
    whose body runs with ``context``, ``os`` and ``time`` at hand; ``header`` goes before
    each one's up()."""
    root.mkdir(exist_ok=True)
    (root / "conf.py").write_text(store.connect_code + f"LOCK_LEASE = {lease}\n")
    store.query("CREATE TABLE done (version INTEGER NOT NULL PRIMARY KEY)")
    for version, body in migrations.items():
        (root / f"m{version:03d}.py").write_text(
            "import os, time\n"
            f"version = {version}\n{header}"
            "def up(context):\n" + textwrap.indent(textwrap.dedent(body), "    ") + "\n"
            "def down(context):\n    pass\n")


def _inside(root: Path, name: str) -> str:
    """Lines for a migration: say that it is inside, then wait while the gate file exists."""
    return (f"open({str(root / name)!r}, 'w').write(str(os.getpid()))\n"
            f"while os.path.exists({str(root / (name + '.gate'))!r}):\n    time.sleep(0.02)\n")


def _start(root: Path, *argv: str, prefix: tuple[str, ...] = ()) -> subprocess.Popen[str]:
    return subprocess.Popen([*prefix, sys.executable, "-m", "link_migration", *argv], cwd=root,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _run(root: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "link_migration", *argv], cwd=root,
                          capture_output=True, text=True, timeout=120)


def _wait_for(path: Path, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while not path.exists():
        if time.monotonic() >= deadline or process.poll() is not None:
            raise AssertionError(process.communicate())
        time.sleep(0.02)


def _own_pid_namespace() -> tuple[str, ...]:
    """The command prefix that starts a process in a PID namespace of its own."""
    unshare = shutil.which("unshare")
    probe = subprocess.run([unshare, "--pid", "--fork", "true"], capture_output=True,
                           text=True) if unshare else None
    if probe is None or probe.returncode != 0:
        reason = ("unshare --pid --fork is needed (util-linux, run as root): "
                  + (probe.stderr.strip() if probe else "unshare is not installed"))
        if servers.servers_required():
            pytest.fail(reason)
        pytest.skip(reason)
    return (unshare, "--pid", "--fork")


def _child_of(pid: int) -> int:
    """The one child of process ``pid``: the runner that unshare forked."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    assert len(children) == 1, children
    return int(children[0])


# -- a dead holder's lease is broken after its term --------------------------------------------


def _killed_in_its_own_namespace_then_broken(root: Path, store: Store) -> None:
    namespace = _own_pid_namespace()
    _project(root, store, {
        1: _inside(root, "in1") + "context.execute('INSERT INTO done VALUES (1)')\n",
        2: "context.execute('INSERT INTO done VALUES (2)')\n",
    })
    (root / "in1.gate").touch()
    wrapper = _start(root, prefix=namespace)
    _wait_for(root / "in1", wrapper)
    assert (root / "in1").read_text() == "1"  # pid 1: its pid means nothing out here
    os.kill(_child_of(wrapper.pid), signal.SIGKILL)
    wrapper.communicate(timeout=30)
    (root / "in1.gate").unlink()
    (owner, pid, since, renewed, term_ms), = store.lock_row()
    assert (pid, term_ms) == (1, TERM * 1000)

    started = time.monotonic()
    result = _run(root, "--lock-timeout", "30", *(("--resume",) if store.kind == "mariadb" else ()))
    waited = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert f"broke the lock of {owner} since {since}" in result.stderr
    assert "its lease went unrenewed for" in result.stderr and f"term is {TERM} s" in result.stderr
    assert "Traceback" not in result.stderr
    assert waited >= TERM  # watched unrenewed for a whole term first: never broken early
    assert store.history() == store.done() == [1, 2]
    assert store.lock_row() == []


def test_a_killed_runner_in_its_own_pid_namespace_loses_its_lock_after_the_term_sqlite(tmp_path):
    root = tmp_path / "app"
    _killed_in_its_own_namespace_then_broken(root, _sqlite(root))


def test_a_killed_runner_in_its_own_pid_namespace_loses_its_lock_after_the_term(tmp_path, one_driver_each):
    database = one_driver_each
    _killed_in_its_own_namespace_then_broken(tmp_path / "app", _server(database))


# -- a live holder keeps its lease through a long migration ------------------------------------


def _live_lease_survives(root: Path, store: Store) -> None:
    """The migration holds its transaction (on SQLite, the database's write lock, so that
    even the renewing thread must wait) for three terms and more; a second runner waits all
    along, and then finds nothing to do."""
    _project(root, store, {1: (
        "context.execute('INSERT INTO done VALUES (1)')\n"
        + _inside(root, "in1")
        + f"time.sleep({3.5 * TERM})\n"
    )})
    holder = _start(root)
    _wait_for(root / "in1", holder)
    if store.kind != "sqlite":  # SQLite: the migration's write lock holds the renewals back
        impatient = _run(root, "--lock-timeout", "1.5")
        assert impatient.returncode == 3, impatient.stderr
        assert "its lease was renewed while this run waited, so that run is alive" in impatient.stderr
    waiter = _run(root, "--lock-timeout", "60")
    out, err = holder.communicate(timeout=60)
    assert holder.returncode == 0, err
    assert waiter.returncode == 0, waiter.stderr
    assert "broke the lock" not in waiter.stderr and "nothing to do" in waiter.stdout
    assert "waiting for the lock" in waiter.stderr
    assert store.history() == store.done() == [1]


def test_a_live_lease_survives_a_migration_three_terms_long_sqlite(tmp_path):
    root = tmp_path / "app"
    _live_lease_survives(root, _sqlite(root))


def test_a_live_lease_survives_a_migration_three_terms_long(tmp_path, one_driver_each):
    database = one_driver_each
    _live_lease_survives(tmp_path / "app", _server(database))


# -- a runner whose lock was broken stops -----------------------------------------------------


def _broken_lease_stops_the_run(root: Path, store: Store) -> None:
    """``unlock --force`` breaks the lock of a runner inside migration 1. On SQLite the
    migration runs outside a transaction: inside one it would hold the database's write lock,
    and nobody could break the lock before it ends."""
    transactional = store.kind == "postgresql"
    _project(root, store, {
        1: _inside(root, "in1") + "context.execute('INSERT INTO done VALUES (1)')\n",
        2: "context.execute('INSERT INTO done VALUES (2)')\n",
    }, header="" if transactional else "transactional = False\n")
    (root / "in1.gate").touch()
    holder = _start(root)
    _wait_for(root / "in1", holder)
    try:
        forced = _run(root, "unlock", "--force")
        assert forced.returncode == 0, forced.stderr
        assert "lease renewed" in forced.stdout and f"term {TERM} s" in forced.stdout
        time.sleep(TERM)  # the holder's next renewal finds the row gone
    finally:
        (root / "in1.gate").unlink()
    out, err = holder.communicate(timeout=60)
    assert holder.returncode == 3, err
    assert "is no longer this run's" in err and "or an operator ran unlock" in err
    assert "Traceback" not in err and "could not release" not in err
    if not transactional:
        # What migration 1 did is in place, so it is recorded; 2 never starts.
        assert "stopped before migration 2" in err
        assert store.history() == store.done() == [1]
    else:
        # The step is committed only if the lock is still its own: rolled back whole.
        assert "migration 1 (up)" in err and "was not recorded" in err
        assert "rolled back" in err
        assert store.history() == store.done() == []


def test_a_runner_whose_lock_was_broken_stops_sqlite(tmp_path):
    root = tmp_path / "app"
    _broken_lease_stops_the_run(root, _sqlite(root))


def test_a_runner_whose_lock_was_broken_stops(tmp_path, one_driver_each):
    database = one_driver_each
    _broken_lease_stops_the_run(tmp_path / "app", _server(database))


# -- renewing, the format, the setting --------------------------------------------------------


_READ_LEASE = """\
def up(context):
    time.sleep(0.8)
    cursor = context.connection.cursor()
    cursor.execute("SELECT since, renewed FROM link_migration_lock WHERE id = 1")
    (since, renewed), = cursor.fetchall()
    open(os.path.join(os.path.dirname(__file__), "lease.txt"), "w").write(
        "renewed" if renewed > since else "not renewed")
def down(context):
    pass
"""


@pytest.mark.parametrize("conf", [
    'DATABASE = "app.db"\n',
    # One connection for every call: no second one for a renewing thread, so the store
    # renews between migrations.
    "import os, sqlite3\n_connection = sqlite3.connect(os.path.join(os.path.dirname(__file__), "
    "'app.db'), check_same_thread=False)\ndef get_connection():\n    return _connection\n",
], ids=["own connection", "shared connection"])
def test_a_runner_renews_its_lease_while_it_works(project, conf):
    project.write_conf(conf + "LOCK_LEASE = 1\n")
    for version in (1, 2):
        (project.migrations / f"m{version}.py").write_text(
            f"import os, time\nversion = {version}\n" + _READ_LEASE)
    ok(project.run())
    assert (project.migrations / "lease.txt").read_text() == "renewed"
    with sqlite3.connect(project.root / "app.db") as connection:
        assert connection.execute("SELECT COUNT(*) FROM link_migration_lock WHERE id = 1"
                                  ).fetchall() == [(0,)]
    connection.close()


_FORMAT_2_LOCK = """
CREATE TABLE link_migration_lock (id INTEGER NOT NULL PRIMARY KEY, owner VARCHAR(255) NOT NULL,
    host VARCHAR(255) NOT NULL, pid INTEGER NOT NULL, since VARCHAR(40) NOT NULL);
INSERT INTO link_migration_lock VALUES (0, 'link-migration store format', '', 2, '2026-01-01');
"""


def test_a_lock_table_of_format_2_gains_the_lease_columns(project):
    project.write_conf('DATABASE = "app.db"\n')
    project.add_migration(1)
    with sqlite3.connect(project.root / "app.db") as connection:
        connection.executescript(_FORMAT_2_LOCK)
    connection.close()
    ok(project.run())
    with sqlite3.connect(project.root / "app.db") as connection:
        columns = [row[1] for row in connection.execute("PRAGMA table_info(link_migration_lock)")]
        format_row = connection.execute("SELECT pid FROM link_migration_lock WHERE id = 0").fetchall()
    connection.close()
    assert columns == ["id", "owner", "host", "pid", "since", "renewed", "term_ms"]
    assert format_row == [(4,)]
    assert project.log() == ["up 1"]


def test_a_lock_row_of_an_earlier_release_is_no_lease_and_is_never_broken_by_itself(project):
    """An earlier link-migration renews nothing: whether it still runs cannot be told, so
    its lock waits for it (or for unlock), as before."""
    project.write_conf('DATABASE = "app.db"\nLOCK_LEASE = 1\n')
    project.add_migration(1)
    with sqlite3.connect(project.root / "app.db") as connection:
        connection.executescript(_FORMAT_2_LOCK + (
            "INSERT INTO link_migration_lock VALUES "
            "(1, 'ops@elsewhere:42', 'elsewhere', 42, '2026-01-01T00:00:00+00:00');"))
    connection.close()
    result = project.run("--lock-timeout", "2.5")
    assert_error(result, "held by ops@elsewhere:42", "gave up after 2.5 s", status=3)
    assert "broke" not in result.err and "lease" not in result.err
    assert project.log() == []
    unlocked = project.run("unlock")
    ok(unlocked)
    assert "ops@elsewhere:42" in unlocked.out and "lease" not in unlocked.out
    ok(project.run())
    assert project.log() == ["up 1"]


def test_a_lease_not_seen_renewed_is_said_to_be(project):
    """The message of a wait that gave up says what it saw of the lease: here, no renewal,
    and when it would be broken."""
    project.write_conf('DATABASE = "app.db"\nLOCK_LEASE = 30\n')
    project.add_migration(1)
    ok(project.run("--to", "0"))
    with sqlite3.connect(project.root / "app.db") as connection:
        connection.execute(
            "INSERT INTO link_migration_lock VALUES (1, 'ops@elsewhere:42', 'elsewhere', 42, "
            "'2026-01-01T00:00:00+00:00', '2026-01-01T00:00:00+00:00', 30000)")
    connection.close()
    result = project.run("--lock-timeout", "0.5")
    assert_error(result, "held by ops@elsewhere:42", "its lease was not renewed in the 0.5 s "
                 "watched", "once it has gone unrenewed for 30 s", status=3)
    unlocked = project.run("unlock")
    ok(unlocked)
    assert "lease renewed" in unlocked.out and "term 30 s" in unlocked.out
    assert "It ran on another host" in unlocked.out


@pytest.mark.parametrize("value", ["'30'", "0", "0.5", "True", "float('nan')", "100000"])
def test_a_bad_lock_lease_is_refused(project, value):
    project.write_conf(f'DATABASE = "app.db"\nLOCK_LEASE = {value}\n')
    project.add_migration(1)
    assert_error(project.run(), "LOCK_LEASE", "conf.py", "from 1 to 86400")
    assert project.log() == [] and not (project.root / "app.db").exists()


def test_a_lock_table_of_format_2_gains_the_lease_columns_on_a_server(tmp_path, database):
    root = tmp_path / "app"
    store = _server(database)
    _project(root, store, {1: "context.execute('INSERT INTO done VALUES (1)')\n"})
    database.execute(
        "CREATE TABLE link_migration_lock (id INTEGER NOT NULL PRIMARY KEY, owner VARCHAR(255) "
        "NOT NULL, host VARCHAR(255) NOT NULL, pid INTEGER NOT NULL, since VARCHAR(40) NOT NULL)")
    database.execute("INSERT INTO link_migration_lock VALUES "
                     "(0, 'link-migration store format', '', 2, '2026-01-01')")
    assert _run(root).returncode == 0
    assert store.history() == store.done() == [1]
    assert store.query("SELECT pid FROM link_migration_lock WHERE id = 0") == [(4,)]
    assert store.query("SELECT renewed, term_ms FROM link_migration_lock") == [(None, None)]


def test_a_lock_table_whose_upgrade_stopped_half_way_is_completed(project):
    """A runner killed between adding the two lease columns leaves one: the next completes."""
    project.write_conf('DATABASE = "app.db"\n')
    project.add_migration(1)
    with sqlite3.connect(project.root / "app.db") as connection:
        connection.executescript(_FORMAT_2_LOCK + "ALTER TABLE link_migration_lock ADD COLUMN renewed VARCHAR(40);")
    connection.close()
    ok(project.run())
    with sqlite3.connect(project.root / "app.db") as connection:
        columns = [row[1] for row in connection.execute("PRAGMA table_info(link_migration_lock)")]
    connection.close()
    assert columns == ["id", "owner", "host", "pid", "since", "renewed", "term_ms"]
    assert project.log() == ["up 1"]


def test_a_lock_broken_during_the_last_migration_is_reported(tmp_path):
    """Outside a transaction the last migration's work is in place and recorded; the run says
    that its lock was broken meanwhile, since another run may have migrated too."""
    root = tmp_path / "app"
    store = _sqlite(root)
    _project(root, store, {1: _inside(root, "in1") + "context.execute('INSERT INTO done VALUES (1)')\n"},
             header="transactional = False\n")
    (root / "in1.gate").touch()
    holder = _start(root)
    _wait_for(root / "in1", holder)
    try:
        assert _run(root, "unlock", "--force").returncode == 0
        time.sleep(TERM)
    finally:
        (root / "in1.gate").unlink()
    out, err = holder.communicate(timeout=60)
    assert holder.returncode == 0, err
    assert "could not release the lock" in err and "no longer this run's" in err
    assert store.history() == store.done() == [1]
