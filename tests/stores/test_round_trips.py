"""Round trips to a database server, counted (issue 17), not timed: through the benchmark's
proxy (bench/latency_proxy.py, with no delay), which counts each time a client speaks after
the server has answered. On a network each one costs a millisecond or more, so these counts
are the tool's speed there; a change that adds one per migration fails here.

The bounds are today's counts on PostgreSQL with psycopg: the per-command ones must not grow
with the number of migrations at all; a migration costs its statements + 2, the target."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
from checks import ok

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from latency_proxy import LatencyProxy  # noqa: E402

# Round trips per migration on PostgreSQL with psycopg: BEGIN with txid_current(), in one
# simple query; the statement; then, in one more, the check that the step's transaction is
# still the one it began, the record (history row and log entry in one statement) and COMMIT.
# The migration's statements + 2, as issue 17 asks.
UP_PER_MIGRATION = 3
DOWN_PER_MIGRATION = 3
# The driver's own round trips on top, over thirty migrations: a reply that reaches the proxy
# in two pieces, with the client speaking in between, counts twice (about one in thirty
# here). One more round trip of ours per migration would add thirty.
DRIVER_OWN = 10


@pytest.fixture
def counted(project, request):
    """A project on a fresh PostgreSQL database reached through a counting proxy."""
    import servers

    server = request.getfixturevalue("postgresql_server")
    reason = servers.missing_driver("psycopg")
    if reason:
        pytest.skip(reason) if not servers.servers_required() else pytest.fail(reason)
    database = servers.create_database(server, "psycopg")
    proxy = LatencyProxy(server.host, server.port, 0.0).start()
    try:
        connect = database.connect_code.replace(f"port={server.port!r}", f"port={proxy.port!r}")
        project.write_conf(connect)
        yield project, proxy
    finally:
        proxy.stop()
        servers.drop_database(database, server)


def _migrations(project, count: int) -> None:
    for version in range(1, count + 1):
        (project.migrations / f"{version:03d}_t{version}.sql").write_text(
            f"-- migrate:up\nCREATE TABLE t{version} (x INTEGER);\n"
            f"-- migrate:down\nDROP TABLE t{version};\n")


def _trips(project, proxy, *argv: str) -> int:
    proxy.reset()
    ok(project.run(*argv))
    return proxy.reset()


def test_reading_commands_cost_the_same_whatever_the_number_of_migrations(counted):
    project, proxy = counted
    _migrations(project, 3)
    ok(project.run("-q"))
    few = {command: _trips(project, proxy, *argv) for command, argv in (
        ("status", ["status"]), ("current", ["current"]), ("check", ["check"]),
        ("nothing to do", ["-q"]))}
    _migrations(project, 30)
    ok(project.run("-q"))
    many = {command: _trips(project, proxy, *argv) for command, argv in (
        ("status", ["status"]), ("current", ["current"]), ("check", ["check"]),
        ("nothing to do", ["-q"]))}
    # Equal, give or take one: a reply that reaches the proxy in two pieces, with the
    # client speaking in between, counts twice. A query per migration would add 27.
    assert all(abs(many[command] - few[command]) <= 1 for command in few), (few, many)
    # Today's counts, and one for a split reply. Connecting takes 2 and closing 1; the
    # database's name, its schema and the catalog of our tables come in one more; then
    # `current` reads the version, `status` and `check` the history and the attempts, each
    # a round trip (autocommit mode: no BEGIN or ROLLBACK around them); a nothing-to-do run
    # also takes the lock, reads the catalog again under it, and releases the lock.
    assert few["current"] <= 6 and few["status"] <= 7 and few["check"] <= 7, few
    assert few["nothing to do"] <= 10, few


def test_round_trips_per_migration_up_and_down(counted):
    project, proxy = counted
    _migrations(project, 35)
    ok(project.run("-q", "--to", "1"))  # the tables exist: what follows is steady work
    few = _trips(project, proxy, "-q", "--to", "5")
    ok(project.run("-q", "--to", "1"))
    many = _trips(project, proxy, "-q", "--to", "35")
    assert many - few <= 30 * UP_PER_MIGRATION + DRIVER_OWN, (few, many)
    few_down = _trips(project, proxy, "-q", "--to", "31")
    ok(project.run("-q", "--to", "35"))
    many_down = _trips(project, proxy, "-q", "--to", "1")
    assert many_down - few_down <= 30 * DOWN_PER_MIGRATION + DRIVER_OWN, (few_down, many_down)


def test_taking_and_releasing_a_free_lock(counted):
    from link_migration.lock import RowLock
    from link_migration.state import LockHolder
    from link_migration.stores.sql import SqlStore

    project, proxy = counted
    namespace: dict[str, object] = {}
    exec(project.conf.read_text(), namespace)
    connection = namespace["get_connection"]()
    # One connection, handed out each time: the lease thread then opens none of its own,
    # whose start-up would count here too.
    store = SqlStore(lambda: connection, "counted", owns_connection=True)
    try:
        store.read_state()  # connected, the tables looked at: what follows is the lock alone
        ok(project.run("-q"))  # the lock table exists, as on every run but the first
        store._catalog = None
        lock = RowLock(store)
        me = LockHolder("tester@here:1", "here", 1, "2026-11-28T00:00:00+00:00")
        proxy.reset()
        assert lock.try_acquire(me) is None
        taken = proxy.reset()
        lock.release(me)
        released = proxy.reset()
    finally:
        store.close()
    # Take: the catalog (which the run's later checks reuse), then the insert, which is a
    # transaction of its own in autocommit mode and inserts nothing if the row is taken.
    # Release: the delete, the same way. One more for a reply split in two.
    assert taken <= 3 and released <= 2, (taken, released)
