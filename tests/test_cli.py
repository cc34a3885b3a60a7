"""Running migrations through main(argv): directions, dry run, fake, failures, output."""
from __future__ import annotations

import re

import pytest

from link_migration import __version__
from link_migration.cli import main


def _three(project) -> None:
    for version in (1, 2, 3):
        project.add_migration(version, doc=f"Migration number {version}.")


def test_default_is_up_to_the_latest(project):
    _three(project)
    result = project.run()
    assert result.status == 0
    assert project.log() == ["up 1", "up 2", "up 3"]
    assert project.version() == "3"
    assert "Now at version 3" in result.out


def test_up_n_applies_only_the_next_n(project):
    _three(project)
    assert project.run("--up", "2").status == 0
    assert project.log() == ["up 1", "up 2"]
    assert project.run("-u").status == 0
    assert project.log() == ["up 1", "up 2", "up 3"]


def test_down_rolls_back_the_last_one_by_default(project):
    _three(project)
    project.run()
    result = project.run("--down")
    assert result.status == 0
    assert project.log()[3:] == ["down 3"]
    assert project.version() == "2"


def test_down_n_rolls_back_in_descending_order_to_zero(project):
    _three(project)
    project.run()
    assert project.run("-d", "3").status == 0
    assert project.log()[3:] == ["down 3", "down 2", "down 1"]
    assert project.version() == "0"


@pytest.mark.parametrize("flag", ["--to=2", "-t2", "--to", "-t"])
def test_to_goes_up_then_down(project, flag):
    _three(project)
    args = [flag] if "2" in flag else [flag, "2"]
    assert project.run(*args).status == 0
    assert project.log() == ["up 1", "up 2"]
    assert project.run("--to", "0").status == 0
    assert project.log()[2:] == ["down 2", "down 1"]
    assert project.version() == "0"


def test_to_current_version_says_so_and_succeeds(project):
    _three(project)
    project.run("--to", "2")
    result = project.run("--to", "2")
    assert result.status == 0
    assert "Already at version 2" in result.out
    assert project.log() == ["up 1", "up 2"]


def test_to_unknown_version_names_the_nearest(project):
    project.add_migration(10)
    project.add_migration(20)
    result = project.run("--to", "15")
    assert result.status == 2
    assert "no migration has version 15" in result.err
    assert "10 and 20" in result.err
    assert project.log() == []
    assert project.version() == ""


@pytest.mark.parametrize(
    "argv, complaint",
    [
        (["--to", "abc"], "'abc' is not a version"),
        (["--to=-1"], "a version is 0 or more"),
        (["--down", "0"], "must be 1 or more"),
        (["--up", "0"], "must be 1 or more"),
        (["--up", "--down"], "not allowed with"),
        (["--bogus"], "unrecognized arguments"),
    ],
)
def test_usage_errors_exit_2_with_a_clear_message(project, argv, complaint):
    _three(project)
    result = project.run(*argv)
    assert result.status == 2
    assert result.err.startswith("link-migration: error: ")
    assert complaint in result.err
    assert "--help" in result.err
    assert "Traceback" not in result.err
    assert project.log() == []


def test_down_more_than_applied_is_an_error_and_changes_nothing(project):
    _three(project)
    project.run("--to", "2")
    result = project.run("--down", "3")
    assert result.status == 2
    assert "more than is applied" in result.err
    assert project.log() == ["up 1", "up 2"]
    assert project.version() == "2"


def test_down_with_nothing_applied_is_an_error(project):
    _three(project)
    result = project.run("--down")
    assert result.status == 2
    assert "Nothing is applied" in result.err


def test_nothing_pending_exits_0(project):
    _three(project)
    project.run()
    result = project.run()
    assert result.status == 0
    assert "nothing to do" in result.out
    assert project.log() == ["up 1", "up 2", "up 3"]


def test_failing_migration_stops_the_run_and_keeps_the_last_completed_version(project):
    project.add_migration(1)
    project.add_migration(2, up="raise ValueError('boom in two')")
    project.add_migration(3)
    result = project.run()
    assert result.status == 1
    assert project.log() == ["up 1", "up 2"]
    assert project.version() == "1"
    assert "migration 2 (up)" in result.err
    assert "m2.py" in result.err
    assert "ValueError: boom in two" in result.err
    assert "holds version 1" in result.err
    # The traceback is the migration's own, not ours.
    assert "Traceback (most recent call last)" in result.err
    assert 'm2.py", line' in result.err
    assert "runner.py" not in result.err


def test_type_error_inside_a_migration_is_not_retried(project):
    # A TypeError raised inside up(context) must not make us call up() again without it.
    (project.migrations / "m1.py").write_text(
        "version = 1\n"
        "def up(context):\n"
        f"    open({str(project.log_path)!r}, 'a').write('called\\n')\n"
        "    len(5)\n"
    )
    result = project.run()
    assert result.status == 1
    assert project.log() == ["called"]
    assert "TypeError" in result.err
    assert project.version() == ""


def test_failing_down_keeps_the_version_below_what_completed(project):
    project.add_migration(1)
    project.add_migration(2, down="raise RuntimeError('cannot undo')")
    project.add_migration(3)
    project.run()
    result = project.run("--to", "0")
    assert result.status == 1
    assert project.log()[3:] == ["down 3", "down 2"]
    assert project.version() == "2"
    assert "RuntimeError: cannot undo" in result.err


def test_context_reaches_migrations_that_take_one_argument(project):
    project.write_conf('VERSION_FILE = "version.txt"\nROOT_DIR = "from-conf"\n')
    out = project.root / "seen.txt"
    (project.migrations / "ctx.py").write_text(
        "version = 4\n"
        "def up(self):\n"
        f"    open({str(out)!r}, 'w').write("
        "f'{self.config.ROOT_DIR} {self.version} {self.direction} {self.migration.name} {self.dry_run}')\n"
    )
    assert project.run().status == 0
    assert out.read_text() == "from-conf 4 up ctx.py False"


