"""conf.py: how it is found (-c, $LINK_MIGRATION_CONFIG, ./conf.py), how it fails, and
how MIGRATIONS_DIR is resolved (SPEC sections 2 and 5). Everything goes through the real CLI."""
from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from checks import assert_error

from link_migration.config import CLI_WORDING, load_config
from link_migration.errors import ConfigError

STORE = 'VERSION_FILE = "version.txt"\n'


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def assert_nothing_ran(project) -> None:
    assert project.log() == []
    assert not (project.root / "version.txt").exists()


def conf_line(text: str, marker: str) -> int:
    """1-based number of the line of ``text`` containing ``marker``."""
    for number, line in enumerate(text.splitlines(), start=1):
        if marker in line:
            return number
    raise AssertionError(f"{marker!r} not in conf text")


# ---------------------------------------------------------------- finding the conf


def test_c_absolute_path_from_another_folder(project, elsewhere):
    project.add_migration(1)
    assert project.conf.is_absolute()
    result = project.run()  # -c /abs/path/conf.py
    assert result.status == 0, result.err
    assert project.log() == ["up 1"]
    assert project.version() == "1"
    assert not (elsewhere / "version.txt").exists()


def test_c_relative_path_is_relative_to_working_directory(project, elsewhere):
    project.add_migration(1)
    project.add_migration(2)
    result = project.run("-c", os.path.join("..", "conf.py"), conf=False)
    assert result.status == 0, result.err
    assert project.log() == ["up 1", "up 2"]
    assert project.version() == "2"


def test_c_relative_path_in_subfolder(project, monkeypatch):
    sub = project.root / "sub"
    write(sub / "conf.py", f"MIGRATIONS_DIR = {str(project.migrations)!r}\n{STORE}")
    project.conf.unlink()  # ./conf.py must not be what gets used
    project.add_migration(1)
    result = project.run("-c", "sub/conf.py", conf=False)
    assert result.status == 0, result.err
    assert project.log() == ["up 1"]
    assert (sub / "version.txt").read_text().strip() == "1"


def test_config_file_alias(project, elsewhere):
    project.add_migration(3)
    result = project.run("--config-file", str(project.conf), conf=False)
    assert result.status == 0, result.err
    assert project.log() == ["up 3"]
    assert project.version() == "3"


def test_c_after_current_subcommand(project, elsewhere):
    project.add_migration(4)
    assert project.run().status == 0
    result = project.run("current", "-c", str(project.conf), conf=False)
    assert result.status == 0, result.err
    assert result.out == "4\n"


def test_c_before_current_subcommand_is_kept(project, elsewhere):
    project.add_migration(4)
    assert project.run().status == 0
    result = project.run("-c", str(project.conf), "current", conf=False)
    assert result.status == 0, result.err
    assert result.out == "4\n"


def test_config_file_alias_after_current_subcommand(project, elsewhere):
    (project.root / "version.txt").write_text("6\n")
    project.add_migration(1)
    result = project.run("current", "--config-file", str(project.conf), conf=False)
    assert result.status == 0, result.err
    assert result.out == "6\n"


def test_dotted_module_name_in_working_directory(project):
    project.conf.unlink()
    write(project.root / "myconf.py", f"MIGRATIONS_DIR = 'migrations'\n{STORE}")
    project.add_migration(1)
    result = project.run("-c", "myconf", conf=False)
    assert result.status == 0, result.err
    assert project.log() == ["up 1"]
    assert project.version() == "1"


def test_dotted_package_module_name(project):
    project.conf.unlink()
    write(project.root / "pkg" / "__init__.py", "")
    settings = write(
        project.root / "pkg" / "settings.py",
        f"MIGRATIONS_DIR = {str(project.migrations)!r}\n{STORE}",
    )
    project.add_migration(1)
    result = project.run("-c", "pkg.settings", conf=False)
    assert result.status == 0, result.err
    assert project.log() == ["up 1"]
    # VERSION_FILE is relative to the conf module's own folder.
    assert (settings.parent / "version.txt").read_text().strip() == "1"
    assert not (project.root / "version.txt").exists()


def test_load_config_dotted_name_gives_module_file(project):
    write(project.root / "pkg" / "__init__.py", "")
    settings = write(project.root / "pkg" / "settings.py", "MARK = 'dotted'\n")
    config = load_config("pkg.settings", project.root, {})
    assert config.get("MARK") == "dotted"
    assert config.path.resolve() == settings.resolve()
    assert config.folder.resolve() == settings.parent.resolve()


