"""The SQL store on real servers: PostgreSQL (psycopg, pg8000) and MariaDB (PyMySQL,
mysql-connector), each test on a fresh database of a throwaway server (tests/servers.py)."""
from __future__ import annotations

import contextlib
import dataclasses
import json
import socket
import threading
import textwrap

import pytest

from checks import assert_error, ok

TIMESTAMP_VERSION = 20261127193000  # over 2**31: needs a 64-bit column


def _use(project, database, extra: str = "") -> None:
    project.write_conf(database.connect_code + textwrap.dedent(extra))


def _migration(project, version: int, up: str, down: str = "pass", *, extra: str = "") -> None:
    (project.migrations / f"m{version}.py").write_text(
        f'"""Migration {version}."""\nversion = {version}\n{textwrap.dedent(extra)}\n'
        f"def up(context):\n{textwrap.indent(textwrap.dedent(up), '    ')}\n"
        f"def down(context):\n{textwrap.indent(textwrap.dedent(down), '    ')}\n"
    )


def _failed(result, *needles: str) -> None:
    """A migration failed: status 1, and every needle in what the run said."""
    assert result.status == 1, (result.status, result.out, result.err)
    for needle in needles:
        assert needle in result.err, (needle, result.err)


def _tables(database) -> set[str]:
    schema = "current_schema()" if database.kind == "postgresql" else "DATABASE()"
    return {
        name for (name,) in database.query(
            f"SELECT table_name FROM information_schema.tables WHERE table_schema = {schema}"
        )
    }


def _history(database) -> list[int]:
    return [int(v) for (v,) in database.query(
        "SELECT version FROM link_migration_history ORDER BY version")]


def _log(database) -> list[tuple[int, str]]:
    return [(int(v), op) for v, op in database.query(
        "SELECT version, operation FROM link_migration_log ORDER BY seq")]


def test_apply_roll_back_status_and_history(project, database):
    _use(project, database)
    _migration(project, 1, "context.execute('CREATE TABLE a (x INTEGER)')",
               "context.execute('DROP TABLE a')")
    _migration(project, 2, "context.execute('CREATE TABLE b (x INTEGER)')",
               "context.execute('DROP TABLE b')")
    ok(project.run())
    assert {"a", "b"} <= _tables(database)
    assert _history(database) == [1, 2]
    ok(project.run("--down"))
    assert "b" not in _tables(database)
    assert _history(database) == [1]
    assert _log(database) == [(1, "up"), (2, "up"), (2, "down")]

    status = project.run("status", "--json")
    ok(status)
    document = json.loads(status.out)
    assert [(m["version"], m["state"]) for m in document["migrations"]] == [
        (1, "applied"), (2, "pending")]
    history = project.run("history")
    ok(history)
    assert "down" in history.out and "m2.py" in history.out
    name = "PostgreSQL" if database.kind == "postgresql" else "MariaDB"
    assert f"Store: {name} {database.name} on" in history.out
    current = project.run("current")
    assert current.out == "1\n"


def test_the_store_names_the_server_and_database(project, database):
    _use(project, database)
    _migration(project, 1, "pass")
    result = project.run("status")
    ok(result)
    name = "PostgreSQL" if database.kind == "postgresql" else "MariaDB"
    assert f"{name} {database.name} on {database.host}:{database.port}" in result.out
    assert "get_connection()" not in result.out


def test_timestamp_versions_fit(project, database):
    _use(project, database)
    _migration(project, TIMESTAMP_VERSION, "context.execute('CREATE TABLE t (x INTEGER)')")
    ok(project.run())
    assert _history(database) == [TIMESTAMP_VERSION]
    assert project.run("current").out == f"{TIMESTAMP_VERSION}\n"
    ok(project.run("--down"))
    assert _log(database) == [(TIMESTAMP_VERSION, "up"), (TIMESTAMP_VERSION, "down")]


