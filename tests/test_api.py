"""The Python API (Migrator) used from a test, without the command line, and conf.py's hooks
(before_migration, after_migration, after_run) through both the API and the CLI."""
from __future__ import annotations

import logging
import re

import pytest

from link_migration import (
    ConfigError,
    LinkMigrationError,
    LockTimeout,
    MigrationError,
    Migrator,
    PlanError,
)

DATABASE_CONF = 'DATABASE = "app.db"\n'

HOOKS = '''\
from pathlib import Path

_LOG = Path(__file__).with_name("log.txt")


def _write(line):
    with open(_LOG, "a") as log:
        log.write(line + "\\n")


def before_migration(context):
    _write(f"before {context.direction} {context.version}")
    {before_extra}


def after_migration(context):
    _write(f"after {context.direction} {context.version}")
    {after_extra}


def after_run(summary):
    _write(f"after_run {summary.version} {summary.versions}")
    {after_run_extra}
'''


# ============================================================================= helpers


def hooks_conf(project, store: str = 'VERSION_FILE = "version.txt"\n', *, before: str = "pass",
               after: str = "pass", after_run: str = "pass") -> None:
    project.write_conf(store + HOOKS.replace("{before_extra}", before)
                       .replace("{after_extra}", after).replace("{after_run_extra}", after_run))


def two(project, **options: str) -> None:
    project.add_migration(1, doc="First migration.", **options)
    project.add_migration(2, doc="Second migration.")


def migrator(project, **options) -> Migrator:
    return Migrator.from_config(project.conf, **options)


# ============================================================================= migrating


def test_upgrade_returns_the_result_and_prints_nothing(project, capsys) -> None:
    two(project)
    capsys.readouterr()
    result = migrator(project).upgrade()
    assert result.version == 2
    assert result.versions == [1, 2]
    assert project.version() == "2"
    assert project.log() == ["up 1", "up 2"]
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", "")


def test_upgrade_leaves_what_migrations_print_alone(project, capsys) -> None:
    project.add_migration(1, up="print('from migration 1')")
    project.add_migration(2)
    capsys.readouterr()
    result = migrator(project).upgrade()
    assert result.versions == [1, 2]
    captured = capsys.readouterr()
    assert captured.out == "from migration 1\n"  # as printed, not indented, nothing else
    assert captured.err == ""


def test_from_config_accepts_a_string_and_the_default(project) -> None:
    two(project)
    assert Migrator.from_config(str(project.conf)).current() == 0
    # No path: ./conf.py (the fixture's working directory is the project).
    assert Migrator.from_config().upgrade().version == 2


def test_upgrade_steps_and_nothing_to_do(project) -> None:
    two(project)
    m = migrator(project)
    assert m.upgrade(1).versions == [1]
    assert m.upgrade().versions == [2]
    again = m.upgrade()
    assert (again.version, again.versions) == (2, [])
    assert project.log() == ["up 1", "up 2"]


def test_downgrade(project) -> None:
    two(project)
    m = migrator(project)
    m.upgrade()
    result = m.downgrade(steps=1)
    assert (result.version, result.versions) == (1, [2])
    assert project.version() == "1"
    assert project.log()[-1] == "down 2"
    assert m.downgrade().versions == [1]
    assert m.current() == 0


def test_migrate_to(project) -> None:
    project.add_migration(1)
    project.add_migration(2)
    project.add_migration(3)
    m = migrator(project)
    result = m.migrate_to(2)
    assert (result.version, result.versions) == (2, [1, 2])
    assert m.current() == 2
    result = m.migrate_to(0)
    assert (result.version, result.versions) == (0, [2, 1])
    assert project.log() == ["up 1", "up 2", "down 2", "down 1"]


