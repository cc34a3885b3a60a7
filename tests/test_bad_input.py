"""A catalogue of bad input (SPEC 2-5 and 7): one table, one test.

Each case writes some bad input into a real project, runs the CLI once, and the one test
checks what SPEC 5 and 7 promise for every kind of bad input: the exit status (2 unless the
case says otherwise), a message on stderr that starts with ``link-migration: error:`` (or,
where the contract is a warning and exit 0, contains ``link-migration: warning:``) and names the
problem and where it is (file, line, value, setting), no Python traceback, no change to the
store (the version file, every row of every table of the SQLite database, the user-function
store's file) and no migration run, unless the case says one runs.

Fragments may use ``{conf}``, ``{root}``, ``{migrations}``, ``{database}``, ``{host}`` and
``{pid}``, filled in from the project after the case's setup.
"""
from __future__ import annotations

import errno
import os
import socket
import sqlite3
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import pytest


# ---------------------------------------------------------------- helpers for setups

FILE_STORE = 'VERSION_FILE = "version.txt"\n'
SQLITE_STORE = 'DATABASE = "app.db"\n'

# The user-function store keeps its version in state.txt beside conf.py. Line numbers of conf.py
# count the "MIGRATIONS_DIR = 'migrations'" line that write_conf puts first.
FUNCTIONS_STORE = """\
import os
STATE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "state.txt")
def get_current_version():
    {get}
def set_current_version(version):
    {set}
"""
GET_LINE = 5  # line of conf.py holding get_current_version's body
SET_LINE = 7  # line of conf.py holding set_current_version's body


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(textwrap.dedent(text))
    return path


def functions_conf(project, get: str = "return None", set_: str = "open(STATE, 'w').write(str(version))") -> None:
    project.write_conf(FUNCTIONS_STORE.format(get=get, set=set_))
    (project.root / "state.txt").write_text("untouched\n")


def sqlite_project(project) -> None:
    project.write_conf(SQLITE_STORE)
    project.database = project.root / "app.db"


def applied(project, *versions: int) -> None:
    """Add migrations ``versions`` and apply them with a real run, before the case's run."""
    for version in versions:
        project.add_migration(version)
    result = project.run()
    assert result.status == 0, result.err


def good_and_bad(project, bad_source: str, name: str = "m2.py") -> None:
    """A good migration 1 and a bad one beside it: the bad one must stop the run before 1 runs."""
    project.add_migration(1)
    write(project.migrations / name, bad_source)


# ---------------------------------------------------------------- the cases


@dataclass
class Case:
    id: str
    setup: Callable[[Any], None]
    argv: tuple[str, ...] = ()
    fragments: tuple[str, ...] = ()
    status: int = 2
    # "error": stderr starts with the error; "warning": it holds a warning and no error;
    # "error-after-wait": the error follows the "waiting for the lock" line SPEC 7 asks for;
    # None: no error (and no warning required).
    stream: Optional[str] = "error"
    stdout: tuple[str, ...] = ()  # fragments that must be on stdout
    ran: tuple[str, ...] = ()  # log lines the run adds (migrations that run)
    user_traceback: bool = False  # a traceback of the user's own frames is allowed
    runner: str = "inprocess"  # "inprocess", "subprocess", "readonly"
    conf: bool = True  # pass -c {conf}


# -- conf.py


def conf_missing(project):
    project.add_migration(1)
    project.conf.unlink()


def conf_symlink_loop(project):
    project.add_migration(1)
    project.conf.unlink()
    project.conf.symlink_to(project.conf.name)  # conf.py -> conf.py: no read can succeed


def conf_invalid_utf8(project):
    project.add_migration(1)
    write(project.conf, FILE_STORE.encode() + b"NAME = '\xff\xfe caf\xe9'\n")  # line 2


def conf_syntax_error(project):
    project.add_migration(1)
    project.write_conf(FILE_STORE + "x = 1\ndef broken(:\n    pass\n")  # line 4


def conf_raises(project):
    project.add_migration(1)
    project.write_conf(FILE_STORE + "x = 1\nraise RuntimeError('conf exploded')\n")  # line 4


def conf_imports_missing(project):
    project.add_migration(1)
    project.write_conf(FILE_STORE + "import os\nimport no_such_module_lm_bad\n")  # line 4