def test_format_1_tables_are_widened_once_with_a_log_entry(project, database):
    # The tables as earlier releases created them: 32-bit INTEGER versions, no format row.
    database.execute("CREATE TABLE link_migration_history (version INTEGER NOT NULL PRIMARY KEY, "
                     "file_name VARCHAR(255) NOT NULL, checksum VARCHAR(64), applied_at "
                     "VARCHAR(40) NOT NULL, duration REAL, applied_by VARCHAR(255) NOT NULL, "
                     "faked INTEGER NOT NULL)")
    database.execute("CREATE TABLE link_migration_log (seq INTEGER NOT NULL PRIMARY KEY, version "
                     "INTEGER NOT NULL, operation VARCHAR(16) NOT NULL, file_name VARCHAR(255) "
                     "NOT NULL, logged_at VARCHAR(40) NOT NULL, duration REAL, logged_by "
                     "VARCHAR(255) NOT NULL)")
    database.execute("INSERT INTO link_migration_history VALUES (1, 'm1.py', NULL, "
                     "'2026-01-01T00:00:00.000+00:00', 0.1, 'old@host', 0)")
    database.execute("INSERT INTO link_migration_log VALUES (1, 1, 'up', 'm1.py', "
                     "'2026-01-01T00:00:00.000+00:00', 0.1, 'old@host')")
    _use(project, database)
    _migration(project, 1, "raise AssertionError('applied already')")
    _migration(project, TIMESTAMP_VERSION, "pass")
    ok(project.run())
    assert _history(database) == [1, TIMESTAMP_VERSION]
    assert _log(database) == [(1, "up"), (0, "upgrade"), (TIMESTAMP_VERSION, "up")]
    ok(project.run("--down"))
    ok(project.run())
    assert [op for _, op in _log(database)].count("upgrade") == 1


def test_percent_signs_in_sql_without_parameters(project, database):
    _use(project, database)
    _migration(project, 1, """\
        context.execute("CREATE TABLE t (x VARCHAR(20))")
        context.execute("INSERT INTO t VALUES ('100%')")
        rows = context.execute("SELECT x FROM t WHERE x LIKE '1%'").fetchall()
        assert [tuple(row) for row in rows] == [('100%',)], rows
        context.execute("INSERT INTO t VALUES (%s)", ("with a parameter",))
        """)
    ok(project.run())
    assert sorted(x for (x,) in database.query("SELECT x FROM t")) == ["100%", "with a parameter"]


def _autocommit_on(database) -> str:
    """conf.py lines that turn the driver's autocommit on, as psycopg users often do."""
    switch = ("connection.autocommit(True)" if database.driver == "pymysql"
              else "connection.autocommit = True")
    return f"""
        _connect = get_connection
        def get_connection():
            connection = _connect()
            {switch}
            return connection
        """


def test_a_failing_migration_leaves_nothing_behind_on_postgresql(project, postgresql_database):
    database = postgresql_database
    _use(project, database)
    _migration(project, 1, "context.execute('CREATE TABLE a (x INTEGER)')")
    _migration(project, 2, """\
        context.execute('CREATE TABLE b (x INTEGER)')
        context.execute('INSERT INTO a VALUES (1)')
        raise RuntimeError('boom')
        """)
    result = project.run()
    _failed(result, "migration 2 (up)", "RuntimeError: boom", "its changes were rolled back")
    assert "nothing after it ran" not in result.err
    assert _history(database) == [1]
    assert "b" not in _tables(database)
    assert database.query("SELECT COUNT(*) FROM a") == [(0,)]


# conf.py lines that keep each connection get_connection() made, for a hook to look at.
_KEEP_CONNECTIONS = """
        _made = []
        _plain_connect = get_connection
        def get_connection():
            _made.append(_plain_connect())
            return _made[-1]
        """


def test_autocommit_on_does_not_lose_atomicity(project, postgresql_database):
    database = postgresql_database
    _use(project, database, _autocommit_on(database) + _KEEP_CONNECTIONS + f"""
        def after_run(summary):
            # The connection goes back to the mode it came in.
            if _made[-1].autocommit:
                open({str(project.root / "restored")!r}, "w").close()
        """)
    _migration(project, 1, """\
        context.execute('CREATE TABLE b (x INTEGER)')
        raise RuntimeError('boom')
        """)
    _failed(project.run(), "its changes were rolled back")
    assert "b" not in _tables(database)
    # ... and the connection is handed back in the mode it came in: a conf.py hook sees it.
    (project.migrations / "m1.py").unlink()
    _migration(project, 1, "context.execute('CREATE TABLE b (x INTEGER)')")
    ok(project.run())
    assert "b" in _tables(database)
    assert (project.root / "restored").exists()


