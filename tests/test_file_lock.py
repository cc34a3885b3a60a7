"""The lock file of the file and user-function stores (SPEC 7): where it sits, and that a file
planted at its path (a symbolic link, a hard link, someone's own file) is never written through,
truncated or taken over, by a run or by ``unlock``."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from link_migration.lock import LOCK_FILE_NAME, me_now

if TYPE_CHECKING:
    from conftest import Project

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX links and modes")

FUNCTIONS_CONF = """\
import os
STATE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "state.txt")
def get_current_version():
    return int(open(STATE).read()) if os.path.exists(STATE) else 0
def set_current_version(version):
    open(STATE, "w").write(str(version))
"""

# (the store's conf.py, the folder of the lock file relative to conf.py's)
STORES = {
    "file": ('VERSION_FILE = "version.txt"\n', "."),
    "file in a subfolder": ('VERSION_FILE = "state/version.txt"\n', "state"),
    "functions": (FUNCTIONS_CONF, "."),
}


def _lock_path(project: Project, store: str) -> Path:
    body, folder = STORES[store]
    (project.root / "state").mkdir(exist_ok=True)
    project.write_conf(body)
    project.add_migration(1)
    return project.root / folder / LOCK_FILE_NAME


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def _nothing_written(project: Project) -> None:
    assert project.log() == []
    for name in ("version.txt", "state/version.txt", "state.txt"):
        assert not (project.root / name).exists(), name


# --- where it sits, and its mode


@pytest.mark.parametrize("store", list(STORES))
def test_the_lock_file_is_created_private_beside_the_store_and_left_empty(
    project: Project, store: str
) -> None:
    lock = _lock_path(project, store)
    result = project.run()
    assert result.status == 0, result.err
    assert project.log() == ["up 1"]
    assert lock.is_file() and lock.read_text() == ""
    assert _mode(lock) == 0o600  # 0644 let any local user take a shared lock and block runs
    if lock.parent != project.root:
        assert not (project.root / LOCK_FILE_NAME).exists()


def test_a_lock_file_an_earlier_version_left_open_to_everyone_is_made_private(
    project: Project,
) -> None:
    lock = _lock_path(project, "file")
    me = me_now()
    lock.write_text(f"{me.owner} since {me.since}\n")  # as a run killed with -9 leaves it
    lock.chmod(0o644)
    result = project.run()
    assert result.status == 0, result.err
    assert _mode(lock) == 0o600 and lock.read_text() == ""


def test_a_lock_file_shared_with_its_group_on_purpose_keeps_the_group(project: Project) -> None:
    lock = _lock_path(project, "file")
    lock.write_text("")
    lock.chmod(0o664)
    assert project.run().status == 0
    assert _mode(lock) == 0o660


def test_a_waiting_runner_names_the_holder_written_in_the_lock_file(project: Project) -> None:
    import fcntl

    lock = _lock_path(project, "file")
    lock.write_text("ops@elsewhere:42 since 2026-01-02T03:04:05.000006+00:00\n")
    with open(lock) as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # what a running runner holds
        result = project.run("--lock-timeout", "0.1")
    assert result.status == 3
    assert "held by ops@elsewhere:42 since 2026-01-02T03:04:05" in result.err
    assert project.log() == []


def test_unlock_creates_no_lock_file(project: Project) -> None:
    lock = _lock_path(project, "file")
    result = project.run("unlock")
    assert result.status == 0, result.err
    assert "No lock is held" in result.out
    assert not lock.exists()


# --- files planted at the lock file's path


@pytest.mark.parametrize("store", list(STORES))
@pytest.mark.parametrize("command", [[], ["unlock"], ["--down"]], ids=["run", "unlock", "down"])
def test_a_symlink_at_the_lock_path_is_refused_and_its_target_left_alone(
    project: Project, store: str, command: list[str]
) -> None:
    lock = _lock_path(project, store)
    victim = project.root / "victim.txt"
    victim.write_text("precious\n")
    victim.chmod(0o644)
    lock.symlink_to(victim)
    result = project.run(*command)
    assert result.status == 2, result.err
    assert f"the lock file {lock} is a symbolic link" in result.err
    assert "Traceback" not in result.err
    assert victim.read_text() == "precious\n" and _mode(victim) == 0o644
    assert lock.is_symlink()
    _nothing_written(project)


@pytest.mark.parametrize("command", [[], ["unlock"]], ids=["run", "unlock"])
def test_a_dangling_symlink_at_the_lock_path_creates_nothing(
    project: Project, command: list[str]
) -> None:
    lock = _lock_path(project, "file")
    target = project.root / "made-by-the-tool.txt"
    lock.symlink_to(target)
    result = project.run(*command)
    assert result.status == 2, result.err
    assert "is a symbolic link" in result.err
    assert not target.exists()
    _nothing_written(project)


@pytest.mark.parametrize("command", [[], ["unlock"]], ids=["run", "unlock"])
def test_someone_elses_file_at_the_lock_path_is_refused_and_left_as_it_is(
    project: Project, command: list[str]
) -> None:
    lock = _lock_path(project, "file")
    lock.write_text("important notes\nthat happen to have this name\n")
    lock.chmod(0o644)
    result = project.run(*command)
    assert result.status == 2, result.err
    assert f"{lock} is not a link-migration lock file" in result.err
    assert "move that file away" in result.err
    assert lock.read_text() == "important notes\nthat happen to have this name\n"
    assert _mode(lock) == 0o644
    _nothing_written(project)


def test_a_hard_link_at_the_lock_path_is_refused(project: Project) -> None:
    # Even an empty file: writing a holder line into it would change the file elsewhere.
    lock = _lock_path(project, "file")
    victim = project.root / "elsewhere.txt"
    victim.write_text("")
    os.link(victim, lock)
    result = project.run()
    assert result.status == 2, result.err
    assert f"the lock file {lock} has 2 hard links" in result.err
    assert victim.read_text() == ""
    _nothing_written(project)


def test_a_fifo_at_the_lock_path_is_refused(project: Project) -> None:
    lock = _lock_path(project, "file")
    os.mkfifo(lock)
    result = project.run()
    assert result.status == 2, result.err
    assert f"the lock file {lock} is not a regular file" in result.err
    _nothing_written(project)


# --- a full disk


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_FSIZE as Linux has it")
def test_a_lock_file_that_cannot_be_written_is_exit_2_naming_it_and_the_os_error(
    tmp_path: Path,
) -> None:
    # RLIMIT_FSIZE=0 makes every write to a regular file fail with EFBIG, as a full disk
    # makes it fail with ENOSPC (Python ignores SIGXFSZ, which would otherwise kill it).
    import resource
    import signal

    def no_room() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))

    root = tmp_path / "app"
    root.mkdir()
    (root / "conf.py").write_text('VERSION_FILE = "version.txt"\n')
    (root / "m001.py").write_text(
        f"version = 1\ndef up():\n    open({str(root / 'ran.txt')!r}, 'w').close()\n"
    )
    lock = root / LOCK_FILE_NAME
    me = me_now()
    lock.write_text(f"{me.owner} since {me.since}\n")  # left by a killed run
    result = subprocess.run(
        [sys.executable, "-m", "link_migration"], cwd=root, capture_output=True, text=True,
        timeout=60, preexec_fn=no_room,
    )
    assert result.returncode == 2, result.stderr
    assert f"cannot write the lock file {lock}: File too large" in result.stderr
    assert "Traceback" not in result.stderr
    assert lock.read_text() == ""  # no half line that would look like someone else's file
    assert not (root / "ran.txt").exists() and not (root / "version.txt").exists()
    # With room again, the same lock file serves.
    rerun = subprocess.run([sys.executable, "-m", "link_migration"], cwd=root,
                           capture_output=True, text=True, timeout=60)
    assert rerun.returncode == 0, rerun.stderr
    assert (root / "ran.txt").exists() and (root / "version.txt").read_text() == "1\n"