def test_dry_run_changes_nothing_and_returns_the_plan(project) -> None:
    two(project)
    result = migrator(project).upgrade(dry_run=True)
    assert result.dry_run is True
    assert [step.migration.version for step in result.plan.steps] == [1, 2]
    assert [step.direction for step in result.plan.steps] == ["up", "up"]
    assert result.versions == []
    assert result.version == 0
    assert project.log() == []
    assert not (project.root / "version.txt").exists()
    assert migrator(project).current() == 0


def test_dry_run_on_sqlite_creates_nothing(project) -> None:
    project.write_conf(DATABASE_CONF)
    two(project)
    result = migrator(project).upgrade(dry_run=True)
    assert len(result.plan.steps) == 2
    assert not (project.root / "app.db").exists()


def test_fake_records_without_running(project) -> None:
    two(project)
    result = migrator(project).upgrade(fake=True)
    assert result.fake is True
    assert (result.version, result.versions) == (2, [1, 2])
    assert project.log() == []
    assert project.version() == "2"


# ============================================================================= reading


def test_status_and_current(project) -> None:
    project.add_migration(1)
    project.add_migration(2)
    project.add_migration(3)
    m = migrator(project)
    m.upgrade(2)
    status = m.status()
    assert status.current == 2
    assert [(row.version, row.state) for row in status.migrations] == [
        (1, "applied"), (2, "applied"), (3, "pending")
    ]
    assert "version.txt" in status.store
    assert m.current() == 2
    assert isinstance(m.current(), int)


def test_check_returns_the_problems(project) -> None:
    two(project)
    m = migrator(project)
    assert [(p.kind, p.version) for p in m.check()] == [("pending", 1), ("pending", 2)]
    m.upgrade()
    assert m.check() == []
    (project.migrations / "helpers.py").write_text("X = 1\n")
    problems = migrator(project, warn=[].append).check()
    assert [(p.kind, p.version, p.file) for p in problems] == [("skipped", None, "helpers.py")]


def test_check_on_sqlite_kinds(project) -> None:
    project.write_conf(DATABASE_CONF)
    project.add_migration(1)
    project.add_migration(3)
    m = migrator(project)
    m.upgrade()
    project.add_migration(2)
    (project.migrations / "m3.py").unlink()
    assert sorted((p.kind, p.version) for p in m.check()) == [("missing", 3), ("out_of_order", 2)]


def test_history_on_sqlite(project) -> None:
    project.write_conf(DATABASE_CONF)
    two(project)
    m = migrator(project)
    assert m.history() == []
    m.upgrade()
    m.downgrade()
    entries = m.history()
    assert [(e.operation, e.version) for e in entries] == [("down", 2), ("up", 2), ("up", 1)]
    assert [e.version for e in m.history(limit=1)] == [2]
    assert all(e.file_name for e in entries)


def test_history_on_a_version_file_is_a_config_error(project) -> None:
    two(project)
    with pytest.raises(ConfigError) as raised:
        migrator(project).history()
    assert raised.value.exit_code == 2


def test_new(project) -> None:
    project.add_migration(1)
    m = migrator(project)
    path = m.new("x")
    assert path.name == "0002_x.py"
    assert path.resolve().parent == project.migrations.resolve()
    assert path.is_file()
    assert m.upgrade().versions == [1, 2]
    stamped = m.new("later", timestamp=True)
    assert len(stamped.name.split("_")[0]) == 14


def test_new_refuses_an_empty_description(project) -> None:
    with pytest.raises(ConfigError):
        migrator(project).new("  ")
    assert list(project.migrations.iterdir()) == []


# ============================================================================= errors


def test_unknown_target_is_a_plan_error(project) -> None:
    two(project)
    with pytest.raises(PlanError) as raised:
        migrator(project).migrate_to(99)
    assert raised.value.exit_code == 2
    assert "99" in raised.value.message
    assert project.log() == []
    assert not (project.root / "version.txt").exists()


