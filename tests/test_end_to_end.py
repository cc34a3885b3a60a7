"""The installed program in a subprocess: console scripts, python -m, the original README."""
from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = Path(sysconfig.get_path("scripts"))

# The original README's conf.py, unchanged but for its unused `import requests`.
SEED_CONF = '''\
import os
import json

ROOT_DIR = 'link_migration.example_migrations'
MIGRATIONS_ABS_PATH = os.path.abspath(os.path.join(os.path.dirname(__file__)))
MIGRATIONS_DIR = 'link_migration.example_migrations'


def get_current_version():
    path = "%s/current_version.txt" % MIGRATIONS_ABS_PATH
    with open(path, "r+") as f:
        content = f.read()
    return int(content)


def set_current_version(version):
    path = "%s/current_version.txt" % MIGRATIONS_ABS_PATH
    with open(path, "w") as f:
        content = f.write(f'{version}')
    return int(content)
'''


def _run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=60)


def _script(name: str) -> str:
    found = shutil.which(name, path=str(SCRIPTS))
    assert found, f"console script {name} is not installed in {SCRIPTS}"
    return found


def _tables(database: Path) -> set[str]:
    with sqlite3.connect(database) as connection:
        rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {name for (name,) in rows}


@pytest.fixture
def example(tmp_path: Path) -> Path:
    """A copy of example_migrations/, so the test runs the real example without touching it."""
    copy = tmp_path / "example_migrations"
    shutil.copytree(
        REPO / "example_migrations",
        copy,
        ignore=shutil.ignore_patterns("__pycache__", "*.db", "current_version.txt"),
    )
    return copy


def test_console_script_runs_the_example_up_and_down(example, tmp_path):
    script = _script("link-migration")
    up = _run([script, "-c", "example_migrations/conf.py"], cwd=tmp_path)
    assert up.returncode == 0, up.stderr
    assert "Now at version 30" in up.stdout
    assert (example / "current_version.txt").read_text() == "30"
    assert "notes" in _tables(example / "example.db")

    down = _run([script, "-c", str(example / "conf.py"), "--to", "0"], cwd=REPO)
    assert down.returncode == 0, down.stderr
    assert (example / "current_version.txt").read_text() == "0"
    assert "notes" not in _tables(example / "example.db")


def test_underscore_script_and_python_m_are_the_same_program(example, tmp_path):
    conf = str(example / "conf.py")
    current = _run([_script("link_migration"), "-c", conf, "current"], cwd=tmp_path)
    assert (current.returncode, current.stdout) == (0, "0\n")
    failed = _run([sys.executable, "-m", "link_migration", "-c", conf, "--to", "7"], cwd=tmp_path)
    assert failed.returncode == 2
    assert failed.stderr.startswith("link-migration: error: --to 7")
    assert "Traceback" not in failed.stderr


def test_failing_migration_exit_status_survives_python_m(tmp_path):
    (tmp_path / "conf.py").write_text("VERSION_FILE = 'version.txt'\n")
    (tmp_path / "boom.py").write_text("version = 1\ndef up():\n    raise KeyError('boom')\n")
    result = _run([sys.executable, "-m", "link_migration"], cwd=tmp_path)
    assert result.returncode == 1
    assert "KeyError: 'boom'" in result.stderr
    assert not (tmp_path / "version.txt").exists()


def test_original_readme_conf_runs_the_bundled_examples_from_anywhere(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "conf.py").write_text(SEED_CONF)
    (project / "current_version.txt").write_text("0")
    script = _script("link-migration")

    to_20 = _run([script, "-c", str(project / "conf.py"), "--to=20"], cwd=tmp_path)
    assert to_20.returncode == 0, to_20.stderr
    assert "ROOT_DIR is link_migration.example_migrations" in to_20.stdout
    assert (project / "current_version.txt").read_text() == "20"

    latest = _run([script], cwd=project)  # ./conf.py by default
    assert latest.returncode == 0, latest.stderr
    assert (project / "current_version.txt").read_text() == "30"

    down = _run([script, "--down"], cwd=project)
    assert down.returncode == 0, down.stderr
    assert (project / "current_version.txt").read_text() == "20"
    assert "warning" not in down.stderr
