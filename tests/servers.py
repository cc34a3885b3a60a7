"""Throwaway PostgreSQL and MariaDB servers for the test suite, and fresh databases on them.

Each server runs once per test session, from a temporary folder, on a free 127.0.0.1 port,
tuned for speed rather than durability (its data is thrown away). A server is stopped when the
session ends whatever happens: the session fixture's finalizer, an ``atexit`` hook, and on Linux
a parent-death signal, so that even a ``kill -9`` of pytest does not leave one running.

This module knows nothing of pytest; ``conftest.py`` turns its two exceptions into a skip or a
failure: ``ServerNotFound`` (nothing installed: skip, or fail when servers are required) and
``ServerStartError`` (installed but broken: always a failure, with the server's log tail).
"""
from __future__ import annotations

import atexit
import ctypes
import importlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

USER = "lm"
HOST = "127.0.0.1"
REQUIRE_ENV = "LINK_MIGRATION_REQUIRE_SERVERS"
TIMEOUT_ENV = "LINK_MIGRATION_SERVER_TIMEOUT"
TMPDIR_ENV = "LINK_MIGRATION_SERVER_TMPDIR"

# driver import name -> (server kind, what pip installs it as)
DRIVERS = {
    "psycopg": ("postgresql", "psycopg[binary]"),
    "pg8000": ("postgresql", "pg8000"),
    "pymysql": ("mariadb", "PyMySQL"),
    "mysql.connector": ("mariadb", "mysql-connector-python"),
}
# The pytest ids of the drivers (a dot in an id is awkward on the command line).
DRIVER_IDS = {"psycopg": "psycopg", "pg8000": "pg8000", "pymysql": "pymysql", "mysql.connector": "mysql-connector"}

_SERVER_NAMES = {"postgresql": "PostgreSQL", "mariadb": "MariaDB"}
_APT_PACKAGES = {"postgresql": "postgresql", "mariadb": "mariadb-server"}


class ServerNotFound(Exception):
    """The server's programs are not installed: the tests that need it cannot run here."""


class ServerStartError(Exception):
    """The server is installed but did not start: a real failure, never a reason to skip."""


def servers_required() -> bool:
    """Whether a missing server or driver must fail the tests (CI) rather than skip them."""
    return os.environ.get(REQUIRE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def missing_driver(driver: str) -> Optional[str]:
    """The one-line reason a driver cannot be used, or None when it imports."""
    try:
        importlib.import_module(driver)
    except ImportError:
        return f"driver {driver} not installed ({DRIVERS[driver][1]}): pip install -e '.[test]'"
    return None


# --- finding the programs -------------------------------------------------------------------

_SYSTEM_DIRS = ("/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin", "/sbin", "/bin")


def _find_program(*names: str) -> Optional[Path]:
    """The first of ``names`` on PATH or in the usual system folders (sbin is often not on PATH)."""
    for name in names:
        found = shutil.which(name)
        if found:
            return Path(found)
    for name in names:
        for folder in _SYSTEM_DIRS:
            candidate = Path(folder) / name
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return candidate
    return None


def _version_key(path: Path) -> tuple[int, ...]:
    """Sort key of /usr/lib/postgresql/<version>/bin by its version number ("9.6" < "15")."""
    return tuple(int(part) for part in re.findall(r"\d+", path.parent.name))


def find_postgresql_bin() -> Optional[Path]:
    """The folder holding initdb and postgres: PATH first, then Debian's newest version."""
    candidates = []
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).resolve().parent)
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version_key, reverse=True)
    candidates += [Path("/usr/local/pgsql/bin"), Path("/usr/pgsql/bin")]
    for folder in candidates:
        if all((folder / name).is_file() for name in ("initdb", "postgres")):
            return folder
    return None