def test_failing_migration_is_a_migration_error(project, capsys) -> None:
    project.add_migration(1)
    project.add_migration(2, up="raise ValueError('boom')")
    project.add_migration(3)
    capsys.readouterr()
    with pytest.raises(MigrationError) as raised:
        migrator(project).upgrade()
    error = raised.value
    assert error.exit_code == 1
    assert "boom" in error.message
    assert "m2.py" in error.message
    assert error.hint
    assert "ValueError" in error.detail
    assert isinstance(error.__cause__, ValueError)
    assert project.log() == ["up 1", "up 2"]
    assert project.version() == "1"
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", "")


def test_broken_conf_is_a_config_error(project) -> None:
    project.write_conf("this is not python\n")
    with pytest.raises(ConfigError) as raised:
        Migrator.from_config(project.conf)
    assert raised.value.exit_code == 2


def test_conf_without_a_store_is_a_config_error(project) -> None:
    project.write_conf("X = 1\n")
    project.add_migration(1)
    with pytest.raises(ConfigError):
        migrator(project).upgrade()
    assert project.log() == []


def test_missing_conf_is_a_config_error(project) -> None:
    with pytest.raises(ConfigError):
        Migrator.from_config(project.root / "nowhere.py")


def test_errors_are_exceptions_not_exits(project) -> None:
    project.add_migration(1, up="import sys\nsys.exit(3)")
    with pytest.raises(LinkMigrationError) as raised:
        migrator(project).upgrade()
    assert isinstance(raised.value, MigrationError)
    assert project.version() == ""


# ============================================================================= warnings


def test_warnings_go_to_the_warn_callable(project, capsys) -> None:
    two(project)
    (project.migrations / "helpers.py").write_text("X = 1\n")
    warnings: list[str] = []
    capsys.readouterr()
    result = Migrator.from_config(project.conf, warn=warnings.append).upgrade()
    assert result.versions == [1, 2]
    assert len(warnings) == 1, warnings
    assert "helpers.py" in warnings[0]
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", "")


def test_warnings_go_to_the_logger_by_default(project, caplog, capsys) -> None:
    two(project)
    (project.migrations / "helpers.py").write_text("X = 1\n")
    capsys.readouterr()
    with caplog.at_level(logging.WARNING, logger="link_migration"):
        result = migrator(project).upgrade()
    assert result.versions == [1, 2]
    records = [r for r in caplog.records if r.name == "link_migration"]
    assert len(records) == 1, records
    assert records[0].levelno == logging.WARNING
    assert "helpers.py" in records[0].getMessage()
    assert capsys.readouterr().out == ""


def test_modified_warning_on_sqlite(project) -> None:
    project.write_conf(DATABASE_CONF)
    path = project.add_migration(1)
    project.add_migration(2)
    migrator(project).upgrade(1)
    path.write_text(path.read_text() + "# edited\n")
    warnings: list[str] = []
    result = migrator(project, warn=warnings.append).upgrade()
    assert result.versions == [2]
    assert any("changed" in w and "m1.py" in w for w in warnings), warnings


# ============================================================================= hooks


EXPECTED_ORDER = [
    "before up 1", "up 1", "after up 1",
    "before up 2", "up 2", "after up 2",
    "after_run 2 [1, 2]",
]


def test_hooks_order_through_the_api(project) -> None:
    hooks_conf(project)
    two(project)
    result = migrator(project).upgrade()
    assert result.versions == [1, 2]
    assert project.log() == EXPECTED_ORDER


def test_hooks_order_through_the_cli(project) -> None:
    hooks_conf(project)
    two(project)
    result = project.run()
    assert result.status == 0, result.err
    assert project.log() == EXPECTED_ORDER


def test_hooks_order_on_sqlite(project) -> None:
    hooks_conf(project, DATABASE_CONF)
    two(project)
    assert project.run().status == 0
    assert project.log() == EXPECTED_ORDER


