"""What the command line prints where (SPEC section 5): colour only on a terminal, never with
NO_COLOR unless --color always; -q and -v; common options after a subcommand; --help.

In-process runs write to pytest's capture, which is not a terminal; the terminal cases run the
real program in a subprocess whose stdout is a pseudo-terminal."""
from __future__ import annotations

import json
import os
import pty
import subprocess
import sys

import pytest

from checks import ok

ESC = "\x1b["
COMMANDS = ("status", "current", "history", "new", "check", "unlock")


# ============================================================================= helpers


def no_escapes(result) -> None:
    assert ESC not in result.out, repr(result.out)
    assert ESC not in result.err, repr(result.err)


def two(project) -> None:
    project.add_migration(1, doc="First migration.")
    project.add_migration(2, doc="Second migration.")


def failing(project) -> None:
    project.add_migration(1, doc="First migration.")
    project.add_migration(2, doc="Broken migration.", up="raise RuntimeError('boom')")


def each_command(project, *options: str) -> list:
    """A run, a failing run, status and check, with ``options``; each result."""
    results = []
    two(project)
    run = project.run(*options)
    ok(run)
    results.append(run)
    project.add_migration(3, up="raise RuntimeError('boom')")
    failed = project.run(*options)
    assert failed.status == 1, (failed.out, failed.err)
    results.append(failed)
    status = project.run("status", *options)
    ok(status)
    results.append(status)
    check = project.run("check", *options)
    assert check.status == 1, (check.out, check.err)
    results.append(check)
    return results


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("NO_COLOR", "LINK_MIGRATION_CONFIG", "FORCE_COLOR")}
    env.update(extra)
    return env


def run_on_terminal(project, argv: list[str], env: dict[str, str], *, stderr_too: bool = True):
    """Run the real program with stdout (and stderr) on a pseudo-terminal: (status, tty, err)."""
    master, slave = pty.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "link_migration", "-c", str(project.conf), *argv],
            cwd=project.root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=slave,
            stderr=slave if stderr_too else subprocess.PIPE,
        )
    finally:
        os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: every holder of the terminal's other side has closed it
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    err = process.stderr.read().decode() if process.stderr else ""
    if process.stderr:
        process.stderr.close()
    status = process.wait(timeout=60)
    return status, b"".join(chunks).decode(errors="replace"), err


# ============================================================================= not a terminal


def test_auto_colour_is_off_when_not_a_terminal(project) -> None:
    for result in each_command(project):
        no_escapes(result)
    # and the error did reach stderr, plainly
    failed = project.run()
    assert "link-migration: error:" in failed.err


def test_color_never_has_no_escapes(project) -> None:
    for result in each_command(project, "--color", "never"):
        no_escapes(result)