def test_migration_output_is_indented_under_its_step(project):
    project.add_migration(1, up="print('hello from one')", doc="First.")
    result = project.run()
    lines = result.out.splitlines()
    start = lines.index("[1/1] up 1 m1.py: First.")
    assert lines[start + 1] == "      hello from one"
    assert re.fullmatch(r"      done in [0-9.]+ (ms|s)", lines[start + 2])
    assert re.search(r"Now at version 1: applied 1 migration \(version 1\) in ", result.out)


def test_dry_run_prints_the_plan_with_docstrings_and_changes_nothing(project):
    (project.migrations / "one.py").write_text(
        '"""Create things."""\nversion = 1\n'
        'def up():\n    """Make the table."""\n    raise SystemExit("must not run")\n'
    )
    for flag in ("--dry-run", "--no-exec"):
        result = project.run(flag)
        assert result.status == 0, result.err
        assert "[1/1] up 1 one.py: Create things." in result.out
        assert "up: Make the table." in result.out
        assert "nothing will run or be recorded" in result.out
    assert project.version() == ""


def test_dry_run_of_a_rollback_shows_down_docstrings(project):
    project.add_migration(1)
    (project.migrations / "two.py").write_text(
        'version = 2\ndef up():\n    pass\ndef down():\n    """Drop the table."""\n'
    )
    project.run()
    result = project.run("--down", "--dry-run")
    assert result.status == 0
    assert "[1/1] down 2 two.py" in result.out
    assert "down: Drop the table." in result.out
    assert project.version() == "2"


def test_fake_records_versions_without_running_anything(project):
    _three(project)
    result = project.run("--fake", "--to", "2")
    assert result.status == 0
    assert project.log() == []
    assert project.version() == "2"
    assert "fake up 1" in result.out
    assert project.run().status == 0
    assert project.log() == ["up 3"]


def test_fake_does_not_even_import_the_migrations(project):
    project.add_migration(1, header="raise RuntimeError('imported!')")
    result = project.run("--fake")
    assert result.status == 0, result.err
    assert project.version() == "1"


def test_store_version_without_a_file_warns_on_up(project):
    project.add_migration(1)
    project.add_migration(5)
    (project.root / "version.txt").write_text("3")
    result = project.run()
    assert result.status == 0
    assert "no migration file has that version" in result.err
    assert project.log() == ["up 5"]


def test_store_version_without_a_file_blocks_a_rollback_across_it(project):
    project.add_migration(1)
    (project.root / "version.txt").write_text("3")
    result = project.run("--down")
    assert result.status == 2
    assert "cannot roll back version 3" in result.err
    assert project.version() == "3"


def test_store_newer_than_every_file_up_warns_and_succeeds(project):
    project.add_migration(1)
    (project.root / "version.txt").write_text("9")
    result = project.run()
    assert result.status == 0
    assert "warning" in result.err
    assert project.log() == []


def test_current_prints_the_number_alone(project):
    _three(project)
    project.run("--to", "2")
    result = project.run("current")
    assert result.status == 0
    assert result.out == "2\n"


def test_version_flag(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"link-migration {__version__}"


def test_help_has_examples(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "--to" in out and "examples:" in out


def test_migration_printing_without_newline_does_not_break_our_lines(project):
    project.add_migration(1, up="print('partial', end='')")
    result = project.run()
    assert "      partial\n      done in" in result.out


@pytest.mark.parametrize("call", ["sys.exit(0)", "sys.exit('cannot go on')", "raise SystemExit(3)"])
def test_sys_exit_in_a_migration_is_a_failure_not_an_exit(project, call):
    project.add_migration(1)
    project.add_migration(2, header="import sys", up=call)
    project.add_migration(3)
    result = project.run()
    assert result.status == 1
    assert "migration 2 (up)" in result.err and "SystemExit" in result.err
    assert project.log() == ["up 1", "up 2"]
    assert project.version() == "1"


@pytest.mark.parametrize("definition", ["async def up():\n    pass\n", "def up():\n    yield 1\n"])
def test_async_or_generator_up_is_refused_before_anything_runs(project, definition):
    project.add_migration(1)
    (project.migrations / "m2.py").write_text("version = 2\n" + definition)
    result = project.run()
    assert result.status == 2
    assert "m2.py" in result.err and "async or a generator" in result.err
    assert project.log() == []


def test_partial_line_of_a_failing_migration_is_ended(project):
    project.add_migration(1, up="print('half', end='')\nraise ValueError('x')")
    result = project.run()
    assert result.status == 1
    assert result.out.endswith("      half\n")


def test_empty_config_name_is_an_error(project):
    project.add_migration(1)
    result = project.run("-c", "", conf=False)
    assert result.status == 2
    assert "empty" in result.err
    assert project.log() == []


def test_empty_folder_still_checks_the_request(project):
    (project.root / "version.txt").write_text("4")
    result = project.run("--to", "5")
    assert result.status == 2
    assert "no migration has version 5" in result.err
    assert project.run().out.startswith("No migrations in")


def test_import_conf_in_a_migration_does_not_run_conf_twice(project):
    counter = project.root / "conf_runs.txt"
    project.write_conf(f'VERSION_FILE = "version.txt"\nopen({str(counter)!r}, "a").write("x")\n')
    project.add_migration(1, header="import conf", up="assert conf.VERSION_FILE == 'version.txt'")
    result = project.run()
    assert result.status == 0, result.err
    assert counter.read_text() == "x"