def conf_c_folder(project):
    project.add_migration(1)


def conf_dotted_missing(project):
    project.add_migration(1)
    project.conf.unlink()
    write(project.root / "lm_conf_pkg" / "__init__.py", "")


def conf_no_store(project):
    project.add_migration(1)
    project.write_conf("ROOT_DIR = '.'\n")


# -- MIGRATIONS_DIR


def migrations_dir_missing(project):
    project.write_conf(FILE_STORE, migrations_dir="no_such_migrations_dir")


def migrations_dir_file(project):
    write(project.root / "notes.txt", "not a folder\n")
    project.write_conf(FILE_STORE, migrations_dir="notes.txt")


def migrations_dir_bad_package(project):
    # A dotted name (no folder of that name exists), so it is imported, and its parent raises.
    write(project.root / "lm_broken_pkg" / "__init__.py", "X = 1\nraise RuntimeError('package is broken')\n")
    write(project.root / "lm_broken_pkg" / "migs" / "__init__.py", "")
    project.migrations = project.root / "lm_broken_pkg" / "migs"
    project.add_migration(1)
    project.write_conf(FILE_STORE, migrations_dir="lm_broken_pkg.migs")


def migrations_dir_empty(project):
    pass  # conftest's migrations/ folder, with nothing in it


# -- the store


def store_only_get(project):
    project.add_migration(1)
    project.write_conf("def get_current_version():\n    return 0\n")


def store_only_set(project):
    project.add_migration(1)
    project.write_conf("def set_current_version(version):\n    pass\n")


def store_two_builtin(project):
    project.add_migration(1)
    project.write_conf(SQLITE_STORE + FILE_STORE)
    project.database = project.root / "app.db"


def get_raises(project):
    project.add_migration(1)
    functions_conf(project, get="raise RuntimeError('store is down')")


def get_negative(project):
    project.add_migration(1)
    functions_conf(project, get="return -3")


def get_float(project):
    project.add_migration(1)
    functions_conf(project, get="return 1.5")


def get_text(project):
    project.add_migration(1)
    functions_conf(project, get="return 'abc'")


def set_raises(project):
    project.add_migration(1)
    project.add_migration(2)
    functions_conf(project, set_="raise OSError('disk full')")


def version_file_garbage(project):
    project.add_migration(1)
    (project.root / "version.txt").write_text("two\n")


def version_newer_than_files(project):
    applied(project, 1, 2)
    (project.root / "version.txt").write_text("5\n")


# -- migrations

BAD_MIGRATIONS = {
    "syntax": "version = 2\n\ndef up(:\n    pass\n",  # line 3
    "raises": "version = 2\nimport os\nraise RuntimeError('import boom')\ndef up():\n    pass\n",  # line 3
    "no-up": "version = 2\n\ndef upp():\n    pass\n",
    "up-not-callable": "version = 2\n\nup = 'CREATE TABLE t (x)'\n",
    "up-two-params": "version = 2\n\ndef up(context, other):\n    pass\n",  # line 3
}


def migration(kind: str) -> Callable[[Any], None]:
    def setup(project):
        good_and_bad(project, BAD_MIGRATIONS[kind])
    setup.__name__ = f"migration_{kind}"
    return setup


def migration_no_down(project):
    project.add_migration(1)
    project.add_migration(2, down=None)
    result = project.run()
    assert result.status == 0, result.err


def bad_version(expr: str) -> Callable[[Any], None]:
    def setup(project):
        # version on line 3
        good_and_bad(project, f'"""Bad version."""\n\nversion = {expr}\n\ndef up():\n    pass\n', "bad.py")
    return setup


def version_duplicated(project):
    project.add_migration(1)
    project.add_migration(2, name="a_first.py")
    project.add_migration(2, name="b_second.py")


def version_missing(project):
    applied(project, 1)
    write(
        project.migrations / "helpers.py",
        f"with open({str(project.log_path)!r}, 'a') as log:\n    log.write('helpers executed\\n')\n"
        "def up():\n    pass\n",
    )


# -- the command line


def three(project):
    for version in (1, 2, 3):
        project.add_migration(version)


def ten_and_twenty(project):
    project.add_migration(10)
    project.add_migration(20)


def two_of_three_applied(project):
    three(project)
    result = project.run("--to", "2")
    assert result.status == 0, result.err


