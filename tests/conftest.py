"""Shared fixtures: a real project (conf.py and migration files) in a temporary folder."""
from __future__ import annotations

import os
import sys
import sysconfig
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, NoReturn

import pytest

import servers
from link_migration.cli import main

# Child processes (`python -m link_migration`) run the code under test, the same checkout the
# in-process tests import, installed or not.
_REPO = Path(__file__).resolve().parent.parent
os.environ["PYTHONPATH"] = os.pathsep.join(
    entry for entry in (str(_REPO), os.environ.get("PYTHONPATH", "")) if entry
)


_INSTALLED = tuple(
    os.path.join(os.path.realpath(folder), "")
    for folder in {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
)


def _installed(module: object) -> bool:
    """Whether a module comes from site-packages (a driver or its dependencies), not from a test.

    Read from the module's __dict__: a test's conf.py may define a __getattr__ that raises.
    """
    try:
        namespace = vars(module)
        locations = [namespace.get("__file__")] + list(namespace.get("__path__") or [])
    except Exception:  # noqa: BLE001 - None, or an odd object: not an installed package
        return False
    return any(
        isinstance(location, str) and os.path.realpath(location).startswith(_INSTALLED) for location in locations
    )


@pytest.fixture(autouse=True)
def _isolated_imports() -> Iterator[None]:
    """Each test's conf.py and migrations must not leak into the next through imports.

    Installed packages (the DB drivers and what they import) stay: they cannot come from a test;
    importing a driver again costs up to 0.1 s a test; and a second copy of a driver has its own
    exception classes, which an ``except`` naming the first copy's would not catch.
    """
    saved_path = list(sys.path)
    saved_modules = set(sys.modules)
    yield
    sys.path[:] = saved_path
    for name in set(sys.modules) - saved_modules:
        module = sys.modules[name]
        if not _installed(module):
            del sys.modules[name]
            # The package keeps its submodule as an attribute, and `from . import name`
            # finds it there before sys.modules: a stale copy would outlive the test.
            parent, _, child = name.rpartition(".")
            if parent in sys.modules and getattr(sys.modules[parent], child, None) is module:
                delattr(sys.modules[parent], child)


@dataclass
class Result:
    status: int
    out: str
    err: str


class Project:
    """A conf.py with a VERSION_FILE store, and a migrations/ folder, under ``root``.

    Every migration written by ``add_migration`` appends "up N" / "down N" to log.txt when it
    runs, so tests can see what ran, in which order and how often.
    """

    def __init__(self, root: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.root = root
        self.migrations = root / "migrations"
        self.migrations.mkdir()
        self.log_path = root / "log.txt"
        self.conf = root / "conf.py"
        self._capsys = capsys
        self.write_conf()

    def write_conf(self, body: str = 'VERSION_FILE = "version.txt"\n', migrations_dir: str | None = "migrations") -> Path:
        header = f"MIGRATIONS_DIR = {migrations_dir!r}\n" if migrations_dir else ""
        self.conf.write_text(header + textwrap.dedent(body))
        return self.conf

    def add_migration(
        self,
        version: object,
        *,
        name: str | None = None,
        up: str | None = None,
        down: str | None = "",
        doc: str | None = None,
        header: str = "",
    ) -> Path:
        """Write a migration. ``up``/``down`` are extra body lines run after the log line;
        ``down=None`` leaves down() out."""
        path = self.migrations / (name or f"m{version}.py")
        lines = []
        if doc is not None:
            lines.append(f'"""{doc}"""')
        lines.append(textwrap.dedent(header))
        lines.append(f"version = {version!r}" if not isinstance(version, str) else f"version = {version}")
        lines.append(self._function("up", version, up))
        if down is not None:
            lines.append(self._function("down", version, down))
        path.write_text("\n".join(lines) + "\n")
        return path

    def _function(self, direction: str, version: object, extra: str | None) -> str:
        body = f"    with open({str(self.log_path)!r}, 'a') as log:\n        log.write('{direction} {version}\\n')\n"
        if extra:
            body += textwrap.indent(textwrap.dedent(extra), "    ") + "\n"
        return f"def {direction}():\n{body}"

    def log(self) -> list[str]:
        return self.log_path.read_text().splitlines() if self.log_path.exists() else []

    def version(self) -> str:
        """The raw content of the version file, or '' when there is none."""
        path = self.root / "version.txt"
        return path.read_text().strip() if path.exists() else ""

    def run(self, *argv: str, conf: bool = True) -> Result:
        self._capsys.readouterr()
        status = main((["-c", str(self.conf)] if conf else []) + list(argv))
        captured = self._capsys.readouterr()
        return Result(status, captured.out, captured.err)


@pytest.fixture
def project(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Project:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LINK_MIGRATION_CONFIG", raising=False)
    return Project(tmp_path, capsys)


@pytest.fixture
def elsewhere(project: Project, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory with no conf.py, so nothing can be found by accident."""
    folder = project.root / "elsewhere"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


# --- real database servers (tests/servers.py) -------------------------------------------------


def _unavailable(reason: str) -> NoReturn:
    """Skip, or fail when LINK_MIGRATION_REQUIRE_SERVERS=1 (CI): a missing server is then an error."""
    if servers.servers_required():
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def _server(kind: str) -> Iterator[servers.Server]:
    """Start a server for the session: missing means skip (or fail), broken always means fail."""
    missing = broken = None
    try:
        server = servers.start(kind)
    except servers.ServerNotFound as error:
        missing = str(error)
    except servers.ServerStartError as error:
        broken = str(error)
    # Outside the except blocks, so that the report is the one reason, not a chain of two.
    if missing:
        _unavailable(missing)
    if broken:
        pytest.fail(broken, pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgresql_server() -> Iterator[servers.Server]:
    """A throwaway PostgreSQL, started the first time a test asks for it."""
    yield from _server("postgresql")


@pytest.fixture(scope="session")
def mariadb_server() -> Iterator[servers.Server]:
    """A throwaway MariaDB, started the first time a test asks for it."""
    yield from _server("mariadb")


def _database(request: pytest.FixtureRequest, driver: str) -> Iterator[servers.Database]:
    """A fresh empty database for one test through ``driver``; dropped afterwards."""
    reason = servers.missing_driver(driver)
    if reason:
        _unavailable(reason)
    server = request.getfixturevalue(f"{servers.DRIVERS[driver][0]}_server")
    database = servers.create_database(server, driver)
    try:
        yield database
    finally:
        servers.drop_database(database, server)


def _drivers(kind: str | None) -> list[str]:
    """The drivers for one kind of server (None: all), in the order of servers.DRIVERS."""
    return [driver for driver, (server, _) in servers.DRIVERS.items() if kind in (None, server)]


@pytest.fixture(params=_drivers(None), ids=[servers.DRIVER_IDS[d] for d in _drivers(None)])
def database(request: pytest.FixtureRequest) -> Iterator[servers.Database]:
    """A fresh database, once per driver: psycopg, pg8000 (PostgreSQL), pymysql, mysql-connector (MariaDB)."""
    yield from _database(request, request.param)


@pytest.fixture(params=_drivers("postgresql"), ids=[servers.DRIVER_IDS[d] for d in _drivers("postgresql")])
def postgresql_database(request: pytest.FixtureRequest) -> Iterator[servers.Database]:
    """A fresh PostgreSQL database, once per PostgreSQL driver."""
    yield from _database(request, request.param)


@pytest.fixture(params=["psycopg", "pymysql"], ids=["postgresql", "mariadb"])
def one_driver_each(request: pytest.FixtureRequest) -> Iterator[servers.Database]:
    """A fresh database on each server through one driver, for the tests that time real
    processes many times over (leases, kill trials): what they test does not depend on the
    driver, and once per driver would double their time."""
    yield from _database(request, request.param)


@pytest.fixture(params=_drivers("mariadb"), ids=[servers.DRIVER_IDS[d] for d in _drivers("mariadb")])
def mariadb_database(request: pytest.FixtureRequest) -> Iterator[servers.Database]:
    """A fresh MariaDB database, once per MariaDB driver."""
    yield from _database(request, request.param)
