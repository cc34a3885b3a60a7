"""MigrationContext.execute() and execute_script(): what reaches the driver, how a failure reads."""
from __future__ import annotations

import importlib
import sqlite3
import textwrap
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pytest

from link_migration.context import MigrationContext
from link_migration.discovery import Migration

if TYPE_CHECKING:
    from conftest import Project
    from servers import Database

# A DB-API driver whose paramstyle is pyformat, over sqlite3 so that no server is needed. Like
# psycopg and PyMySQL, it reads "%" as a placeholder whenever parameters come with the SQL,
# an empty tuple included, and then a "%" that is not %s, %(name)s or %% is an error.
PYFORMAT_DRIVER = '''
import re
import sqlite3

paramstyle = "pyformat"


class ProgrammingError(Exception):
    pass


_PLACEHOLDER = re.compile(r"%(?:\\((\\w+)\\))?(.|$)", re.DOTALL)


def _to_sqlite(sql):
    def replace(match):
        name, kind = match.groups()
        if kind == "%" and name is None:
            return "%"
        if kind != "s":
            raise ProgrammingError("unsupported format character %r" % kind)
        return ":" + name if name else "?"
    return _PLACEHOLDER.sub(replace, sql)


def connect(path):
    return Connection(sqlite3.connect(path))


class Connection:
    def __init__(self, raw):
        self.raw = raw

    def cursor(self):
        return Cursor(self.raw)

    def commit(self):
        self.raw.commit()

    def rollback(self):
        self.raw.rollback()

    def close(self):
        self.raw.close()


class Cursor:
    def __init__(self, raw):
        self.raw = raw
        self.inner = None
        self.description = None

    def execute(self, sql, parameters=None):
        if parameters is None:
            self.inner = self.raw.execute(sql)
        else:
            self.inner = self.raw.execute(_to_sqlite(sql), parameters)
        self.description = self.inner.description
        return self

    def fetchone(self):
        return self.inner.fetchone()

    def fetchall(self):
        return self.inner.fetchall()

    def fetchmany(self, size):
        return self.inner.fetchmany(size)

    def close(self):
        pass
'''

MIGRATION = Migration(version=1, folder=Path("migrations"), name="0001_test.py")


def _context(connection: Any) -> MigrationContext:
    return MigrationContext(
        config=ModuleType("conf"), version=1, direction="up", migration=MIGRATION, connection=connection
    )