def test_reads_in_autocommit_give_the_connection_back_as_it_came(project, postgresql_database):
    # The store reads in autocommit mode on PostgreSQL (no BEGIN and ROLLBACK around each
    # read: issue 17). A migration still runs in a transaction, and conf.py's connection,
    # which came with autocommit off, is given back with it off and no transaction open.
    database = postgresql_database
    _use(project, database, _KEEP_CONNECTIONS + f"""
        def after_run(summary):
            connection = _made[-1]
            idle = (connection.info.transaction_status == 0 if hasattr(connection, "info")
                    else not connection._in_transaction)
            with open({str(project.root / "modes")!r}, "a") as seen:
                seen.write(f"after {{connection.autocommit}} {{idle}}\\n")
        """)
    _migration(project, 1, f"""\
        with open({str(project.root / "modes")!r}, "a") as seen:
            seen.write(f"during {{context.connection.autocommit}}\\n")
        context.execute('CREATE TABLE b (x INTEGER)')
        """)
    ok(project.run())
    assert (project.root / "modes").read_text() == "during False\nafter False True\n"
    assert "b" in _tables(database) and _history(database) == [1]


def test_mariadb_says_that_ddl_of_a_failed_migration_may_be_in_place(project, mariadb_database):
    database = mariadb_database
    _use(project, database, _autocommit_on(database))
    _migration(project, 1, "context.execute('CREATE TABLE a (x INTEGER)')")
    _migration(project, 2, """\
        context.execute('INSERT INTO a VALUES (1)')
        context.execute('CREATE TABLE b (x INTEGER)')
        context.execute('INSERT INTO a VALUES (2)')
        raise RuntimeError('boom')
        """)
    result = project.run()
    _failed(result, "MariaDB commits each CREATE, ALTER, DROP", "with everything before it",
            "the rest may be in place", "RuntimeError: boom")
    assert "its changes were rolled back" not in result.err
    assert _history(database) == [1]
    assert "b" in _tables(database)  # what the message warned of
    assert database.query("SELECT x FROM a") == [(1,)]  # only the insert after the DDL undone


@pytest.mark.parametrize("how", ["commit()", "rollback()", "COMMIT statement",
                                 "rollback() and more", "commit() and more"])
def test_a_migration_that_ends_the_transaction_is_not_recorded(project, postgresql_database, how):
    database = postgresql_database
    _use(project, database)
    end = {"commit()": "context.connection.commit()",
           "rollback()": "context.connection.rollback()",
           "COMMIT statement": "context.execute('COMMIT')",
           # The driver opens a new transaction at the next statement: still found.
           "rollback() and more": "context.connection.rollback(); context.execute('SELECT 1')",
           "commit() and more": "context.connection.commit(); "
                                "context.execute('CREATE TABLE b (x INTEGER)')"}[how]
    _migration(project, 1, f"""\
        context.execute('CREATE TABLE a (x INTEGER)')
        {end}
        """)
    result = project.run()
    _failed(result, "migration 1 (up)", "was not recorded", "ended the store's transaction",
                 "The store holds version 0")
    assert _history(database) == []
    assert project.run("current").out == "0\n"


def test_statements_refused_inside_a_transaction_get_a_hint(project, postgresql_database):
    database = postgresql_database
    _use(project, database)
    _migration(project, 1, "context.execute('CREATE TABLE a (x INTEGER)')")
    _migration(project, 2, "context.execute('CREATE INDEX CONCURRENTLY a_x ON a (x)')")
    result = project.run()
    _failed(result, "cannot run inside a transaction block", "transactional = False")
    _migration(project, 2, "context.execute('CREATE INDEX CONCURRENTLY a_x ON a (x)')",
               extra="transactional = False")
    ok(project.run())
    assert database.query("SELECT indexname FROM pg_indexes WHERE indexname = 'a_x'") == [("a_x",)]
    assert _history(database) == [1, 2]