def test_hooks_around_a_rollback(project) -> None:
    hooks_conf(project)
    two(project)
    assert project.run().status == 0
    assert project.run("--down").status == 0
    assert project.log()[len(EXPECTED_ORDER):] == [
        "before down 2", "down 2", "after down 2", "after_run 1 [2]",
    ]


def test_hooks_are_read_once_when_the_run_starts(project) -> None:
    # README, Hooks: rebinding a hook during a run does not change that run.
    hooks_conf(project)
    project.add_migration(1, up="import conf; conf.before_migration = conf.after_migration = None; "
                               "conf.after_run = 5")
    project.add_migration(2)
    result = project.run()
    assert result.status == 0, result.err
    assert project.log() == EXPECTED_ORDER


@pytest.mark.parametrize("hook", ["before_migration", "after_migration", "after_run"])
def test_a_hook_that_is_not_a_function_stops_the_run_before_anything_changes(project, hook) -> None:
    project.write_conf(f'DATABASE = "app.db"\n{hook} = 5\n')
    two(project)
    result = project.run()
    assert result.status == 2
    assert f"{hook} in {project.conf} is 5, not a function" in result.err
    assert "Traceback" not in result.err
    assert project.log() == []
    assert not (project.root / "app.db").exists()


@pytest.mark.parametrize("hook, argument", [
    ("before_migration", "context"), ("after_migration", "context"), ("after_run", "summary"),
])
@pytest.mark.parametrize("parameters", ["", "a, b"])
def test_a_hook_that_cannot_take_its_argument_stops_the_run_before_anything_changes(
    project, hook, argument, parameters
) -> None:
    project.write_conf(f'DATABASE = "app.db"\n\n\ndef {hook}({parameters}):\n    pass\n')
    two(project)
    result = project.run()
    assert result.status == 2
    line = project.conf.read_text().splitlines().index(f"def {hook}({parameters}):") + 1
    assert (f"{project.conf}, line {line}: {hook}({parameters}) must take one argument, "
            f"the {argument}") in result.err
    assert f"Define it as def {hook}({argument}):" in result.err
    assert "Traceback" not in result.err
    assert project.log() == []
    assert not (project.root / "app.db").exists()


def test_after_run_summary(project) -> None:
    hooks_conf(project, after_run="import conf; conf.SUMMARY = summary")
    two(project)
    m = migrator(project)
    result = m.upgrade()
    summary = m.config.module.SUMMARY
    assert summary.version == 2
    assert summary.versions == [1, 2]
    assert summary.seconds >= 0
    assert [s.migration.version for s in summary.plan.steps] == [1, 2]
    assert result.versions == summary.versions


def test_hooks_get_the_migration_context(project) -> None:
    hooks_conf(project, before="_write(f'ctx {context.migration.name} {context.config.__name__ != None}')")
    project.add_migration(1)
    assert project.run().status == 0
    assert project.log() == ["before up 1", "ctx m1.py True", "up 1", "after up 1", "after_run 1 [1]"]


FAIL_ON_2 = "if context.version == 2: raise RuntimeError('hook says no')"


def test_failing_before_migration_stops_the_run_cli(project) -> None:
    hooks_conf(project, before=FAIL_ON_2)
    two(project)
    project.add_migration(3)
    result = project.run()
    assert result.status == 1, (result.out, result.err)
    assert "before_migration" in result.err
    assert "hook says no" in result.err
    assert project.log() == ["before up 1", "up 1", "after up 1", "before up 2"]
    assert project.version() == "1"


def test_failing_before_migration_stops_the_run_api(project) -> None:
    hooks_conf(project, before=FAIL_ON_2)
    two(project)
    with pytest.raises(MigrationError) as raised:
        migrator(project).upgrade()
    assert raised.value.exit_code == 1
    assert "before_migration" in raised.value.message
    assert "up 2" not in project.log()
    assert migrator(project).current() == 1