# -- SQLite


def database_folder_missing(project):
    project.add_migration(1)
    project.write_conf('DATABASE = "no_such_folder/app.db"\n')
    project.database = project.root / "no_such_folder" / "app.db"


def database_not_sqlite(project):
    project.add_migration(1)
    sqlite_project(project)
    write(project.database, "id,name\n1,not a database\n")


def database_history_columns(project):
    project.add_migration(1)
    sqlite_project(project)
    with sqlite3.connect(project.database) as connection:
        connection.execute("CREATE TABLE link_migration_history (id INTEGER PRIMARY KEY, name TEXT)")
        connection.execute("INSERT INTO link_migration_history VALUES (7, 'someone else''s table')")
    connection.close()


def lock_held(project):
    sqlite_project(project)
    applied(project, 1)  # creates the lock table
    project.add_migration(2)
    with sqlite3.connect(project.database) as connection:
        connection.execute(
            "INSERT INTO link_migration_lock (id, owner, host, pid, since) VALUES (1, ?, ?, ?, ?)",
            (f"tester@{socket.gethostname()}:{os.getpid()}", socket.gethostname(), os.getpid(),
             "2026-11-26T00:00:00+00:00"),
        )
    connection.close()


def database_read_only(project):
    """An existing app.db (migration 1 applied) that cannot be written, migration 2 pending.

    File modes do not stop root, so as root the file is made immutable (chattr +i), which
    does; otherwise it is made 0444 in a 0555 folder."""
    sqlite_project(project)
    applied(project, 1)
    project.add_migration(2)
    if os.geteuid() == 0:
        done = subprocess.run(["chattr", "+i", str(project.database)], capture_output=True, text=True)
        assert done.returncode == 0, f"chattr +i failed, so root could write the file: {done.stderr}"
        project.cleanups.append(lambda: subprocess.run(["chattr", "-i", str(project.database)]))
    else:
        os.chmod(project.database, 0o444)
        os.chmod(project.root, 0o555)
        project.cleanups.append(lambda: os.chmod(project.root, 0o755))