def find_mariadb() -> Optional[tuple[Path, Path]]:
    """(server, installer): mariadbd (or mysqld) and mariadb-install-db (or mysql_install_db)."""
    server = _find_program("mariadbd", "mysqld")
    installer = _find_program("mariadb-install-db", "mysql_install_db")
    return (server, installer) if server and installer else None


def _not_found(kind: str) -> ServerNotFound:
    """The one-line reason a server is missing, saying what to install."""
    return ServerNotFound(
        f"{_SERVER_NAMES[kind]} server not found: install it (apt-get install {_APT_PACKAGES[kind]}) "
        "to run these tests"
    )


# --- running as an unprivileged user ---------------------------------------------------------


@dataclass
class _Account:
    """Who the server runs as: PostgreSQL refuses root, so root hands it to another user."""

    uid: int
    gid: int
    name: str

    @property
    def is_current(self) -> bool:
        """Whether this is who we already are (then no change of user, and no chown)."""
        return self.uid == os.geteuid()


def _postgresql_account() -> _Account:
    """The current user, or when root the ``postgres`` system user, else ``nobody``."""
    if os.geteuid() != 0:
        return _Account(os.geteuid(), os.getegid(), "current user")
    import pwd

    for name in ("postgres", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return _Account(entry.pw_uid, entry.pw_gid, name)
    raise ServerStartError("running as root, and neither a 'postgres' nor a 'nobody' user exists to run PostgreSQL")


def _load_prctl() -> Optional[Callable[..., int]]:
    """libc's prctl, loaded before any fork (loading a library in a forked child is unsafe)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _load_prctl()
_PR_SET_PDEATHSIG = 1


def _child_setup(account: _Account, parent: int) -> Callable[[], None]:
    """What the child runs before exec: drop to ``account``, and die with its parent.

    The parent-death signal is set after the change of user, which would clear it. It fires when
    the thread that started the server ends: the fixtures start servers from pytest's main thread.
    """

    def setup() -> None:
        if not account.is_current:
            os.setgroups([account.gid])
            os.setgid(account.gid)
            os.setuid(account.uid)
        if _PRCTL is not None:
            _PRCTL(_PR_SET_PDEATHSIG, signal.SIGKILL)
            if os.getppid() != parent:  # the parent died before the line above
                os._exit(1)

    return setup


def _base_folder(account: _Account) -> str:
    """Where the servers' temporary folders go.

    LINK_MIGRATION_SERVER_TMPDIR if set; else /dev/shm when it is a roomy tmpfs (creating a
    PostgreSQL database there takes a third of the time it takes on disk; a container's default
    64 MB /dev/shm is too small, so it needs 1 GiB free); else the usual temporary folder, or
    /tmp when another user must reach it (TMPDIR may be a folder only root can enter) or when
    TMPDIR is too long for a unix socket path (about 100 bytes at most).
    """
    chosen = os.environ.get(TMPDIR_ENV)
    if chosen:
        return chosen
    try:
        stats = os.statvfs("/dev/shm")
        if stats.f_bavail * stats.f_frsize >= 1 << 30 and os.access("/dev/shm", os.W_OK | os.X_OK):
            return "/dev/shm"
    except OSError:
        pass
    base = tempfile.gettempdir()
    if (not account.is_current or len(base) > 60) and os.path.isdir("/tmp"):
        return "/tmp"
    return base


_OWNER_FILE = "owner.pid"


def _make_folder(kind: str, account: _Account) -> Path:
    """A private temporary folder the server's user owns, marked with the pid of this process."""
    base = _base_folder(account)
    _sweep(base)
    folder = Path(tempfile.mkdtemp(prefix=f"lm-{kind}-", dir=base))
    (folder / _OWNER_FILE).write_text(str(os.getpid()))
    if not account.is_current:
        os.chown(folder, account.uid, account.gid)
    return folder


def _sweep(base: str) -> None:
    """Remove the folders of earlier sessions that were killed (their servers died with them)."""
    for folder in Path(base).glob("lm-*-*"):
        try:
            owner = int((folder / _OWNER_FILE).read_text())
            os.kill(owner, 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except (OSError, ValueError):
            continue  # not ours, still being made, or its owner is alive under another user


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on now (a race remains; start() retries)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def _tail(path: Path, lines: int = 40, offset: int = 0) -> str:
    """The end of a log from ``offset`` (where the server's own output begins), for error messages."""
    try:
        with open(path, "rb") as log:
            log.seek(offset)
            text = log.read().decode(errors="replace")
    except OSError as error:
        return f"(no log: {error})"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def _timeout() -> float:
    """How long a server may take to accept connections (seconds)."""
    try:
        return float(os.environ.get(TIMEOUT_ENV, "30"))
    except ValueError:
        return 30.0


# --- the running server -----------------------------------------------------------------------


@dataclass(eq=False)
class Server:
    """A running throwaway server: where to reach it, and how to stop it."""

    kind: str  # "postgresql" or "mariadb"
    host: str
    port: int
    user: str
    folder: Path
    log_path: Path
    process: subprocess.Popen = field(repr=False)
    stop_signal: int = signal.SIGTERM
    startup_seconds: float = 0.0

    def stop(self) -> None:
        """Stop the server politely, then its whole process group by force; remove its folder."""
        _RUNNING[:] = [server for server in _RUNNING if server is not self]
        _stop_process(self.process, self.stop_signal)
        shutil.rmtree(self.folder, ignore_errors=True)


_RUNNING: list[Server] = []


def _stop_process(process: subprocess.Popen, polite: int, grace: float = 10.0) -> None:
    """Ask the process to stop, then SIGKILL its group while its leader is still unreaped.

    The group is killed only while the leader exists, so its id cannot belong to anyone else.
    (PostgreSQL's backends make their own sessions; they exit when the postmaster dies.)
    """
    if process.poll() is not None:
        return
    try:
        process.send_signal(polite)
        process.wait(grace)
        return
    except subprocess.TimeoutExpired:
        pass
    except ProcessLookupError:
        return
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        process.kill()
    process.wait()


@atexit.register
def stop_all() -> None:
    """Stop every server still running (the fixtures' finalizers normally did already)."""
    for server in list(_RUNNING):
        try:
            server.stop()
        except Exception:  # noqa: BLE001 - at exit, keep stopping the others
            pass


def _wait_ready(
    process: subprocess.Popen, log_path: Path, offset: int, ready: Callable[[], bool], what: str
) -> None:
    """Poll ``ready()`` until it holds; the server's exit or a timeout is a ServerStartError."""
    deadline = time.monotonic() + _timeout()
    while True:
        if process.poll() is not None:
            raise ServerStartError(
                f"{what} exited with status {process.returncode} while starting; its log:\n"
                + _tail(log_path, offset=offset)
            )
        if ready():
            return
        if time.monotonic() > deadline:
            raise ServerStartError(
                f"{what} did not accept connections within {_timeout():.0f} s; its log:\n"
                + _tail(log_path, offset=offset)
            )
        time.sleep(0.02)


def _run_setup(command: list[str], account: _Account, cwd: Path, log_path: Path, what: str) -> None:
    """Run an initialisation program as ``account``, its output in the log; failing is an error."""
    with open(log_path, "ab") as log:
        log.write(("$ " + " ".join(command) + "\n").encode())
        log.flush()
        result = subprocess.run(
            command,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_child_setup(account, os.getpid()),
            timeout=120,
        )
    if result.returncode != 0:
        raise ServerStartError(f"{what} failed with status {result.returncode}; log:\n{_tail(log_path)}")


def _spawn(command: list[str], account: _Account, cwd: Path, log_path: Path) -> subprocess.Popen:
    """Start a server in its own process group (so it can be killed whole), output to the log."""
    with open(log_path, "ab") as log:
        log.write(("$ " + " ".join(command) + "\n").encode())
        log.flush()
        return subprocess.Popen(
            command,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_child_setup(account, os.getpid()),
        )


def _port_taken(log_path: Path, offset: int) -> bool:
    """Whether the server failed because another process took its port after free_port()."""
    text = _tail(log_path, lines=1000, offset=offset)
    return "Address already in use" in text or "could not bind" in text.lower()


def start(kind: str) -> Server:
    """Start a throwaway server of ``kind`` ("postgresql" or "mariadb") and wait until it is ready."""
    if kind == "postgresql":
        return start_postgresql()
    if kind == "mariadb":
        return start_mariadb()
    raise ValueError(f"unknown server kind {kind!r}")


def _serve(
    kind: str,
    command: Callable[[int], list[str]],
    ready: Callable[[int], bool],
    stop_signal: int,
    account: _Account,
    folder: Path,
    log_path: Path,
    began: float,
) -> Server:
    """Run ``command(port)`` until ``ready(port)``; again on a new port if the port was taken.

    Whatever goes wrong (even KeyboardInterrupt), the process is killed before the error leaves.
    """
    what = Path(command(0)[0]).name
    for _attempt in range(3):
        port, offset = free_port(), log_path.stat().st_size
        process = _spawn(command(port), account, folder, log_path)
        server = Server(kind, HOST, port, USER, folder, log_path, process, stop_signal=stop_signal)
        _RUNNING.append(server)
        try:
            _wait_ready(process, log_path, offset, lambda: ready(port), what)
        except BaseException as error:
            _RUNNING.remove(server)
            _stop_process(process, signal.SIGKILL, grace=2.0)
            if isinstance(error, ServerStartError) and _port_taken(log_path, offset):
                continue
            raise
        server.startup_seconds = time.monotonic() - began
        return server
    raise ServerStartError(f"{what} found its port taken 3 times in a row; log:\n{_tail(log_path)}")


def start_postgresql() -> Server:
    """initdb with trust authentication, then postgres on 127.0.0.1, tuned for throwaway data."""
    bin_dir = find_postgresql_bin()
    if bin_dir is None:
        raise _not_found("postgresql")
    began = time.monotonic()
    account = _postgresql_account()
    folder = _make_folder("postgresql", account)
    data, log_path = folder / "data", folder / "server.log"
    try:
        _run_setup(
            [str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", USER, "-E", "UTF8",
             "--no-locale", "--no-sync"],
            account, folder, log_path, "initdb",
        )

        def command(port: int) -> list[str]:
            return [
                str(bin_dir / "postgres"), "-D", str(data), "-p", str(port),
                "-c", f"listen_addresses={HOST}", "-c", f"unix_socket_directories={folder}",
                "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                "-c", "max_connections=100", "-c", "shared_buffers=32MB",
                "-c", "lc_messages=C", "-c", "log_min_messages=warning",
            ]

        # SIGINT is PostgreSQL's "fast" shutdown: sessions are ended, not waited for.
        return _serve("postgresql", command, lambda port: _postgresql_ready(data, port), signal.SIGINT,
                      account, folder, log_path, began)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def _postgresql_ready(data: Path, port: int) -> bool:
    """postmaster.pid's status line says "ready" (startup done) and the port takes a connection."""
    try:
        lines = (data / "postmaster.pid").read_text().splitlines()
    except OSError:
        return False
    if len(lines) < 8 or lines[7].strip() != "ready":
        return False
    try:
        with socket.create_connection((HOST, port), timeout=1):
            return True
    except OSError:
        return False


# MariaDB reads this at startup, one statement a line, before it accepts any connection. The
# user is created for every host form a TCP client from 127.0.0.1 can match, so no anonymous
# user of the default install can shadow it.
_MARIADB_INIT = "".join(
    f"CREATE USER IF NOT EXISTS '{USER}'@'{host}';\n"
    f"GRANT ALL PRIVILEGES ON *.* TO '{USER}'@'{host}' WITH GRANT OPTION;\n"
    for host in ("127.0.0.1", "localhost", "%")
)


def start_mariadb() -> Server:
    """mariadb-install-db, then mariadbd on 127.0.0.1 with user ``lm`` (no password), tuned for speed."""
    found = find_mariadb()
    if found is None:
        raise _not_found("mariadb")
    server_bin, installer = found
    began = time.monotonic()
    # Unlike PostgreSQL, mariadbd runs as root when told so explicitly.
    account = _Account(os.geteuid(), os.getegid(), "current user")
    as_root = ["--user=root"] if os.geteuid() == 0 else []
    folder = _make_folder("mariadb", account)
    data, log_path, init = folder / "data", folder / "server.log", folder / "init.sql"
    try:
        init.write_text(_MARIADB_INIT)
        _run_setup(
            [str(installer), "--no-defaults", "--auth-root-authentication-method=normal", f"--datadir={data}",
             "--skip-name-resolve", *as_root],
            account, folder, log_path, "mariadb-install-db",
        )

        def command(port: int) -> list[str]:
            return [
                str(server_bin), "--no-defaults", *as_root, f"--datadir={data}",
                f"--socket={folder / 'mariadbd.sock'}", f"--pid-file={folder / 'mariadbd.pid'}",
                f"--tmpdir={folder}", f"--port={port}", f"--bind-address={HOST}", "--skip-name-resolve",
                f"--init-file={init}", "--character-set-server=utf8mb4", "--max-connections=100",
                "--innodb-flush-log-at-trx-commit=0", "--innodb-buffer-pool-size=64M",
                "--innodb-doublewrite=0", "--innodb-use-native-aio=0",
                "--loose-innodb-buffer-pool-load-at-startup=0", "--loose-innodb-buffer-pool-dump-at-shutdown=0",
                "--skip-external-locking", "--performance-schema=OFF",
            ]

        return _serve("mariadb", command, _mariadb_ready, signal.SIGTERM, account, folder, log_path, began)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def _mariadb_ready(port: int) -> bool:
    """The server greets a TCP client (protocol 10), which it does only once --init-file has run."""
    try:
        with socket.create_connection((HOST, port), timeout=2) as conn:
            conn.settimeout(2)
            header = conn.recv(5)
    except OSError:
        return False
    return len(header) == 5 and header[4] == 10


# --- databases and driver connections ---------------------------------------------------------


def _connect_source(driver: str, host: str, port: int, user: str, database: Optional[str]) -> str:
    """Python source defining ``get_connection()``: the one way every connection here is opened."""
    if driver == "psycopg":
        module, call, db_kw = "psycopg", "psycopg.connect", "dbname"
    elif driver == "pg8000":
        module, call, db_kw = "pg8000.dbapi", "pg8000.dbapi.connect", "database"
    elif driver == "pymysql":
        module, call, db_kw = "pymysql", "pymysql.connect", "database"
    elif driver == "mysql.connector":
        module, call, db_kw = "mysql.connector", "mysql.connector.connect", "database"
    else:
        raise ValueError(f"unknown driver {driver!r}")
    arguments = f"host={host!r}, port={port!r}, user={user!r}"
    if database is not None:
        arguments += f", {db_kw}={database!r}"
    return f"def get_connection():\n    import {module}\n    return {call}({arguments})\n"


def _open(source: str) -> Any:
    """A new connection from ``get_connection()`` source."""
    namespace: dict[str, Any] = {}
    exec(compile(source, "<get_connection>", "exec"), namespace)
    return namespace["get_connection"]()


def _set_autocommit(connection: Any, driver: str) -> None:
    """Autocommit on: PyMySQL has a method for it, the other three an attribute."""
    if driver == "pymysql":
        connection.autocommit(True)
    else:
        connection.autocommit = True


@dataclass
class Database:
    """A fresh, empty database on a throwaway server, reached through one DB-API driver."""

    driver: str  # the import name: "psycopg", "pg8000", "pymysql" or "mysql.connector"
    kind: str  # "postgresql" or "mariadb"
    name: str
    host: str
    port: int
    user: str
    _connections: list = field(default_factory=list, repr=False, compare=False)

    @property
    def connect_code(self) -> str:
        """Source of ``def get_connection():`` for a conf.py: imports the driver, returns a connection."""
        return _connect_source(self.driver, self.host, self.port, self.user, self.name)

    @property
    def url(self) -> str:
        """The database as a DATABASE_URL (no password: the servers trust 127.0.0.1)."""
        scheme = "postgresql" if self.kind == "postgresql" else "mysql"
        return f"{scheme}://{self.user}@{self.host}:{self.port}/{self.name}"

    def connect(self) -> Any:
        """A new connection with the driver's defaults (autocommit off); closed after the test."""
        connection = _open(self.connect_code)
        self._connections.append(connection)
        return connection

    def query(self, sql: str, params: Any = None) -> list[tuple]:
        """Run one statement on a short-lived autocommit connection; its rows as tuples."""
        connection = _open(self.connect_code)
        try:
            _set_autocommit(connection, self.driver)
            cursor = connection.cursor()
            if params is None:
                cursor.execute(sql)
            else:
                cursor.execute(sql, params)
            rows = [tuple(row) for row in cursor.fetchall()] if cursor.description else []
            cursor.close()
            return rows
        finally:
            connection.close()

    def execute(self, sql: str) -> None:
        """Run one statement on a short-lived autocommit connection."""
        self.query(sql)

    def close_connections(self) -> None:
        """Close what connect() opened, so that dropping the database does not wait for them."""
        for connection in self._connections:
            try:
                connection.close()
            except Exception:  # noqa: BLE001 - already closed or broken: fine
                pass
        self._connections.clear()


def _admin(server: Server, driver: str) -> Any:
    """An autocommit connection to the server itself (PostgreSQL's "postgres" database)."""
    database = "postgres" if server.kind == "postgresql" else None
    connection = _open(_connect_source(driver, server.host, server.port, server.user, database))
    _set_autocommit(connection, driver)
    return connection


def create_database(server: Server, driver: str) -> Database:
    """CREATE DATABASE lm_<unique> on ``server``, reached through ``driver``."""
    if DRIVERS[driver][0] != server.kind:
        raise ValueError(f"driver {driver} does not talk to {server.kind}")
    name = "lm_" + uuid.uuid4().hex[:12]
    connection = _admin(server, driver)
    try:
        cursor = connection.cursor()
        cursor.execute(f"CREATE DATABASE {name}")
        cursor.close()
    finally:
        connection.close()
    return Database(driver, server.kind, name, server.host, server.port, server.user)


def drop_database(database: Database, server: Server) -> None:
    """Drop the database, best effort, even with connections a test left open on it."""
    database.close_connections()
    try:
        connection = _admin(server, database.driver)
    except Exception:  # noqa: BLE001 - best effort: the server goes away at the end anyway
        return
    try:
        cursor = connection.cursor()
        if server.kind == "postgresql":
            cursor.execute(f"DROP DATABASE IF EXISTS {database.name} WITH (FORCE)")
        else:
            cursor.execute("SET SESSION lock_wait_timeout = 5")
            cursor.execute(
                "SELECT id FROM information_schema.processlist WHERE db = %s AND id <> CONNECTION_ID()",
                (database.name,),
            )
            for (thread,) in cursor.fetchall():
                try:
                    cursor.execute(f"KILL {int(thread)}")
                except Exception:  # noqa: BLE001 - it may have ended meanwhile
                    pass
            cursor.execute(f"DROP DATABASE IF EXISTS {database.name}")
        cursor.close()
    except Exception:  # noqa: BLE001 - best effort
        pass
    finally:
        try:
            connection.close()
        except Exception:  # noqa: BLE001
            pass
