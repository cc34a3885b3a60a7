"""Shared fixtures: a real project (conf.py and migration files) in a temporary folder."""
from __future__ import annotations

import os
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from link_migration.cli import main

# Child processes (`python -m link_migration`) run the code under test, the same checkout the
# in-process tests import, installed or not.
_REPO = Path(__file__).resolve().parent.parent
os.environ["PYTHONPATH"] = os.pathsep.join(
    entry for entry in (str(_REPO), os.environ.get("PYTHONPATH", "")) if entry
)


@pytest.fixture(autouse=True)
def _isolated_imports() -> Iterator[None]:
    """Each test's conf.py and migrations must not leak into the next through imports."""
    saved_path = list(sys.path)
    saved_modules = set(sys.modules)
    yield
    sys.path[:] = saved_path
    for name in set(sys.modules) - saved_modules:
        del sys.modules[name]


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