CASES = [
    # conf.py
    Case("conf-missing", conf_missing, fragments=("{conf}", "does not exist")),
    # The file is there, but reading it fails: the message must give the reason, not "missing".
    Case("conf-unreadable-symlink-loop", conf_symlink_loop, fragments=("{conf}", os.strerror(errno.ELOOP))),
    Case("conf-invalid-utf8", conf_invalid_utf8, fragments=("{conf}, line 2", "utf-8", "0xff")),
    Case("conf-syntax-error", conf_syntax_error, fragments=("{conf}, line 4",)),
    Case("conf-raises-on-import", conf_raises,
         fragments=("{conf}, line 4", "RuntimeError", "conf exploded")),
    Case("conf-imports-missing-module", conf_imports_missing,
         fragments=("{conf}, line 4", "no_such_module_lm_bad")),
    Case("conf-c-names-a-folder", conf_c_folder, argv=("-c", "{migrations}"), conf=False,
         fragments=("{migrations}", "folder")),
    Case("conf-dotted-name-not-importable", conf_dotted_missing, argv=("-c", "lm_conf_pkg.settings"),
         conf=False, fragments=("lm_conf_pkg.settings", "cannot be imported")),
    Case("conf-no-store", conf_no_store,
         fragments=("{conf}", "get_current_version", "get_connection", "DATABASE", "VERSION_FILE")),
    # MIGRATIONS_DIR
    Case("migrations-dir-missing", migrations_dir_missing,
         fragments=("MIGRATIONS_DIR", "no_such_migrations_dir", "{conf}")),
    Case("migrations-dir-is-a-file", migrations_dir_file,
         fragments=("MIGRATIONS_DIR", "notes.txt", "{conf}")),
    Case("migrations-dir-unimportable-package", migrations_dir_bad_package,
         fragments=("MIGRATIONS_DIR", "lm_broken_pkg.migs", "{conf}", "RuntimeError", "package is broken",
                    "{root}/lm_broken_pkg/__init__.py, line 2")),
    Case("migrations-dir-empty", migrations_dir_empty, status=0, stream=None, stdout=("No migrations",)),
    # the store
    Case("store-only-get-function", store_only_get, fragments=("{conf}", "set_current_version")),
    Case("store-only-set-function", store_only_set, fragments=("{conf}", "get_current_version")),
    Case("store-two-built-in-kinds", store_two_builtin,
         fragments=("{conf}", "more than one", "DATABASE", "VERSION_FILE")),
    Case("get-current-version-raises", get_raises,
         fragments=("get_current_version", "RuntimeError", "store is down", f"{{conf}}, line {GET_LINE}")),
    Case("get-current-version-negative", get_negative, fragments=("get_current_version", "conf.py", "-3")),
    Case("get-current-version-float", get_float, fragments=("get_current_version", "conf.py", "1.5")),
    Case("get-current-version-text", get_text, fragments=("get_current_version", "conf.py", "'abc'")),
    Case("set-current-version-raises", set_raises, status=1, ran=("up 1",),
         fragments=("{migrations}/m1.py", "ran", "recording version 1 failed", "set_current_version",
                    "OSError", "disk full", f"{{conf}}, line {SET_LINE}")),
    Case("version-file-garbage", version_file_garbage, fragments=("{root}/version.txt", "two")),
    Case("version-newer-than-every-file-up", version_newer_than_files, status=0, stream="warning",
         fragments=("version 5", "no migration file")),
    Case("version-newer-than-every-file-down", version_newer_than_files, argv=("--down", "2"),
         fragments=("roll back version 5", "no migration file")),
    # migrations
    Case("migration-syntax-error", migration("syntax"), fragments=("{migrations}/m2.py", "line 3")),
    Case("migration-raises-on-import", migration("raises"), user_traceback=True,
         fragments=("{migrations}/m2.py", "line 3", "RuntimeError", "import boom")),
    Case("migration-without-up", migration("no-up"), fragments=("{migrations}/m2.py", "no up()")),
    Case("migration-up-not-callable", migration("up-not-callable"),
         fragments=("{migrations}/m2.py", "up", "'CREATE TABLE t (x)'", "not a function")),
    Case("migration-up-two-required-parameters", migration("up-two-params"),
         fragments=("{migrations}/m2.py", "up(context, other)", "2 arguments")),
    Case("migration-without-down-rolling-back", migration_no_down, argv=("--down",),
         fragments=("{migrations}/m2.py", "no down()")),
    Case("version-not-an-integer", bad_version("'2'"), fragments=("{migrations}/bad.py", "line 3", "'2'")),
    Case("version-float", bad_version("2.5"), fragments=("{migrations}/bad.py", "line 3", "2.5")),
    Case("version-zero", bad_version("0"), fragments=("{migrations}/bad.py", "line 3", "0")),
    Case("version-negative", bad_version("-4"), fragments=("{migrations}/bad.py", "line 3", "-4")),
    Case("version-true", bad_version("True"), fragments=("{migrations}/bad.py", "line 3", "True")),
    Case("version-duplicated", version_duplicated,
         fragments=("{migrations}/a_first.py", "{migrations}/b_second.py", "version 2")),
    Case("version-missing-is-skipped", version_missing, status=0, stream="warning",
         fragments=("skipped {migrations}/helpers.py", "version")),
    # the command line
    Case("to-not-a-number", three, argv=("--to", "abc"), fragments=("--to", "'abc'")),
    Case("to-negative", three, argv=("--to=-1",), fragments=("--to", "-1")),
    Case("to-unknown-version", ten_and_twenty, argv=("--to", "15"), fragments=("--to 15", "10", "20")),
    Case("down-zero", three, argv=("--down", "0"), fragments=("--down", "0")),
    Case("down-more-than-applied", two_of_three_applied, argv=("--down", "3"),
         fragments=("--down 3", "more than is applied", "2")),
    Case("up-and-down-together", three, argv=("--up", "--down"), fragments=("--up", "--down")),
    # SQLite
    Case("database-folder-missing", database_folder_missing,
         fragments=("DATABASE", "{root}/no_such_folder")),
    Case("database-not-sqlite", database_not_sqlite, fragments=("DATABASE {database}", "not a SQLite database")),
    Case("database-read-only", database_read_only, fragments=("{database}", "readonly")),
    Case("database-history-table-unexpected-columns", database_history_columns,
         fragments=("{database}", "link_migration_history", "(id, name)")),
    Case("lock-held-past-timeout", lock_held, argv=("--lock-timeout", "0.2"), status=3,
         runner="subprocess", stream="error-after-wait", fragments=("held by tester@{host}:{pid}", "0.2 s")),
]