def test_a_history_that_cannot_be_read_is_an_error_not_version_0(project, postgresql_database):
    database = postgresql_database
    _use(project, database)
    _migration(project, 1, "context.execute('CREATE TABLE a (x INTEGER)')")
    ok(project.run())
    database.execute(f"DROP ROLE IF EXISTS nobody_{database.name}")
    database.execute(f"CREATE ROLE nobody_{database.name}")
    _use(project, database, f"""
        _connect = get_connection
        def get_connection():
            connection = _connect()
            connection.cursor().execute("SET ROLE nobody_{database.name}")
            connection.commit()
            return connection
        """)
    for command, table in ((["current"], "history"), (["status"], "history"),
                           ([], "lock")):  # a run reads its lock first
        result = project.run(*command)
        assert_error(result, f"permission denied for table link_migration_{table}")
        assert result.out == ""
    database.execute(f"SET ROLE NONE")
    assert _history(database) == [1]
    assert database.query("SELECT COUNT(*) FROM a") == [(0,)]


def test_search_path_changes_do_not_move_the_store(project, postgresql_database):
    database = postgresql_database
    _use(project, database)
    _migration(project, 1, """\
        context.execute('CREATE SCHEMA other')
        context.execute('SET search_path TO other')
        context.execute('CREATE TABLE a (x INTEGER)')
        """)
    _migration(project, 2, "context.execute('CREATE TABLE b (x INTEGER)')")
    ok(project.run())
    assert database.query(
        "SELECT table_schema FROM information_schema.tables WHERE table_name = "
        "'link_migration_history'") == [("public",)]
    assert _history(database) == [1, 2]
    assert database.query("SELECT table_schema FROM information_schema.tables "
                          "WHERE table_name = 'b'") == [("other",)]


def test_a_hand_edited_version_is_named(project, database):
    _use(project, database)
    _migration(project, 1, "pass")
    ok(project.run())
    text = "TEXT" if database.kind == "postgresql" else "VARCHAR(40)"
    database.execute(f"ALTER TABLE link_migration_history "
                     + (f"ALTER COLUMN version TYPE {text}" if database.kind == "postgresql"
                        else f"MODIFY version {text} NOT NULL"))
    database.execute("UPDATE link_migration_history SET version = 'one'")
    for command in (["current"], ["status"], []):
        assert_error(project.run(*command), "link_migration_history", "'one'")


def test_a_lock_row_with_a_pid_that_is_no_number_is_named(project, database):
    _use(project, database)
    _migration(project, 1, "pass")
    ok(project.run())
    database.execute("ALTER TABLE link_migration_lock "
                     + ("ALTER COLUMN pid TYPE TEXT" if database.kind == "postgresql"
                        else "MODIFY pid VARCHAR(20) NOT NULL"))
    database.execute("INSERT INTO link_migration_lock (id, owner, host, pid, since) VALUES (1, 'x@y:z', 'y', 'abc', 'now')")
    for command in (["unlock"], []):
        assert_error(project.run(*command), "link_migration_lock", "'abc'")


def test_tables_without_their_primary_keys_are_no_internal_error(project, database):
    _use(project, database)
    _migration(project, 1, "pass")
    _migration(project, 2, "pass")
    ok(project.run())
    for table in ("link_migration_history", "link_migration_log", "link_migration_lock"):
        database.execute(f"CREATE TABLE copy_of AS SELECT * FROM {table}")
        database.execute(f"DROP TABLE {table}")
        database.execute(f"ALTER TABLE copy_of RENAME TO {table}")
        if table != "link_migration_lock":
            database.execute(f"INSERT INTO {table} SELECT * FROM {table}")  # every row twice
    for command in (["status"], ["history"], ["current"], ["--down"], [], ["unlock"], ["check"]):
        result = project.run(*command)
        assert result.status in (0, 1, 2), (command, result)
        assert "internal error" not in result.err and "Traceback" not in result.err, result.err
    assert project.run("current").out == "2\n"