def test_environment_variable_used_without_c(project, elsewhere, monkeypatch):
    monkeypatch.setenv("LINK_MIGRATION_CONFIG", str(project.conf))
    project.add_migration(1)
    result = project.run(conf=False)
    assert result.status == 0, result.err
    assert project.log() == ["up 1"]
    assert project.version() == "1"


def test_c_wins_over_environment_variable(project, elsewhere, monkeypatch):
    monkeypatch.setenv("LINK_MIGRATION_CONFIG", str(project.root / "does_not_exist.py"))
    project.add_migration(1)
    result = project.run()
    assert result.status == 0, result.err
    assert project.log() == ["up 1"]


def test_environment_variable_wins_over_local_conf(project, monkeypatch):
    other = write(
        project.root / "other" / "conf.py",
        f"MIGRATIONS_DIR = {str(project.migrations)!r}\n{STORE}",
    )
    monkeypatch.setenv("LINK_MIGRATION_CONFIG", str(other))
    project.add_migration(1)
    result = project.run(conf=False)  # cwd holds conf.py too
    assert result.status == 0, result.err
    assert (other.parent / "version.txt").read_text().strip() == "1"
    assert not (project.root / "version.txt").exists()


def test_environment_variable_naming_missing_file(project, elsewhere, monkeypatch):
    missing = project.root / "nope" / "conf.py"
    monkeypatch.setenv("LINK_MIGRATION_CONFIG", str(missing))
    project.add_migration(1)
    result = project.run(conf=False)
    assert_error(result, str(missing), "LINK_MIGRATION_CONFIG")
    assert_nothing_ran(project)


def test_local_conf_py_used_without_c_or_environment(project):
    project.add_migration(1)
    project.add_migration(2)
    result = project.run(conf=False)
    assert result.status == 0, result.err
    assert project.log() == ["up 1", "up 2"]
    assert project.version() == "2"


def test_no_configuration_at_all(project, elsewhere):
    project.add_migration(1)
    result = project.run(conf=False)
    assert_error(result, "-c", "LINK_MIGRATION_CONFIG", "conf.py")
    assert_nothing_ran(project)


def test_no_configuration_for_current(project, elsewhere):
    result = project.run("current", conf=False)
    assert_error(result, "-c")
    assert result.out == ""