def test_no_color_env_turns_auto_off(project, monkeypatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    for result in each_command(project):
        no_escapes(result)
    for result in (project.run("--color", "auto"), project.run("status", "--color", "auto")):
        no_escapes(result)


def test_color_always_paints_step_lines(project) -> None:
    two(project)
    result = project.run("--color", "always")
    ok(result)
    step_lines = [line for line in result.out.splitlines() if line.startswith("[")]
    assert len(step_lines) == 2, result.out
    for line in step_lines:
        assert ESC in line, repr(line)
    assert f"[1/2] {ESC}32mup{ESC}0m 1 m1.py" in result.out, repr(result.out)


def test_color_always_paints_the_error_prefix(project) -> None:
    failing(project)
    result = project.run("--color", "always")
    assert result.status == 1
    first = result.err.splitlines()[0]
    assert first.startswith("link-migration: "), repr(first)
    assert ESC in first, repr(first)
    assert "error" in first


def test_color_always_wins_over_no_color(project, monkeypatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    two(project)
    result = project.run("--color", "always")
    ok(result)
    assert ESC in result.out


def test_color_always_paints_status_and_check(project) -> None:
    two(project)
    ok(project.run("--up", "1"))
    status = project.run("status", "--color", "always")
    ok(status)
    assert ESC in status.out
    check = project.run("check", "--color", "always")
    assert check.status == 1
    assert ESC in check.out


def test_json_has_no_escapes_even_with_color_always(project) -> None:
    two(project)
    ok(project.run("--up", "1"))
    for argv in (("status", "--json"), ("check", "--json")):
        result = project.run(*argv, "--color", "always")
        assert ESC not in result.out, argv


def test_bad_color_value_is_a_usage_error(project) -> None:
    result = project.run("--color", "sometimes")
    assert result.status == 2
    assert "link-migration: error:" in result.err


# ============================================================================= a real terminal


def test_auto_colour_on_a_terminal(project) -> None:
    two(project)
    status, tty, _ = run_on_terminal(project, [], clean_env())
    assert status == 0, tty
    assert ESC in tty, repr(tty)
    assert "Now at version 2" in tty
    assert (project.root / "version.txt").read_text().strip() == "2"


def test_auto_colour_on_a_terminal_error(project) -> None:
    failing(project)
    status, tty, _ = run_on_terminal(project, [], clean_env())
    assert status == 1, tty
    error_lines = [line for line in tty.splitlines() if line.startswith("link-migration: ")]
    assert error_lines and ESC in error_lines[0], repr(tty)


def test_no_color_env_on_a_terminal(project) -> None:
    two(project)
    status, tty, _ = run_on_terminal(project, [], clean_env(NO_COLOR="1"))
    assert status == 0, tty
    assert "Now at version 2" in tty
    assert ESC not in tty, repr(tty)


def test_no_color_env_on_a_terminal_error(project) -> None:
    failing(project)
    status, tty, _ = run_on_terminal(project, [], clean_env(NO_COLOR="1"))
    assert status == 1, tty
    assert "link-migration: error:" in tty
    assert ESC not in tty, repr(tty)


def test_color_never_on_a_terminal(project) -> None:
    two(project)
    status, tty, _ = run_on_terminal(project, ["--color", "never"], clean_env())
    assert status == 0, tty
    assert ESC not in tty, repr(tty)


def test_colour_is_decided_per_stream(project) -> None:
    # stdout is a terminal, stderr a pipe: the error on stderr must be plain.
    failing(project)
    status, tty, err = run_on_terminal(project, [], clean_env(), stderr_too=False)
    assert status == 1
    assert ESC in tty, repr(tty)
    assert "link-migration: error:" in err
    assert ESC not in err, repr(err)


def test_status_on_a_terminal(project) -> None:
    two(project)
    ok(project.run("--up", "1"))
    status, tty, _ = run_on_terminal(project, ["status"], clean_env())
    assert status == 0, tty
    assert ESC in tty
    status, tty, _ = run_on_terminal(project, ["status"], clean_env(NO_COLOR="1"))
    assert status == 0, tty
    assert "pending" in tty
    assert ESC not in tty


# ============================================================================= -q


def test_quiet_success_prints_nothing(project) -> None:
    project.add_migration(1, up="print('hello from migration 1')")
    project.add_migration(2, up="print('hello', end='')")
    result = project.run("-q")
    assert (result.status, result.out, result.err) == (0, "", "")
    assert project.version() == "2"
    assert project.log() == ["up 1", "up 2"]


def test_quiet_nothing_to_do_prints_nothing(project) -> None:
    two(project)
    ok(project.run())
    result = project.run("-q")
    assert (result.status, result.out, result.err) == (0, "", "")


def test_quiet_down_and_fake_print_nothing(project) -> None:
    two(project)
    ok(project.run())
    result = project.run("-q", "--down")
    assert (result.status, result.out, result.err) == (0, "", "")
    result = project.run("--quiet", "--fake")
    assert (result.status, result.out, result.err) == (0, "", "")
    assert project.version() == "2"


def test_quiet_hides_warnings(project) -> None:
    two(project)
    (project.migrations / "helpers.py").write_text("X = 1\n")
    loud = project.run("--dry-run")
    assert "warning" in loud.err  # the skipped file is warned about ...
    result = project.run("-q")
    assert (result.status, result.out, result.err) == (0, "", "")  # ... but not with -q


def test_quiet_failing_run_prints_only_the_error(project) -> None:
    project.add_migration(1, up="print('chatty migration')")
    project.add_migration(2, up="print('about to fail')\nraise RuntimeError('boom')")
    result = project.run("-q")
    assert result.status == 1
    assert result.out == ""
    assert result.err.startswith("link-migration: error: migration 2"), result.err
    assert "RuntimeError: boom" in result.err
    assert "chatty" not in result.err and "about to fail" not in result.err
    assert "[1/2]" not in result.err and "Migrating" not in result.err
    assert project.version() == "1"


def test_quiet_config_error_prints_only_the_error(project) -> None:
    project.write_conf("X = 1\n")
    result = project.run("-q")
    assert result.status == 2
    assert result.out == ""
    assert result.err.startswith("link-migration: error:")


def test_quiet_check_success_prints_nothing(project) -> None:
    two(project)
    ok(project.run())
    result = project.run("check", "-q")
    assert (result.status, result.out, result.err) == (0, "", "")


def test_quiet_still_prints_what_was_asked_for(project) -> None:
    two(project)
    ok(project.run())
    current = project.run("current", "-q")
    assert (current.status, current.out.strip()) == (0, "2")
    new = project.run("new", "-q", "third")
    ok(new)
    assert new.out.strip().endswith("0003_third.py")


def test_quiet_and_verbose_together_is_a_usage_error(project) -> None:
    result = project.run("-q", "-v")
    assert result.status == 2
    assert "link-migration: error:" in result.err


# ============================================================================= -v


def test_verbose_adds_the_conf_line(project) -> None:
    two(project)
    plain = project.run("--dry-run")
    ok(plain)
    assert "conf:" not in plain.out
    verbose = project.run("-v", "--dry-run")
    ok(verbose)
    assert f"conf: {project.conf}" in verbose.out
    assert verbose.out.count("\n") > plain.out.count("\n")


def test_verbose_run_still_runs(project) -> None:
    two(project)
    result = project.run("--verbose")
    ok(result)
    assert "conf:" in result.out
    assert "Now at version 2" in result.out
    assert project.log() == ["up 1", "up 2"]


INTERNAL_ERROR_CONF = '''\
VERSION_FILE = "version.txt"

def __getattr__(name):
    # A conf module whose attribute lookup fails with something other than AttributeError.
    raise RuntimeError("conf lookup of " + name)
'''


def test_conf_getattr_that_fails_is_a_configuration_error(project) -> None:
    # Settings are read through the module; a failing module __getattr__ is conf.py's own
    # error (exit 2, no traceback), with or without -v.
    project.add_migration(1)
    project.write_conf(INTERNAL_ERROR_CONF)
    for argv in ((), ("-v",)):
        result = project.run(*argv)
        assert result.status == 2, result.err
        assert "RuntimeError: conf lookup of" in result.err
        assert "Traceback" not in result.err
    assert project.log() == []


# ============================================================================= options after the command


def test_options_after_the_subcommand(project) -> None:
    two(project)
    ok(project.run("--up", "1"))
    # -c after the command
    result = project.run("status", "-c", str(project.conf), conf=False)
    ok(result)
    assert "Current version: 1" in result.out
    # -q after the command: the answer is still printed, nothing else
    quiet = project.run("status", "-q", "-c", str(project.conf), conf=False)
    ok(quiet)
    assert quiet.out == result.out
    assert quiet.err == ""
    # -v after the command
    verbose = project.run("status", "-v", "-c", str(project.conf), conf=False)
    ok(verbose)
    assert f"conf: {project.conf}" in verbose.out
    # --color after the command
    coloured = project.run("status", "--color", "always", "-c", str(project.conf), conf=False)
    ok(coloured)
    assert ESC in coloured.out
    assert ESC not in result.out


def test_quiet_after_check(project) -> None:
    two(project)
    ok(project.run())
    loud = project.run("check", "-c", str(project.conf), conf=False)
    ok(loud)
    assert "OK" in loud.out
    quiet = project.run("check", "-q", "-c", str(project.conf), conf=False)
    assert (quiet.status, quiet.out, quiet.err) == (0, "", "")


def test_options_before_the_subcommand_are_kept(project) -> None:
    two(project)
    ok(project.run())
    quiet = project.run("-q", "check")
    assert (quiet.status, quiet.out, quiet.err) == (0, "", "")
    verbose = project.run("-v", "check")
    assert "conf:" in verbose.out
    coloured = project.run("--color", "always", "status")
    assert ESC in coloured.out


def test_config_file_alias_after_the_subcommand(project) -> None:
    two(project)
    ok(project.run())
    result = project.run("current", "--config-file", str(project.conf), conf=False)
    assert (result.status, result.out.strip()) == (0, "2")


def test_color_after_new(project) -> None:
    result = project.run("new", "Add users table", "--color", "never", "-q")
    ok(result)
    assert result.out.strip().endswith("0001_add_users_table.py")


# ============================================================================= --help


def test_program_help(project) -> None:
    result = project.run("--help", conf=False)
    assert result.status == 0
    assert "example" in result.out
    for command in COMMANDS:
        assert command in result.out, command
    assert "exit status" in result.out


@pytest.mark.parametrize("command", COMMANDS)
def test_command_help(project, command: str) -> None:
    result = project.run(command, "--help", conf=False)
    assert result.status == 0, result.err
    assert "example" in result.out, result.out
    assert f"link-migration {command}" in result.out
    assert result.err == ""


@pytest.mark.parametrize("command", COMMANDS)
def test_command_help_with_conf(project, command: str) -> None:
    result = project.run(command, "-h")
    assert result.status == 0, result.err
    assert "example" in result.out


def test_help_in_a_subprocess(project) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "link_migration", "check", "--help"],
        cwd=project.root, env=clean_env(), capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "example" in done.stdout


# ============================================================================= control characters

RED = "\x1b[31m"
# File names a terminal would act on: colour, a carriage return that overwrites the line,
# a newline that forges one, a backspace.
HOSTILE_NAMES = {
    "escape": (f"m1_{RED}red.py", "m1_\\x1b[31mred.py"),
    "carriage return": ("m1_\rforged.py", "m1_\\rforged.py"),
    "newline": ("m1_\nforged.py", "m1_\\nforged.py"),
    "backspace": ("m1_\x08x.py", "m1_\\x08x.py"),
}
# The docstring is Python source, where these escapes become the characters themselves (a \r
# or \n would end the line, and the first line is the description); shown, they read as the
# source does, é included.
HOSTILE_DOC = "Crée la table \\x1b[2Jtout\\x07 effacé"
HOSTILE_DOC_SHOWN = HOSTILE_DOC


def raw_controls(text: str) -> list[str]:
    """The control characters in ``text`` other than the newlines that end our lines."""
    return [c for c in text if not c.isprintable() and c != "\n"]


def hostile_project(project, name: str) -> None:
    project.write_conf('DATABASE = "app.db"\n')
    project.add_migration(1, name=name, doc=HOSTILE_DOC)
    source = (project.migrations / name).read_text()
    (project.migrations / name).write_text(
        source.replace("def up():\n", 'def up():\n    "Up \\x1b]0;title\\x07 here."\n')
    )


@pytest.mark.parametrize(("name", "shown"), HOSTILE_NAMES.values(), ids=HOSTILE_NAMES.keys())
@pytest.mark.parametrize("argv", [
    ("--dry-run",), (), ("status",), ("check",), ("history",), ("--down",),
], ids=["dry-run", "run", "status", "check", "history", "down"])
def test_control_characters_in_names_and_descriptions_are_escaped(project, name, shown, argv) -> None:
    hostile_project(project, name)
    if argv in (("history",), ("--down",), ("check",)):
        ok(project.run())
    if argv == ("check",):  # a pending migration, for check to name
        project.add_migration(2, name=name.replace("m1_", "m2_"), doc=HOSTILE_DOC)
        shown = shown.replace("m1_", "m2_")
    result = project.run(*argv)
    assert result.status in (0, 1), (result.status, result.out, result.err)
    assert raw_controls(result.out) == [], repr(result.out)
    assert raw_controls(result.err) == [], repr(result.err)
    assert shown in result.out, result.out
    if argv not in (("history",), ("check",)):
        assert HOSTILE_DOC_SHOWN in result.out, result.out
    if argv == ("--dry-run",):
        assert "Up \\x1b]0;title\\x07 here." in result.out


@pytest.mark.parametrize(("name", "shown"), HOSTILE_NAMES.values(), ids=HOSTILE_NAMES.keys())
def test_control_characters_in_an_error_naming_a_file_are_escaped(project, name, shown) -> None:
    project.add_migration(1, name=name)
    project.add_migration(1, name="m1_plain.py")
    result = project.run()
    assert result.status == 2, (result.out, result.err)
    assert raw_controls(result.err) == [], repr(result.err)
    assert shown in result.err


@pytest.mark.parametrize(("name", "shown"), HOSTILE_NAMES.values(), ids=HOSTILE_NAMES.keys())
def test_control_characters_in_a_warning_naming_a_file_are_escaped(project, name, shown) -> None:
    (project.migrations / name).write_text("def helper():\n    pass\n")
    result = project.run()
    ok(result)
    assert raw_controls(result.err) == [], repr(result.err)
    assert shown in result.err


@pytest.mark.parametrize(("name", "shown"), HOSTILE_NAMES.values(), ids=HOSTILE_NAMES.keys())
@pytest.mark.parametrize("command", ["status", "check"])
def test_json_keeps_the_real_names(project, name, shown, command) -> None:
    hostile_project(project, name)
    result = project.run(command, "--json")
    document = json.loads(result.out)
    listed = document["migrations"] if command == "status" else document["problems"]
    assert listed[0]["file"] == name
    if command == "status":
        assert listed[0]["description"] == "Crée la table \x1b[2Jtout\x07 effacé"


def test_migration_output_is_left_as_it_is(project) -> None:
    """What a migration prints is its own: colour or a progress bar must still work."""
    project.add_migration(1, up=f"print({RED!r} + 'red' + '\\r')")
    result = project.run()
    ok(result)
    assert f"{RED}red\r" in result.out