class _ReplyLosingProxy:
    """A TCP relay between a driver and the server that, once a statement mentioning
    ``arm-the-reply-loss`` has passed, lets the next COMMIT through, swallows the server's
    answer up to the commit's completion, and drops the connection: the commit happened, and
    the driver cannot know it."""

    ARM = b"arm-the-reply-loss"

    def __init__(self, host: str, port: int, completion: bytes) -> None:
        self._target = (host, port)
        self._completion = completion  # what the server's answer holds once it has committed
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.dropped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self._target)
            for end in (client, server):
                end.settimeout(30)  # a test that goes wrong fails, never hangs
            committing = threading.Event()
            threading.Thread(target=self._upstream, args=(client, server, committing),
                             daemon=True).start()
            threading.Thread(target=self._downstream, args=(server, client, committing),
                             daemon=True).start()

    def _upstream(self, client: socket.socket, server: socket.socket,
                  committing: threading.Event) -> None:
        armed = False
        while True:
            try:
                data = client.recv(65536)
                armed = armed or self.ARM in data
                if armed and b"commit" in data.lower():
                    committing.set()
                server.sendall(data)
            except OSError:
                return
            if not data:
                return

    def _downstream(self, server: socket.socket, client: socket.socket,
                    committing: threading.Event) -> None:
        while True:
            try:
                data = server.recv(65536)
                if committing.is_set() and self._completion in data:
                    break  # the server has committed: this answer is the one to lose
                client.sendall(data)
            except OSError:
                return
            if not data:
                return
        self.dropped.set()  # before the driver can see the connection go
        for end in (client, server):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()


def test_a_commit_whose_reply_is_lost_is_reported_as_uncertain(project, database):
    # PostgreSQL's CommandComplete carries the tag COMMIT; MySQL's answer is one OK packet.
    completion = b"COMMIT\x00" if database.kind == "postgresql" else b""
    proxy = _ReplyLosingProxy(database.host, database.port, completion)
    try:
        _use(project, dataclasses.replace(database, port=proxy.port))
        _migration(project, 1, "pass")
        _migration(project, 2, "context.execute(\"SELECT 'arm-the-reply-loss'\")")  # left unread
        result = project.run()
        assert proxy.dropped.is_set()
        _failed(result, "migration 2 (up)", "the store holds version 1 or 2",
                "link-migration status")
        assert "rolled back too" not in result.err
        assert _history(database) == [1, 2]  # it had committed: "or 2" was right
    finally:
        proxy.close()


def test_a_record_that_fails_names_the_store_once_and_says_what_was_undone(project, postgresql_database):
    database = postgresql_database
    _use(project, database)
    _migration(project, 1, "context.execute('CREATE TABLE a (x INTEGER)')")
    ok(project.run("--fake"))  # the tables exist; version 1 is recorded without running
    ok(project.run("--down", "--fake"))
    database.execute("CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
                     "$$ BEGIN RAISE EXCEPTION 'history is read-only today'; END $$")
    database.execute("CREATE TRIGGER no_history BEFORE INSERT ON link_migration_history "
                     "FOR EACH ROW EXECUTE FUNCTION refuse()")
    result = project.run()
    _failed(result, "migration 1 (up)", "ran, but recording version 1 failed",
            "history is read-only today", "its changes were rolled back too")
    assert result.err.count(f"PostgreSQL {database.name} on") == 1, result.err
    assert "a" not in _tables(database)


def test_a_failure_after_the_migration_committed_says_what_may_be_in_place(project, postgresql_database):
    database = postgresql_database
    _use(project, database)
    _migration(project, 1, """\
        context.execute('CREATE TABLE a (x INTEGER)')
        context.connection.commit()
        context.execute('CREATE TABLE b (x INTEGER)')
        raise RuntimeError('boom')
        """)
    result = project.run()
    _failed(result, "RuntimeError: boom", "it had ended the store's transaction itself",
            "may be in place")
    assert "its changes were rolled back" not in result.err
    assert "a" in _tables(database) and "b" not in _tables(database)
    assert _history(database) == []


def test_a_commit_the_server_refuses_is_rolled_back_not_uncertain(project, postgresql_database):
    database = postgresql_database
    _use(project, database)
    _migration(project, 1, """\
        context.execute('CREATE TABLE parent (id INTEGER PRIMARY KEY)')
        context.execute('CREATE TABLE child (parent_id INTEGER REFERENCES parent '
                        'DEFERRABLE INITIALLY DEFERRED)')
        context.execute('INSERT INTO child VALUES (7)')  # checked only at COMMIT
        """)
    result = project.run()
    _failed(result, "the commit failed", "violates foreign key constraint",
            "its changes were rolled back too")
    assert "or 1" not in result.err and "reply was lost" not in result.err
    assert "child" not in _tables(database)
    assert project.run("current").out == "0\n"