def test_failing_before_migration_on_sqlite(project) -> None:
    hooks_conf(project, DATABASE_CONF, before=FAIL_ON_2)
    two(project)
    result = project.run()
    assert result.status == 1
    assert "before_migration" in result.err
    assert "up 2" not in project.log()
    assert migrator(project).current() == 1
    assert [(row.version, row.state) for row in migrator(project).status().migrations] == [
        (1, "applied"), (2, "pending")
    ]


def test_failing_after_migration_stops_the_run(project) -> None:
    hooks_conf(project, DATABASE_CONF, after="if context.version == 1: raise RuntimeError('after no')")
    two(project)
    result = project.run()
    assert result.status == 1
    assert "after_migration" in result.err
    assert "after no" in result.err
    assert "up 2" not in project.log()
    assert "after_run" not in "\n".join(project.log())
    # Inside the step's transaction: a SQL store rolls the step back.
    assert migrator(project).current() == 0


def test_failing_after_run_is_exit_1_with_everything_recorded(project) -> None:
    hooks_conf(project, after_run="raise RuntimeError('after_run no')")
    two(project)
    result = project.run()
    assert result.status == 1, (result.out, result.err)
    assert "after_run" in result.err
    assert "after_run no" in result.err
    assert project.log() == EXPECTED_ORDER
    assert project.version() == "2"


def test_failing_after_run_through_the_api(project) -> None:
    hooks_conf(project, DATABASE_CONF, after_run="raise RuntimeError('after_run no')")
    two(project)
    with pytest.raises(MigrationError) as raised:
        migrator(project).upgrade()
    assert raised.value.exit_code == 1
    assert "after_run" in raised.value.message
    assert migrator(project).current() == 2
    assert migrator(project).check() == []


def test_failing_run_does_not_call_after_run(project) -> None:
    hooks_conf(project)
    project.add_migration(1, up="raise RuntimeError('boom')")
    result = project.run()
    assert result.status == 1
    assert project.log() == ["before up 1", "up 1"]


def test_hooks_not_called_on_dry_run(project) -> None:
    hooks_conf(project)
    two(project)
    result = project.run("--dry-run")
    assert result.status == 0, result.err
    assert project.log() == []
    migrator(project).upgrade(dry_run=True)
    assert project.log() == []


def test_migration_hooks_not_called_on_fake(project) -> None:
    hooks_conf(project)
    two(project)
    result = project.run("--fake")
    assert result.status == 0, result.err
    assert project.version() == "2"
    assert not any(line.startswith(("before", "after ", "up")) for line in project.log()), project.log()


def test_no_hook_called_on_fake(project) -> None:
    # README: "Hooks are not called by --dry-run or --fake, which run no migration."
    hooks_conf(project)
    two(project)
    result = project.run("--fake")
    assert result.status == 0, result.err
    assert project.version() == "2"
    assert project.log() == []


def test_no_hook_called_on_fake_through_the_api(project) -> None:
    hooks_conf(project)
    two(project)
    assert migrator(project).upgrade(fake=True).versions == [1, 2]
    assert project.log() == []


# ============================================================================= the API's own words

# An option of the command line in a message: "--to", "--out-of-order", "-c", ...
CLI_OPTION = re.compile(r"(?:^|[\s(`'\"])--?[A-Za-z]")


def assert_in_api_words(error: LinkMigrationError, *needles: str) -> None:
    """The message and hint name the API's own methods and parameters, never a flag."""
    text = f"{error.message}\n{error.hint}"
    assert not CLI_OPTION.search(text), text
    for needle in needles:
        assert needle in text, (needle, text)


def sql_out_of_order(project) -> Migrator:
    """Versions 1 and 3 applied on SQLite, 2 added late."""
    project.write_conf(DATABASE_CONF)
    project.add_migration(1)
    project.add_migration(3)
    migrator(project).upgrade()
    project.add_migration(2)
    return migrator(project)