def test_load_config_without_any_source_raises(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(None, tmp_path, {}, wording=CLI_WORDING)
    assert "LINK_MIGRATION_CONFIG" in info.value.message
    assert "-c" in info.value.hint
    with pytest.raises(ConfigError) as info:
        load_config(None, tmp_path, {})  # the Python API's words
    assert "-c" not in f"{info.value.message} {info.value.hint}"
    assert "Migrator.from_config('path/to/conf.py')" in info.value.hint


# ---------------------------------------------------------------- conf errors


def test_conf_file_missing(project):
    project.add_migration(1)
    missing = project.root / "nowhere" / "conf.py"
    result = project.run("-c", str(missing), conf=False)
    assert_error(result, str(missing))
    assert_nothing_ran(project)


def test_conf_file_missing_relative(project):
    project.add_migration(1)
    result = project.run("-c", "missing_conf.py", conf=False)
    assert_error(result, "missing_conf.py")
    assert_nothing_ran(project)


def test_c_naming_a_folder(project):
    project.add_migration(1)
    result = project.run("-c", str(project.migrations), conf=False)
    assert_error(result, str(project.migrations), "folder")
    assert_nothing_ran(project)


def test_c_naming_a_folder_relative(project):
    project.add_migration(1)
    result = project.run("-c", "migrations", conf=False)
    assert_error(result, "migrations", "folder")
    assert_nothing_ran(project)


def test_conf_syntax_error_names_file_and_line(project):
    project.add_migration(1)
    project.write_conf(STORE + "x = 1\ndef broken(:\n    pass\n")
    line = conf_line(project.conf.read_text(), "def broken")
    result = project.run()
    assert_error(result, f"{project.conf}, line {line}")
    assert_nothing_ran(project)


def test_conf_raising_at_import_names_line(project):
    project.add_migration(1)
    project.write_conf(STORE + "x = 1\nraise RuntimeError('conf exploded')\ny = 2\n")
    line = conf_line(project.conf.read_text(), "conf exploded")
    result = project.run()
    assert_error(result, f"{project.conf}, line {line}", "RuntimeError", "conf exploded")
    assert_nothing_ran(project)


def test_conf_raising_inside_function_at_import_names_conf_line(project):
    project.add_migration(1)
    project.write_conf(STORE + "def helper():\n    return 1 / 0\n\nVALUE = helper()\n")
    line = conf_line(project.conf.read_text(), "1 / 0")
    result = project.run()
    assert_error(result, f"{project.conf}, line {line}", "ZeroDivisionError")
    assert_nothing_ran(project)


def test_conf_importing_missing_module(project):
    project.add_migration(1)
    project.write_conf(STORE + "import os\nimport no_such_module_for_lm\n")
    line = conf_line(project.conf.read_text(), "no_such_module_for_lm")
    result = project.run()
    assert_error(result, "no_such_module_for_lm", f"{project.conf}, line {line}")
    assert_nothing_ran(project)


def test_conf_errors_also_stop_current(project):
    project.write_conf(STORE + "raise ValueError('bad conf')\n")
    result = project.run("current")
    assert_error(result, str(project.conf), "bad conf")
    assert result.out == ""


@pytest.mark.parametrize("name", ["no_such_conf_module", "no_such_pkg_lm.settings"])
def test_dotted_conf_name_that_does_not_import(project, name):
    project.conf.unlink()
    project.add_migration(1)
    result = project.run("-c", name, conf=False)
    assert_error(result, name.split(".")[0])
    assert_nothing_ran(project)


def test_dotted_conf_missing_submodule(project):
    project.conf.unlink()
    write(project.root / "pkg" / "__init__.py", "")
    project.add_migration(1)
    result = project.run("-c", "pkg.nosettings", conf=False)
    assert_error(result, "pkg.nosettings")
    assert_nothing_ran(project)


def test_dotted_conf_raising_at_import_names_file_and_line(project):
    project.conf.unlink()
    broken = write(project.root / "brokenconf.py", f"{STORE}raise KeyError('dotted boom')\n")
    project.add_migration(1)
    result = project.run("-c", "brokenconf", conf=False)
    assert_error(result, f"{broken}, line 2", "KeyError", "dotted boom")
    assert_nothing_ran(project)


def test_dotted_conf_raising_inside_library_call_names_conf_line(project):
    # The exception comes out of pathlib.py, but the line to fix is in the conf module.
    project.conf.unlink()
    broken = write(
        project.root / "brokenconf.py",
        f"import pathlib\n{STORE}X = pathlib.Path('no_such_state.txt').read_text()\n",
    )
    project.add_migration(1)
    result = project.run("-c", "brokenconf", conf=False)
    assert_error(result, "FileNotFoundError", f"{broken}, line 3")
    assert_nothing_ran(project)


def test_dotted_conf_with_syntax_error_names_file_and_line(project):
    project.conf.unlink()
    broken = write(project.root / "brokenconf.py", f"{STORE}x = (\n")
    project.add_migration(1)
    result = project.run("-c", "brokenconf", conf=False)
    assert_error(result, str(broken), "line 2")
    assert_nothing_ran(project)


def test_dotted_conf_importing_missing_module(project):
    project.conf.unlink()
    write(project.root / "brokenconf.py", f"{STORE}import no_such_module_for_lm\n")
    project.add_migration(1)
    result = project.run("-c", "brokenconf", conf=False)
    assert_error(result, "no_such_module_for_lm", "brokenconf.py, line 2")
    assert_nothing_ran(project)


# ---------------------------------------------------------------- MIGRATIONS_DIR


def test_migrations_dir_absent_means_conf_folder(project, elsewhere):
    project.write_conf(STORE, migrations_dir=None)
    project.migrations = project.root  # migrations sit beside conf.py
    project.add_migration(1)
    project.add_migration(2)
    result = project.run()
    assert result.status == 0, result.err
    assert project.log() == ["up 1", "up 2"]
    assert project.version() == "2"
    assert "skipped" not in result.err  # conf.py itself is not taken for a migration


def test_migrations_dir_relative_to_conf_folder_from_other_cwd(project, elsewhere):
    project.add_migration(1)
    result = project.run()
    assert result.status == 0, result.err
    assert project.log() == ["up 1"]
    assert project.version() == "1"


def test_migrations_dir_beside_conf_wins_over_working_directory(project, elsewhere):
    project.add_migration(1)
    decoy = elsewhere / "migrations" / "m9.py"
    write(decoy, "version = 9\ndef up():\n    raise RuntimeError('decoy ran')\n")
    result = project.run()
    assert result.status == 0, result.err
    assert project.log() == ["up 1"]
    assert project.version() == "1"


def test_migrations_dir_relative_to_working_directory(project):
    sub = project.root / "sub"
    write(sub / "conf.py", f"MIGRATIONS_DIR = 'migrations'\n{STORE}")
    project.conf.unlink()
    project.add_migration(1)  # in <cwd>/migrations, not beside sub/conf.py
    result = project.run("-c", str(sub / "conf.py"), conf=False)
    assert result.status == 0, result.err
    assert project.log() == ["up 1"]
    assert (sub / "version.txt").read_text().strip() == "1"


def test_migrations_dir_absolute(project, elsewhere):
    folder = project.root / "deep" / "place"
    folder.mkdir(parents=True)
    project.write_conf(STORE, migrations_dir=str(folder))
    project.migrations = folder
    project.add_migration(5)
    result = project.run()
    assert result.status == 0, result.err
    assert project.log() == ["up 5"]
    assert project.version() == "5"


def test_migrations_dir_naming_a_file(project):
    (project.root / "notes.txt").write_text("not a folder\n")
    project.write_conf(STORE, migrations_dir="notes.txt")
    result = project.run()
    assert_error(result, "notes.txt", str(project.conf))
    assert_nothing_ran(project)


@pytest.mark.parametrize("name", ["no/such/dir", "no_such_migrations_lm"])
def test_migrations_dir_missing_names_places_looked(project, elsewhere, name):
    project.write_conf(STORE, migrations_dir=name)
    result = project.run()
    assert_error(result, str(project.root / name), str(elsewhere / name), str(project.conf))
    assert_nothing_ran(project)


def test_migrations_dir_dotted_module_not_a_package(project, elsewhere):
    write(project.root / "mypkg" / "__init__.py", "")
    write(project.root / "mypkg" / "plain.py", "X = 1\n")
    project.write_conf(STORE, migrations_dir="mypkg.plain")
    result = project.run()
    assert_error(result, "mypkg.plain", "package")
    assert_nothing_ran(project)


def test_migrations_dir_dotted_package_beside_conf_from_other_cwd(project, elsewhere):
    write(project.root / "mypkg" / "__init__.py", "")
    package = project.root / "mypkg" / "migs"
    write(package / "__init__.py", "")
    project.write_conf(STORE, migrations_dir="mypkg.migs")
    project.migrations = package
    project.add_migration(1)
    project.add_migration(2)
    result = project.run()
    assert result.status == 0, result.err
    assert project.log() == ["up 1", "up 2"]
    assert project.version() == "2"


def test_migrations_dir_empty_folder(project):
    result = project.run()
    assert result.status == 0, result.err
    assert "No migrations" in result.out
    assert project.log() == []


def test_conf_folder_importable_for_migrations(project, elsewhere):
    write(project.root / "helpers.py", "VALUE = 42\n")
    write(project.root / "lazyhelpers.py", "VALUE = 'lazy'\n")
    out = project.root / "seen.txt"
    project.add_migration(
        1,
        header="import helpers\n",
        up=f"""
        import lazyhelpers
        with open({str(out)!r}, 'w') as f:
            f.write(f'{{helpers.VALUE}} {{lazyhelpers.VALUE}}')
        """,
    )
    result = project.run()
    assert result.status == 0, result.err
    assert project.log() == ["up 1"]
    assert out.read_text() == "42 lazy"
    assert not (elsewhere / "helpers.py").exists()


def test_conf_module_is_made_as_importlib_makes_it(tmp_path: Path) -> None:
    """conf.py may read files beside it through its loader, as any imported module may."""
    write(tmp_path / "settings.txt", "from the loader\n")
    conf = write(tmp_path / "conf.py", textwrap.dedent("""\
        import pkgutil
        VERSION_FILE = "version.txt"
        ORIGIN = __spec__.origin
        SETTINGS = __loader__.get_data(__file__.replace("conf.py", "settings.txt"))
        """))
    config = load_config(str(conf), tmp_path, {})
    assert config.module.ORIGIN == str(conf)
    assert config.module.SETTINGS == b"from the loader\n"