def test_a_record_keeps_quotes_and_backslashes_in_names(project, postgresql_database, monkeypatch):
    # psycopg and pg8000 send the record and COMMIT as one text without parameters (issue
    # 17): every value written into it must come back as it was.
    database = postgresql_database
    _use(project, database)
    monkeypatch.setenv("LOGNAME", "o'brien\\n\\'; DROP TABLE t; --")
    name = "001_it's_a\\back.sql"
    (project.migrations / name).write_text(
        "-- migrate:up\nCREATE TABLE t (x INTEGER);\n-- migrate:down\nDROP TABLE t;\n")
    ok(project.run())
    ok(project.run("--down"))
    by = "o'brien\\n\\'; DROP TABLE t; --@"
    logged = database.query("SELECT file_name, logged_by, operation FROM link_migration_log "
                            "ORDER BY seq")
    assert [(file, who.startswith(by), operation) for file, who, operation in logged] == [
        (name, True, "up"), (name, True, "down")], logged
    ok(project.run())
    assert [(file, who.startswith(by)) for file, who in database.query(
        "SELECT file_name, applied_by FROM link_migration_history")] == [(name, True)]


def test_a_migration_runs_at_the_isolation_level_the_connection_asks_for(project, postgresql_database):
    # The step's BEGIN is sent by the store, not by psycopg (issue 17): it must still say what
    # psycopg's own would have said.
    database = postgresql_database
    if database.driver != "psycopg":
        setting = ""  # pg8000 has no such setting of its own: its BEGIN is a plain one
    else:
        setting = """
            _plain = get_connection
            def get_connection():
                import psycopg
                connection = _plain()
                connection.isolation_level = psycopg.IsolationLevel.SERIALIZABLE
                connection.deferrable = True
                return connection
            """
    _use(project, database, setting)
    _migration(project, 1, """\
        context.execute('CREATE TABLE seen (level TEXT, deferred TEXT)')
        context.execute("INSERT INTO seen SELECT current_setting('transaction_isolation'), "
                        "current_setting('transaction_deferrable')")
        """)
    ok(project.run())
    expected = ("serializable", "on") if setting else ("read committed", "off")
    assert [tuple(row) for row in database.query("SELECT level, deferred FROM seen")] == [expected]


def test_a_lock_row_that_cannot_be_inserted_nor_seen_is_an_error_not_a_wait(project, postgresql_database):
    # The lock is taken by an insert that inserts nothing where a key is taken (issue 17):
    # a key taken by a row that is not the lock's must end in an error, not in a loop.
    database = postgresql_database
    _use(project, database)
    _migration(project, 1, "context.execute('CREATE TABLE a (x INTEGER)')")
    ok(project.run("--fake"))  # the tables exist
    ok(project.run("--down", "--fake"))
    database.execute("CREATE UNIQUE INDEX only_one ON link_migration_lock ((true)) WHERE id <> 0")
    database.execute("INSERT INTO link_migration_lock (id, owner, host, pid, since) "
                     "VALUES (7, 'someone', 'elsewhere', 1, '2026-01-01')")
    result = project.run()
    assert result.status == 2, result
    assert "cannot take the lock in table link_migration_lock" in result.err, result.err
    assert "a" not in _tables(database) and _history(database) == []


def test_a_user_without_a_usable_schema_is_an_error_not_version_0(project, postgresql_database):
    database = postgresql_database
    _use(project, database)
    _migration(project, 1, "context.execute('CREATE TABLE a (x INTEGER)')")
    ok(project.run())
    role = f"outsider_{database.name}"
    database.execute(f"CREATE ROLE {role}")
    database.execute("REVOKE ALL ON SCHEMA public FROM PUBLIC")
    _use(project, database, f"""
        _connect = get_connection
        def get_connection():
            connection = _connect()
            connection.cursor().execute("SET ROLE {role}")
            connection.commit()
            return connection
        """)
    for command in (["current"], ["status"], []):
        result = project.run(*command)
        assert_error(result, "no current schema", "USAGE")
        assert result.out == ""
