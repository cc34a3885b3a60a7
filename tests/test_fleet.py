"""SPEC 11 on SQLite: TARGETS, the selection options and their errors, a fleet migrated,
rolled back and checked, shards, failures with and without --keep-going, canaries, the JSON
document, a lock of conf.py's own, and signals (in a real process)."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from checks import assert_error, ok

MIGRATION = """\
    version = {version}

    def up(context):
        if context.target in {fail!r}:
            raise RuntimeError("no room on " + context.target)
        context.execute("CREATE TABLE t{version} (target TEXT)")
        context.execute("INSERT INTO t{version} VALUES (?)", (context.target,))
        {extra}

    def down(context):
        context.execute("DROP TABLE t{version}")
    """


def _fleet(project, count: int = 10, *, migrations: int = 3, fail: tuple[str, ...] = (),
           extra: str = "", conf: str = "") -> list[str]:
    names = [f"tenant_{i:02d}" for i in range(1, count + 1)]
    (project.root / "db").mkdir(exist_ok=True)
    project.write_conf(f"TARGETS = {names!r}\nDATABASE = 'db/{{target}}.db'\n"
                       + textwrap.dedent(conf))
    for version in range(1, migrations + 1):
        (project.migrations / f"{version:03d}_t{version}.py").write_text(textwrap.dedent(
            MIGRATION.format(version=version, fail=fail if version == 2 else (), extra=extra)))
    return names


def _version(project, target: str) -> int:
    path = project.root / "db" / f"{target}.db"
    if not path.exists():
        return 0
    with sqlite3.connect(path) as database:
        try:
            row = database.execute("SELECT MAX(version) FROM link_migration_history").fetchone()
        except sqlite3.OperationalError:
            return 0
    return row[0] or 0


# -- choosing targets --------------------------------------------------------------------

def test_targets_must_be_chosen_and_each_choice_must_match(project):
    _fleet(project, 12)
    assert_error(project.run(), "defines 12 targets (tenant_01, tenant_02", "--target NAME",
                 "--all-targets")
    assert_error(project.run("status"), "defines 12 targets")
    assert_error(project.run("--target", "tenant_99"), "unknown target 'tenant_99'")
    assert_error(project.run("--target", "shop_*"), "no target matches 'shop_*'")
    assert_error(project.run("--target", "tenant_01", "--all-targets"), "not both")
    assert_error(project.run("history", "--target", "tenant_0*"),
                 "history works on one target at a time, and the selection has 9")
    assert all(_version(project, f"tenant_{i:02d}") == 0 for i in range(1, 13))
    ok(project.run("history", "--target", "tenant_01"))
    ok(project.run("new", "another"))  # new writes a file: no target needed


def test_target_options_without_targets_are_refused(project):
    project.write_conf('DATABASE = "app.db"\n')
    assert_error(project.run("--target", "a"), "defines no TARGETS")
    assert_error(project.run("--jobs", "2"), "defines no TARGETS")
    assert_error(project.run("--all-targets"), "defines no TARGETS")


@pytest.mark.parametrize("targets, message", [
    ("'tenant_a'", "not a list of names"),
    ("['a', 'a']", "'a' is there twice"),
    ("['a', '']", "item 1 is ''"),
    ("lambda: 7", "what TARGETS() in"),
])
def test_bad_targets_are_named(project, targets, message):
    project.write_conf(f"TARGETS = {targets}\nDATABASE = 'db-{{target}}.db'\n")
    assert_error(project.run("--all-targets"), message)


def test_targets_from_a_function_called_once(project):
    counter = project.root / "calls.txt"
    project.write_conf(f"""\
        DATABASE = "{{target}}.db"

        def TARGETS():
            with open({str(counter)!r}, "a") as calls:
                calls.write("called\\n")
            return ["eu", "us"]
        """)
    project.add_migration(1)
    ok(project.run("--all-targets"))
    assert counter.read_text() == "called\n"
    assert (project.root / "eu.db").exists() and (project.root / "us.db").exists()


def test_shards_cover_every_target_exactly_once(project):
    names = _fleet(project, 30, migrations=1)
    seen = []
    for index in (1, 2, 3):
        result = project.run("--all-targets", "--shard", f"{index}/3", "--json")
        ok(result)
        seen += [entry["target"] for entry in json.loads(result.out)["targets"]]
    assert sorted(seen) == names
    assert all(_version(project, name) == 1 for name in names)
    assert_error(project.run("--all-targets", "--shard", "0/3"), "is not a shard")


# -- a fleet run -------------------------------------------------------------------------

def test_fifty_targets_migrated_rolled_back_and_checked(project):
    names = _fleet(project, 50)
    result = project.run("--all-targets", "--jobs", "8")
    ok(result)
    assert result.out.count("Now at version 3: applied 3 migrations") == 50
    assert "50 targets in" in result.out and "migrated" in result.out
    assert all(_version(project, name) == 3 for name in names)
    with sqlite3.connect(project.root / "db" / "tenant_07.db") as database:
        assert database.execute("SELECT target FROM t2").fetchall() == [("tenant_07",)]
    ok(project.run("check", "--all-targets"))
    again = project.run("--all-targets")
    ok(again)
    assert again.out.count("Already at version 3") == 50
    ok(project.run("--all-targets", "--to", "0"))
    assert all(_version(project, name) == 0 for name in names)
    check = project.run("check", "--all-targets")
    assert check.status == 1
    assert "tenant_50  0        3        3 pending" in check.out
    assert "50 targets: 50 with pending migrations." in check.out


def test_each_migration_file_is_imported_once_for_the_whole_fleet(project):
    imports = project.root / "imports.txt"
    _fleet(project, 12)
    (project.migrations / "004_counted.py").write_text(textwrap.dedent(f"""\
        with open({str(imports)!r}, "a") as log:
            log.write("imported\\n")
        version = 4

        def up(context):
            pass

        def down(context):
            pass
        """))
    ok(project.run("--all-targets"))
    assert imports.read_text() == "imported\n"


def test_a_failed_target_stops_new_ones_unless_keep_going(project):
    names = _fleet(project, 8, fail=("tenant_03",))
    result = project.run("--all-targets", "--jobs", "1")
    assert result.status == 1, result
    assert "tenant_03: FAILED: migration 2 (up)" in result.out
    assert [_version(project, n) for n in names] == [3, 3, 1, 0, 0, 0, 0, 0]
    assert "not started                   5" in result.out
    assert "Run again to go on" in result.out
    result = project.run("--all-targets", "--jobs", "1", "--keep-going")
    assert result.status == 1
    assert [_version(project, n) for n in names] == [3, 3, 1, 3, 3, 3, 3, 3]


def test_a_failing_canary_starts_no_other_target(project):
    names = _fleet(project, 8, fail=("tenant_02",))
    result = project.run("--all-targets", "--canary", "2", "--keep-going")
    assert result.status == 1
    assert [_version(project, n) for n in names] == [3, 1, 0, 0, 0, 0, 0, 0]
    (project.migrations / "002_t2.py").write_text(textwrap.dedent(
        MIGRATION.format(version=2, fail=(), extra="")))
    result = project.run("--all-targets", "--canary", "2", "--json")
    ok(result)
    document = json.loads(result.out)
    assert [t["outcome"] for t in document["targets"]] == ["current"] + ["migrated"] * 7
    assert document["targets"][1]["migrations"] == [{"version": 2, "direction": "up"},
                                                    {"version": 3, "direction": "up"}]


def test_the_json_document(project):
    names = _fleet(project, 4, fail=("tenant_04",))
    result = project.run("--all-targets", "--jobs", "1", "--json")
    assert result.status == 1
    document = json.loads(result.out)
    assert document["ok"] is False and document["exit_status"] == 1
    assert document["summary"] == {"migrated": 3, "planned": 0, "current": 0, "failed": 1, "locked": 0,
                                   "stopped": 0, "not_started": 0}
    first, last = document["targets"][0], document["targets"][-1]
    assert first["target"] == names[0] and first["outcome"] == "migrated"
    assert first["version"] == 3 and first["error"] is None and first["seconds"] >= 0
    assert last["outcome"] == "failed" and "RuntimeError: no room on tenant_04" in last["error"]
    status = json.loads(project.run("status", "--all-targets", "--json").out)
    assert [(t["target"], t["current_version"], t["pending"]) for t in status["targets"]] == [
        (names[0], 3, 0), (names[1], 3, 0), (names[2], 3, 0), (names[3], 1, 2)]


def test_verbose_prefixes_each_step_with_its_target(project):
    _fleet(project, 2, extra='print("hello from", context.target)')
    result = project.run("--all-targets", "-v")
    ok(result)
    assert "tenant_01: [2/3] up 2 002_t2.py" in result.out
    assert "tenant_02: hello from tenant_02" in result.out


def test_a_fleet_with_a_lock_of_conf_py_and_its_own_store_functions(project):
    calls = project.root / "calls.txt"
    names = ["north", "south", "east"]
    project.write_conf(f"""\
        import os

        TARGETS = {names!r}
        FOLDER = {str(project.root)!r}

        def get_current_version(target):
            path = os.path.join(FOLDER, target + ".version")
            return open(path).read() if os.path.exists(path) else None

        def set_current_version(target, version):
            with open(os.path.join(FOLDER, target + ".version"), "w") as file:
                file.write(str(version))

        def acquire_lock(target):
            with open({str(calls)!r}, "a") as log:
                log.write("acquire " + target + "\\n")
            return True

        def release_lock(target):
            with open({str(calls)!r}, "a") as log:
                log.write("release " + target + "\\n")
        """)
    project.add_migration(1)
    project.add_migration(2)
    ok(project.run("--all-targets", "--jobs", "2"))
    for name in names:
        assert (project.root / f"{name}.version").read_text() == "2"
    lines = calls.read_text().splitlines()
    assert sorted(lines) == sorted([f"{verb} {name}" for name in names
                                    for verb in ("acquire", "release")])
    project.write_conf(project.conf.read_text().replace("def get_current_version(target):",
                                                        "def get_current_version():"))
    assert_error(project.run("--all-targets"), "get_current_version", "target")


def test_version_files_of_a_fleet_lock_each_target_on_its_own(project):
    project.write_conf("TARGETS = ['a', 'b']\nVERSION_FILE = 'versions/{target}.txt'\n")
    (project.root / "versions").mkdir()
    project.add_migration(1)
    ok(project.run("--all-targets", "--jobs", "2"))
    assert (project.root / "versions" / "a.txt").read_text().strip() == "1"
    locks = sorted(p.name for p in (project.root / "versions").iterdir() if "lock" in p.name)
    assert len(locks) == 2 and all(p.startswith(".link-migration.") for p in locks)


def test_the_python_api_over_targets(project):
    from link_migration import Migrator

    names = _fleet(project, 5, fail=("tenant_05",))
    migrator = Migrator.from_config(project.conf)
    result = migrator.targets("tenant_0[1-5]", jobs=2, keep_going=True).upgrade()
    assert [r.outcome for r in result.results] == ["migrated"] * 4 + ["failed"]
    assert result.exit_status == 1 and result.results[0].value.version == 3
    statuses = migrator.targets(every=True).status()
    assert [r.value.current for r in statuses.results] == [3, 3, 3, 3, 1]
    from link_migration.errors import ConfigError

    with pytest.raises(ConfigError, match="defines TARGETS"):
        migrator.upgrade()
    assert names


# -- signals, in a real process ------------------------------------------------------------

def test_sigint_starts_no_new_target_and_running_ones_finish_their_migration(project):
    started = project.root / "started"
    started.mkdir()
    names = _fleet(project, 12, extra=textwrap.dedent(f"""\
        open({str(started)!r} + "/" + context.target, "w").close()
                import time; time.sleep(0.4)"""))
    process = subprocess.Popen(
        [sys.executable, "-m", "link_migration", "-c", str(project.conf), "--all-targets",
         "--jobs", "3"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        cwd=project.root)
    deadline = time.monotonic() + 30
    while len(os.listdir(started)) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, (out, err)
    assert "SIGINT: starting no new target" in err
    assert "(stopped by SIGINT)" in out and "not started" in out
    versions = [_version(project, name) for name in names]
    assert versions[:3] == [1, 1, 1]  # each finished the migration it was running, then stopped
    assert versions[3:] == [0] * 9
    ok(project.run("--all-targets"))  # the rerun is the resume
    assert all(_version(project, name) == 3 for name in names)


def test_a_rerun_after_kill_9_finishes_the_rest(project):
    names = _fleet(project, 6, extra="import time; time.sleep(0.2)")
    process = subprocess.Popen(
        [sys.executable, "-m", "link_migration", "-c", str(project.conf), "--all-targets",
         "--jobs", "2"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=project.root)
    time.sleep(1.0)
    process.kill()
    process.wait()
    ok(project.run("--all-targets"))
    assert all(_version(project, name) == 3 for name in names)
    ok(project.run("check", "--all-targets"))


def test_the_installed_target_dir_is_left_alone(project):
    _fleet(project, 2)
    assert Path(project.root / "db").is_dir()


def test_a_dry_run_over_targets_says_what_each_would_do(project):
    names = _fleet(project, 3)
    ok(project.run("--target", "tenant_01"))
    result = project.run("--all-targets", "--dry-run")
    ok(result)
    assert "tenant_01: Already at version 3: nothing to do." in result.out
    assert "tenant_02: Dry run" in result.out and "would migrate (dry run)" in result.out
    assert [_version(project, n) for n in names] == [3, 0, 0]


def test_on_a_terminal_a_live_progress_line_counts_the_targets(project):
    import pty

    _fleet(project, 6, extra="import time; time.sleep(0.15)")
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "link_migration", "-c", str(project.conf), "--all-targets",
         "--jobs", "2"], stdout=follower, stderr=follower, cwd=project.root)
    os.close(follower)
    output = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed: the process has ended
            break
        if not chunk:
            break
        output += chunk
    process.wait(timeout=60)
    os.close(leader)
    text = output.decode()
    assert process.returncode == 0, text
    assert "\r\x1b[Kmigrating: " in text and "targets done, 0 failed" in text
    assert "running" in text and "s left" in text
    assert text.count("Now at version 3") == 6


def test_a_target_whose_connection_exits_is_a_failure_not_a_silent_thread(project):
    (project.root / "db").mkdir()
    project.write_conf(f"""\
        import sqlite3, sys

        TARGETS = ["a", "b", "c"]

        def get_connection(target):
            if target == "b":
                sys.exit("no database for b")
            return sqlite3.connect({str(project.root / 'db')!r} + "/" + target + ".db")
        """)
    project.add_migration(1)
    result = project.run("--all-targets", "--jobs", "1", "--keep-going")
    assert result.status == 1, result
    assert "b: FAILED: no database for b" in result.out
    assert "not started" not in result.out


def test_conf_functions_that_cannot_take_the_target_stop_everything_first(project):
    project.write_conf("""\
        import sqlite3

        TARGETS = ["a", "b"]

        def get_connection():
            return sqlite3.connect("x.db")
        """)
    project.add_migration(1)
    assert_error(project.run("--all-targets"), "get_connection", "def get_connection(target):")
    assert project.log() == [] and not (project.root / "x.db").exists()


def test_a_store_without_target_in_its_name_is_refused(project):
    project.write_conf("TARGETS = ['a', 'b']\nDATABASE = 'app.db'\n")
    project.add_migration(1)
    assert_error(project.run("--all-targets"), "DATABASE", "no {target}",
                 "every target would be that same database")
    assert not (project.root / "app.db").exists()


def test_reading_goes_on_past_a_target_that_cannot_be_read(project):
    names = _fleet(project, 4)
    ok(project.run("--all-targets"))
    (project.root / "db" / "tenant_02.db").write_bytes(b"not a database at all, not at all")
    result = project.run("current", "--all-targets")
    assert result.status == 1
    assert "tenant_02  -        error: DATABASE" in result.out
    assert [line.split()[1] for line in result.out.splitlines()[1:]] == ["3", "-", "3", "3"]
    assert names


def test_resume_over_targets_resumes_where_a_migration_failed(project):
    names = _fleet(project, 3)
    (project.migrations / "002_t2.py").write_text(textwrap.dedent("""\
        import os
        version = 2
        transactional = False

        def up(context):
            if context.target == "tenant_02" and not os.path.exists("fixed"):
                raise RuntimeError("half done")
            context.execute("CREATE TABLE t2 (x)")

        def down(context):
            context.execute("DROP TABLE t2")
        """))
    assert project.run("--all-targets", "--keep-going").status == 1
    assert [_version(project, n) for n in names] == [3, 1, 3]
    assert project.run("--all-targets").status == 1  # refused there: 2 failed
    (project.root / "fixed").touch()
    ok(project.run("--all-targets", "--resume"))
    assert [_version(project, n) for n in names] == [3, 3, 3]