# ---------------------------------------------------------------- the snapshot of the store


def store_snapshot(project) -> dict[str, Any]:
    """Everything a store could hold: the version file, every row of every table of the SQLite
    database (or its bytes when it is not one), the user-function store's file."""
    version_file = project.root / "version.txt"
    state_file = project.root / "state.txt"
    database: Path = getattr(project, "database", project.root / "app.db")
    snapshot: dict[str, Any] = {
        "version.txt": version_file.read_bytes() if version_file.exists() else None,
        "state.txt": state_file.read_bytes() if state_file.exists() else None,
        "database folder exists": database.parent.exists(),
        "database": None,
    }
    if database.exists():
        snapshot["database"] = sqlite_rows(database)
    return snapshot


def sqlite_rows(database: Path) -> Any:
    try:
        connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
        try:
            tables = [name for (name,) in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
            rows = {"sqlite_master": sorted(map(repr, connection.execute("SELECT * FROM sqlite_master")))}
            for table in tables:
                rows[table] = sorted(map(repr, connection.execute(f'SELECT * FROM "{table}"')))
            return rows
        finally:
            connection.close()
    except sqlite3.DatabaseError:
        return ("not a database", database.read_bytes())


# ---------------------------------------------------------------- running


@dataclass
class Outcome:
    status: int
    out: str
    err: str


def run_subprocess(project, argv: list[str]) -> Outcome:
    env = {k: v for k, v in os.environ.items() if k != "LINK_MIGRATION_CONFIG"}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    done = subprocess.run(
        [sys.executable, "-m", "link_migration", *argv],
        cwd=project.root, env=env, capture_output=True, text=True, timeout=60,
    )
    return Outcome(done.returncode, done.stdout, done.stderr)


def run(project, case: Case, argv: list[str]) -> Outcome:
    full = (["-c", str(project.conf)] if case.conf else []) + argv
    if case.runner == "subprocess":
        return run_subprocess(project, full)
    result = project.run(*full, conf=False)
    return Outcome(result.status, result.out, result.err)


def traceback_frames(err: str) -> list[str]:
    return [line.strip() for line in err.splitlines() if line.strip().startswith('File "')]


# ---------------------------------------------------------------- the test


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input(project, case: Case) -> None:
    project.cleanups = []
    try:
        case.setup(project)
        places = {
            "conf": str(project.conf),
            "root": str(project.root),
            "migrations": str(project.migrations),
            "database": str(getattr(project, "database", project.root / "app.db")),
            "host": socket.gethostname(),
            "pid": str(os.getpid()),
        }
        argv = [arg.format(**places) for arg in case.argv]
        fragments = [fragment.format(**places) for fragment in case.fragments]
        before, log_before = store_snapshot(project), project.log()

        result = run(project, case, argv)

        report = f"status {result.status}\n--- stdout:\n{result.out}--- stderr:\n{result.err}"
        assert result.status == case.status, report
        if case.stream == "error":
            assert result.err.startswith("link-migration: error:"), report
        elif case.stream == "error-after-wait":
            first, _, rest = result.err.partition("\n")
            assert first.startswith("link-migration: waiting for the lock"), report
            assert rest.startswith("link-migration: error:"), report
        elif case.stream == "warning":
            assert "link-migration: warning:" in result.err, report
            assert "link-migration: error:" not in result.err, report
        else:
            assert "link-migration: error:" not in result.err, report
        for fragment in fragments:
            assert fragment in result.err, f"{fragment!r} not in stderr\n{report}"
        for fragment in case.stdout:
            assert fragment in result.out, f"{fragment!r} not on stdout\n{report}"
        if case.user_traceback:
            # Only the user's own frames: nothing of link_migration, importlib or runpy.
            for frame in traceback_frames(result.err):
                assert frame.startswith(f'File "{project.root}'), f"not the user's frame: {frame}\n{report}"
        else:
            assert "Traceback" not in result.err, report
            assert not traceback_frames(result.err), report
        assert store_snapshot(project) == before, f"the store changed\n{report}"
        assert project.log() == log_before + list(case.ran), f"migrations ran\n{report}"
    finally:
        for cleanup in reversed(project.cleanups):
            cleanup()