PLAN_ERRORS = {
    "unknown target": (lambda m: m.migrate_to(7), ("migrate_to(7)", "nearest")),
    "negative target": (lambda m: m.migrate_to(-1), ("migrate_to(-1)",)),
    "down more than applied": (lambda m: m.downgrade(5), ("downgrade(steps=5)", "steps=2",
                                                          "migrate_to(0)")),
    "down zero": (lambda m: m.downgrade(0), ("downgrade(steps=0)",)),
    "up zero": (lambda m: m.upgrade(0), ("upgrade(steps=0)",)),
}


@pytest.mark.parametrize(("call", "needles"), PLAN_ERRORS.values(), ids=PLAN_ERRORS.keys())
def test_plan_errors_name_the_api_not_the_command_line(project, call, needles) -> None:
    two(project)
    migrator(project).upgrade()
    with pytest.raises(PlanError) as raised:
        call(migrator(project))
    assert_in_api_words(raised.value, *needles)
    assert project.log() == ["up 1", "up 2"]


def test_out_of_order_refusal_names_the_parameter(project) -> None:
    m = sql_out_of_order(project)
    with pytest.raises(PlanError) as raised:
        m.upgrade()
    assert_in_api_words(raised.value, "out_of_order=True", "m2.py")
    with pytest.raises(PlanError) as raised:
        m.migrate_to(2)
    assert_in_api_words(raised.value, "migrate_to(2)", "out_of_order=True")
    assert m.upgrade(out_of_order=True).versions == [2]


CONF_ERRORS = {
    "empty name": ("", "conf"),
    "a folder": ("migrations", "Migrator.from_config("),
    "a missing file": ("nowhere/conf.py", "conf"),
}


@pytest.mark.parametrize(("conf", "needle"), CONF_ERRORS.values(), ids=CONF_ERRORS.keys())
def test_conf_errors_name_the_api_not_the_command_line(project, conf, needle) -> None:
    with pytest.raises(ConfigError) as raised:
        Migrator.from_config(conf)
    assert_in_api_words(raised.value, needle)


def test_no_conf_at_all_names_the_api_not_the_command_line(elsewhere) -> None:
    with pytest.raises(ConfigError) as raised:
        Migrator.from_config()
    assert_in_api_words(raised.value, "Migrator.from_config(", "LINK_MIGRATION_CONFIG")


def test_the_command_line_keeps_its_flags_in_the_same_messages(project) -> None:
    """The same errors through the CLI name its options, as the README shows."""
    sql_out_of_order(project)
    result = project.run()
    assert result.status == 2 and "--out-of-order" in result.err, result.err
    result = project.run("--to", "7")
    assert result.status == 2 and "--to 7: no migration has version 7" in result.err, result.err
    result = project.run("--down", "5")
    assert result.status == 2 and "--down 5" in result.err and "--to 0" in result.err, result.err
    result = project.run("-c", "", conf=False)
    assert result.status == 2 and "-c" in result.err, result.err
    result = project.run("-c", "migrations", conf=False)
    assert result.status == 2 and "for example -c " in result.err, result.err


def test_lock_and_authoring_errors_name_the_api_not_the_command_line(project) -> None:
    project.write_conf("""\
        VERSION_FILE = "version.txt"
        def acquire_lock():
            return False
        def release_lock():
            pass
        """)
    project.add_migration(1)
    with pytest.raises(LockTimeout) as raised:
        Migrator.from_config(str(project.conf), lock_timeout=0).upgrade()
    assert_in_api_words(raised.value, "lock_timeout", "Migrator.unlock()")
    with pytest.raises(ConfigError) as raised:
        migrator(project).new("   ")
    assert_in_api_words(raised.value, 'Migrator.new("add users table")')
    result = project.run("--lock-timeout", "0")
    assert result.status == 3 and "--lock-timeout" in result.err and "link-migration unlock" in result.err
