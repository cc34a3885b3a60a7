"""The installed program in a subprocess: console scripts, python -m, the original README."""
from __future__ import annotations

import json
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
    assert found, (
        f"console script {name} is not installed in {SCRIPTS}: these tests run the installed "
        "program; install it first, as the README's test command does (pip install -e '.[test]')"
    )
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


def test_console_script_runs_the_sqlite_example_up_status_and_down(example, tmp_path):
    script = _script("link-migration")
    up = _run([script, "-c", "example_migrations/conf.py"], cwd=tmp_path)
    assert up.returncode == 0, up.stderr
    assert "Now at version 5" in up.stdout
    database = example / "example.db"
    assert {"users", "link_migration_history", "link_migration_log"} <= _tables(database)
    with sqlite3.connect(database) as connection:
        names = connection.execute("SELECT first_name, last_name FROM users ORDER BY id").fetchall()
    assert names[0] == ("Ada", "Lovelace")

    status = _run([script, "-c", str(example / "conf.py"), "status", "--json"], cwd=REPO)
    assert status.returncode == 0, status.stderr
    document = json.loads(status.stdout)
    assert document["current_version"] == 5
    assert [m["state"] for m in document["migrations"]] == ["applied"] * 5

    down = _run([script, "-c", str(example / "conf.py"), "--to", "0"], cwd=REPO)
    assert down.returncode == 0, down.stderr
    assert _tables(database) == {"link_migration_history", "link_migration_log",
                                 "link_migration_lock", "link_migration_attempt"}


def test_underscore_script_and_python_m_are_the_same_program(example, tmp_path):
    conf = str(example / "seed" / "conf.py")
    current = _run([_script("link_migration"), "-c", conf, "current"], cwd=tmp_path)
    assert (current.returncode, current.stdout) == (0, "0\n")
    failed = _run([sys.executable, "-m", "link_migration", "-c", conf, "--to", "7"], cwd=tmp_path)
    assert failed.returncode == 2
    assert failed.stderr.startswith("link-migration: error: --to 7")
    assert "Traceback" not in failed.stderr
    ran = _run([sys.executable, "-m", "link_migration", "-c", conf], cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert "Hello, world!" in ran.stdout
    assert (example / "seed" / "current_version.txt").read_text() == "20"


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

    to_1 = _run([script, "-c", str(project / "conf.py"), "--to=1"], cwd=tmp_path)
    assert to_1.returncode == 0, to_1.stderr
    assert "Hello, world!" in to_1.stdout
    assert (project / "current_version.txt").read_text() == "1"

    latest = _run([script], cwd=project)  # ./conf.py by default
    assert latest.returncode == 0, latest.stderr
    assert "ROOT_DIR is link_migration.example_migrations" in latest.stdout
    assert (project / "current_version.txt").read_text() == "20"

    down = _run([script, "--down"], cwd=project)
    assert down.returncode == 0, down.stderr
    assert (project / "current_version.txt").read_text() == "1"
    assert "warning" not in down.stderr


def test_migration_may_hand_stdout_to_a_subprocess(tmp_path):
    (tmp_path / "conf.py").write_text("VERSION_FILE = 'version.txt'\n")
    (tmp_path / "sub.py").write_text(
        "import subprocess, sys\nversion = 1\ndef up():\n"
        "    print('before')\n"
        "    subprocess.run([sys.executable, '-c', 'print(42)'], stdout=sys.stdout, check=True)\n"
    )
    result = _run([sys.executable, "-m", "link_migration"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "      before\n" in result.stdout and "42\n" in result.stdout
    assert (tmp_path / "version.txt").read_text().strip() == "1"


def test_a_reader_that_goes_away_does_not_stop_the_run(tmp_path):
    # `link-migration | head -2`: the pipe closes after two lines; the run must go on.
    (tmp_path / "conf.py").write_text("VERSION_FILE = 'version.txt'\n")
    for version in (1, 2, 3):
        (tmp_path / f"m{version}.py").write_text(
            f"import time\nversion = {version}\ndef up():\n    print('m{version}')\n    time.sleep(0.2)\n"
        )
    process = subprocess.Popen(
        [sys.executable, "-m", "link_migration"], cwd=tmp_path,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert process.stdout is not None
    process.stdout.readline()
    process.stdout.close()  # the reader is gone
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "Traceback" not in err and "internal error" not in err
    assert (tmp_path / "version.txt").read_text().strip() == "3"