@pytest.fixture
def pyformat_driver(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    (tmp_path / "pyformat_driver.py").write_text(PYFORMAT_DRIVER)
    monkeypatch.syspath_prepend(str(tmp_path))
    return importlib.import_module("pyformat_driver")


# --- execute() -------------------------------------------------------------------------------


def test_the_driver_reads_every_percent_once_parameters_come(pyformat_driver: ModuleType) -> None:
    """What execute() used to do (pass an empty tuple) fails on such a driver."""
    cursor = pyformat_driver.connect(":memory:").cursor()
    with pytest.raises(pyformat_driver.ProgrammingError, match="unsupported format character"):
        cursor.execute("SELECT 'a%' LIKE 'a%'", ())


def test_execute_without_parameters_sends_the_sql_alone(pyformat_driver: ModuleType) -> None:
    context = _context(pyformat_driver.connect(":memory:"))
    assert context.execute("SELECT 'abc' LIKE 'a%', '100%'").fetchone() == (1, "100%")


def test_execute_with_parameters_passes_them(pyformat_driver: ModuleType) -> None:
    context = _context(pyformat_driver.connect(":memory:"))
    assert context.execute("SELECT %s || '%%'", ("a",)).fetchone() == ("a%",)
    assert context.execute("SELECT %(n)s + 1", {"n": 2}).fetchone() == (3,)
    assert context.execute("SELECT 1", ()).fetchone() == (1,)  # given, so passed


def test_execute_on_sqlite3(tmp_path: Path) -> None:
    context = _context(sqlite3.connect(tmp_path / "app.db"))
    assert context.execute("SELECT '100%'").fetchone() == ("100%",)
    assert context.execute("SELECT ? + 1", (1,)).fetchone() == (2,)


def test_a_migration_with_percent_signs_runs_on_a_pyformat_driver(project: Project) -> None:
    (project.root / "pyformat_driver.py").write_text(PYFORMAT_DRIVER)
    project.write_conf("""\
        import os
        import pyformat_driver
        def get_connection():
            return pyformat_driver.connect(os.path.join(os.path.dirname(__file__), "app.db"))
        """)
    (project.migrations / "m1.py").write_text(textwrap.dedent("""\
        version = 1
        def up(context):
            context.execute("CREATE TABLE t (v TEXT)")
            context.execute("INSERT INTO t VALUES ('100%')")
            context.execute("INSERT INTO t VALUES (%s)", ("50%",))
            context.execute_script("INSERT INTO t SELECT v || '%' FROM t WHERE v LIKE '1%';")
        """))
    result = project.run()
    assert result.status == 0, result.err
    with sqlite3.connect(project.root / "app.db") as connection:
        assert connection.execute("SELECT v FROM t ORDER BY rowid").fetchall() == [
            ("100%",), ("50%",), ("100%%",)
        ]


# --- execute_script() ------------------------------------------------------------------------

FAILING_SCRIPT = """\
-- three statements, the third fails
CREATE TABLE t (x INTEGER);

INSERT INTO t VALUES (1);  /* a comment;
   over two lines */

INSERT INTO missing VALUES (2);
INSERT INTO t VALUES (3);
"""


def test_a_failing_statement_is_named_by_number_and_line(tmp_path: Path) -> None:
    connection = sqlite3.connect(tmp_path / "app.db")
    with pytest.raises(sqlite3.OperationalError) as caught:
        _context(connection).execute_script(FAILING_SCRIPT)
    assert type(caught.value) is sqlite3.OperationalError  # the driver's own, not a wrapper
    assert str(caught.value) == "no such table: missing, in statement 3 (line 7) of the script"
    assert connection.in_transaction  # the statements before it ran, in the transaction
    assert connection.execute("SELECT x FROM t").fetchall() == [(1,)]


def test_the_migration_can_still_catch_the_driver_s_exception(tmp_path: Path) -> None:
    context = _context(sqlite3.connect(tmp_path / "app.db"))
    try:
        context.execute_script("CREATE TABLE t (x); CREATE TABLE t (x);")
    except sqlite3.OperationalError as error:
        assert "table t already exists" in str(error)
        assert "statement 2 (line 1)" in str(error)
    else:
        pytest.fail("no error")


def test_the_run_reports_the_statement_and_its_line(project: Project) -> None:
    project.write_conf('DATABASE = "app.db"\n')
    (project.migrations / "m1.py").write_text(
        f"version = 1\n\nSCRIPT = {FAILING_SCRIPT!r}\n\ndef up(context):\n    context.execute_script(SCRIPT)\n"
    )
    result = project.run()
    assert result.status == 1
    assert "failed: OperationalError: no such table: missing, in statement 3 (line 7) of the script" in result.err
    assert "context.execute_script(SCRIPT)" in result.err  # the user's traceback is still there
    with sqlite3.connect(project.root / "app.db") as connection:
        tables = connection.execute("SELECT name FROM sqlite_master WHERE name = 't'").fetchall()
    assert tables == []  # rolled back


class _Recorder:
    """A connection and its cursor in one, recording what execute() receives."""

    def __init__(self, error: BaseException | None = None, failing: int = 0) -> None:
        self.executed: list[tuple[Any, ...]] = []
        self.error = error
        self.failing = failing
        self.description: tuple[Any, ...] | None = None
        self.fetched: list[str] = []

    def cursor(self, **options: Any) -> _Recorder:
        return self  # mysql.connector's takes options (buffered=True): none change a thing here

    def execute(self, *arguments: Any) -> None:
        self.executed.append(arguments)
        if self.error is not None and len(self.executed) == self.failing:
            raise self.error
        self.description = (("x",),) if arguments[0].upper().startswith("SELECT") else None

    def fetchall(self) -> list[tuple[Any, ...]]:
        self.fetched.append(self.executed[-1][0])
        return []


def test_the_rows_of_each_statement_are_read_before_the_next_runs() -> None:
    """Unbuffered cursors (mysql.connector's) refuse a statement while rows are unread."""
    connection = _Recorder()
    _context(connection).execute_script("CREATE TABLE t (x); SELECT 1; INSERT INTO t VALUES (1); SELECT 2")
    assert connection.fetched == ["SELECT 1", "SELECT 2"]


def _connection_of(module: str, base: type = _Recorder) -> Any:
    """A connection whose class comes from ``module``, as a driver's would."""
    return type("Connection", (base,), {"__module__": module})()


FLAVOUR_SCRIPT = "SELECT $$;$$; SELECT [;]"
SPLITS = {
    "sqlite": ["SELECT $$", "$$", "SELECT [;]"],
    "postgresql": ["SELECT $$;$$", "SELECT [", "]"],
    "mysql": ["SELECT $$", "$$", "SELECT [", "]"],
    "generic": ["SELECT $$;$$", "SELECT [;]"],
}


@pytest.mark.parametrize(
    ("module", "flavour"),
    [
        ("sqlite3", "sqlite"),
        ("psycopg", "postgresql"),
        ("psycopg2.extensions", "postgresql"),
        ("pg8000.legacy", "postgresql"),
        ("pymysql.connections", "mysql"),
        ("MySQLdb.connections", "mysql"),
        ("mysql.connector.connection", "mysql"),
        ("mariadb.connections", "mysql"),
        ("psycopgx", "generic"),
        ("mysql.other", "generic"),
        ("myapp.db", "generic"),
    ],
)
def test_the_script_is_split_as_the_driver_s_database_reads_it(module: str, flavour: str) -> None:
    connection = _connection_of(module)
    _context(connection).execute_script(FLAVOUR_SCRIPT)
    assert connection.executed == [(text,) for text in SPLITS[flavour]]  # never a second argument


def test_a_subclass_of_a_driver_s_connection_counts_as_the_driver() -> None:
    psycopg_like = type("Connection", (_Recorder,), {"__module__": "psycopg"})
    connection = _connection_of("myapp.db", base=psycopg_like)
    _context(connection).execute_script(FLAVOUR_SCRIPT)
    assert connection.executed == [(text,) for text in SPLITS["postgresql"]]


def _failure(error: BaseException, failing: int = 2) -> BaseException:
    connection = _Recorder(error, failing)
    with pytest.raises(type(error)) as caught:
        _context(connection).execute_script("SELECT 1;\n\n  SELECT 2;\nSELECT 3")
    assert caught.value is error  # the very exception, re-raised
    return caught.value


def test_an_error_number_before_the_message_stays_where_it_is() -> None:
    """PyMySQL and MySQLdb: args are (errno, message); code tests args[0]."""
    error = _failure(Exception(1064, "You have an error in your SQL syntax"))
    assert error.args == (1064, "You have an error in your SQL syntax, in statement 2 (line 3) of the script")


def test_a_message_of_several_lines_gets_the_location_on_a_line_of_its_own() -> None:
    error = _failure(Exception('syntax error at or near "SELEC"\nLINE 1: SELEC 2\n        ^\n'))
    assert str(error) == (
        'syntax error at or near "SELEC"\nLINE 1: SELEC 2\n        ^\nin statement 2 (line 3) of the script'
    )


class _OwnMessage(Exception):
    """Like mysql.connector's errors: the message is not made from args."""

    def __init__(self, errno: int, msg: str) -> None:
        super().__init__(errno, f"{errno}: {msg}", None)
        self.msg = msg

    def __str__(self) -> str:
        return self.msg


def test_an_exception_whose_message_is_not_its_args_gets_a_note() -> None:
    error = _failure(_OwnMessage(1146, "Table 'db.missing' doesn't exist"))
    assert error.args == (1146, "1146: Table 'db.missing' doesn't exist", None)  # untouched
    assert str(error) == "Table 'db.missing' doesn't exist"
    assert error.__notes__ == ["in statement 2 (line 3) of the script"]  # type: ignore[attr-defined]


def test_an_exception_without_a_message_gets_a_note() -> None:
    error = _failure(RuntimeError(), failing=3)
    assert error.__notes__ == ["in statement 3 (line 4) of the script"]  # type: ignore[attr-defined]


def test_a_note_joins_the_notes_already_there() -> None:
    error = RuntimeError()
    error.__notes__ = ["from the driver"]  # type: ignore[attr-defined]
    _failure(error, failing=1)
    assert error.__notes__ == ["from the driver", "in statement 1 (line 1) of the script"]  # type: ignore[attr-defined]


def test_interruptions_pass_untouched() -> None:
    error = KeyboardInterrupt("stop")
    _failure(error)
    assert error.args == ("stop",)
    assert not hasattr(error, "__notes__")


# --- real databases (skipped where no server can start, see tests/servers.py) ----------------


def _location(error: BaseException) -> str:
    """Where the location went: the message, or a note when the message cannot carry it."""
    return str(error) + "\n" + "\n".join(getattr(error, "__notes__", []))


def test_percent_signs_on_every_driver(database: Database) -> None:
    context = _context(database.connect())
    context.execute("CREATE TABLE pct (v VARCHAR(10))")
    context.execute("INSERT INTO pct VALUES ('100%')")
    context.execute("INSERT INTO pct VALUES (%s)", ("50%",))
    rows = context.execute("SELECT v FROM pct WHERE v LIKE '1%' OR v LIKE '5%' ORDER BY v").fetchall()
    assert [tuple(row) for row in rows] == [("100%",), ("50%",)]


POSTGRESQL_SCRIPT = r"""
CREATE TABLE items (id int PRIMARY KEY, price int, note text);
CREATE FUNCTION touch() RETURNS trigger AS $$
BEGIN
    NEW.note := E'it\'s; touched';  -- a comment; with a quote '
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER touch BEFORE UPDATE ON items FOR EACH ROW EXECUTE FUNCTION touch();
/* a nested /* comment; */ with; semicolons */
DO $do$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM items) THEN
        INSERT INTO items VALUES (1, 10, 'it''s; new');
    END IF;
END
$do$;
CREATE FUNCTION one() RETURNS int LANGUAGE sql
BEGIN ATOMIC
    SELECT 0;
    SELECT CASE WHEN true THEN 1 END;
END;
UPDATE items SET price = one() + 10 WHERE note LIKE 'it%';
"""


def test_a_postgresql_script_runs_statement_by_statement(postgresql_database: Database) -> None:
    connection = postgresql_database.connect()
    context = _context(connection)
    context.execute_script(POSTGRESQL_SCRIPT)
    assert [tuple(row) for row in context.execute("SELECT price, note FROM items").fetchall()] == [
        (11, "it's; touched")
    ]
    with pytest.raises(Exception) as caught:
        context.execute_script("SELECT 1;\n\nSELECT * FROM missing;")
    assert type(caught.value).__module__.split(".")[0] == postgresql_database.driver.split(".")[0]
    assert 'relation "missing" does not exist' in str(caught.value)
    assert "statement 2 (line 3) of the script" in _location(caught.value)


MARIADB_SCRIPT = r"""
CREATE TABLE t (i INT, v TEXT);
CREATE TABLE audit (v TEXT);
CREATE TRIGGER t_audit AFTER INSERT ON t FOR EACH ROW
BEGIN
    IF NEW.i = 0 THEN
        INSERT INTO audit VALUES (CONCAT('zero; ', NEW.v));
    END IF;
END;
CREATE PROCEDURE fill(IN n INT)
BEGIN
    DECLARE i INT DEFAULT 0;
    WHILE i < n DO
        IF i % 2 = 0 THEN
            INSERT INTO t VALUES (i, 'even; \'yes\'');  # a comment; here
        ELSE
            BEGIN
                INSERT INTO t VALUES (i, IF(i > 2, "big; \"odd\"", REPEAT('x', i)));
            END;
        END IF;
        SET i = i + 1;
    END WHILE;
    CASE n
        WHEN 0 THEN INSERT INTO t VALUES (-1, 'none');
        ELSE INSERT INTO t VALUES (-1, CASE WHEN n > 3 THEN 'many; ' ELSE 'few' END);
    END CASE;
    lbl: LOOP
        LEAVE lbl;
    END LOOP lbl;
    REPEAT SET i = i - 1; UNTIL i <= 0 END REPEAT;
END;
CALL fill(4);
"""


def test_a_mariadb_script_runs_statement_by_statement(mariadb_database: Database) -> None:
    context = _context(mariadb_database.connect())
    context.execute_script(MARIADB_SCRIPT)
    rows = context.execute("SELECT i, v FROM t ORDER BY i").fetchall()
    assert [tuple(row) for row in rows] == [
        (-1, "many; "), (0, "even; 'yes'"), (1, "x"), (2, "even; 'yes'"), (3, 'big; "odd"'),
    ]
    assert [tuple(row) for row in context.execute("SELECT v FROM audit").fetchall()] == [
        ("zero; even; 'yes'",)
    ]
    with pytest.raises(Exception) as caught:  # the rows of SELECT 1 must not be in the way
        context.execute_script("SELECT 1;\n\nSELECT * FROM missing;")
    assert type(caught.value).__module__.split(".")[0] == mariadb_database.driver.split(".")[0]
    assert "missing' doesn't exist" in str(caught.value)
    assert "statement 2 (line 3) of the script" in _location(caught.value)
