"""`new`: writing the next migration file (SPEC section 5), through the real CLI and the real
authoring module, with real conf.py files and real migration folders."""
from __future__ import annotations

import ast
import os
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from checks import assert_error, ok

from link_migration import DiscoveryError, authoring
from link_migration.config import load_config
from link_migration.discovery import MigrationLoader, discover, locate_migrations

TIMESTAMP_NAME = re.compile(r"^(\d{14})_([a-z0-9_]+)\.py$")


# ============================================================================= helpers


def printed_path(result) -> Path:
    """`new` prints the new file's path, and only that, on stdout."""
    lines = result.out.strip().splitlines()
    assert len(lines) == 1, result.out
    path = Path(lines[0])
    assert path.is_absolute(), path
    assert path.is_file(), path
    return path


def same_file(a: Path, b: Path) -> bool:
    return a.resolve() == b.resolve()


def folder_snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def module_of(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), str(path))


def version_of(tree: ast.Module) -> object:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "version" for t in node.targets
        ):
            return ast.literal_eval(node.value)
    raise AssertionError("no version = ... in the file")


def functions_of(tree: ast.Module) -> dict[str, ast.FunctionDef]:
    return {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}


def timestamp_version(path: Path) -> datetime:
    match = TIMESTAMP_NAME.match(path.name)
    assert match, path.name
    version = version_of(module_of(path))
    assert version == int(match.group(1)), (version, path.name)
    return datetime.strptime(match.group(1), "%Y%m%d%H%M%S").replace(tzinfo=timezone.utc)


def config_and_migrations(project):
    config = load_config(str(project.conf), project.root, os.environ)
    folder = locate_migrations(config, project.root)
    catalogue = discover(folder, MigrationLoader(folder), exclude=[config.path])
    return config, folder.path, catalogue.migrations


# ============================================================================= sequential scheme


def test_new_writes_0001_and_prints_its_path(project) -> None:
    result = project.run("new", "Add users table")
    ok(result)
    assert result.err == ""
    path = printed_path(result)
    assert same_file(path, project.migrations / "0001_add_users_table.py")


def test_new_file_content_is_a_migration_that_does_nothing(project) -> None:
    path = printed_path(project.run("new", "Add users table"))
    tree = module_of(path)
    assert ast.get_docstring(tree) == "Add users table"
    assert version_of(tree) == 1
    functions = functions_of(tree)
    assert set(functions) >= {"up", "down"}
    for name in ("up", "down"):
        function = functions[name]
        assert [a.arg for a in function.args.args] == ["context"], name
        doc = ast.get_docstring(function)
        assert doc and "Add users table" in doc, (name, doc)
        # Nothing but the docstring and `pass`: it does nothing until edited.
        body = function.body[1:]
        assert all(isinstance(node, ast.Pass) for node in body), ast.dump(function)


def test_second_new_gets_the_next_version(project) -> None:
    first = printed_path(project.run("new", "Add users table"))
    second = printed_path(project.run("new", "Add email column"))
    assert same_file(first, project.migrations / "0001_add_users_table.py")
    assert same_file(second, project.migrations / "0002_add_email_column.py")
    assert version_of(module_of(second)) == 2
    # The first file is untouched by the second.
    assert version_of(module_of(first)) == 1


def test_next_version_is_highest_plus_one_even_with_gaps(project) -> None:
    project.add_migration(3)
    project.add_migration(10)
    path = printed_path(project.run("new", "After the gap"))
    assert same_file(path, project.migrations / "0011_after_the_gap.py")
    assert version_of(module_of(path)) == 11


def test_new_file_is_discovered_and_applied(project) -> None:
    project.add_migration(1)
    path = printed_path(project.run("new", "Add users table"))
    status = project.run("status", "--json")
    ok(status)
    assert '"0002_add_users_table.py"' in status.out
    result = project.run()
    ok(result)
    assert project.version() == "2"
    assert project.log() == ["up 1"]
    assert "Add users table" in result.out
    assert path.name in result.out
    # And it rolls back as well: its down(context) runs.
    ok(project.run("--down"))
    assert project.version() == "1"


def test_new_file_applied_on_a_sqlite_store(project) -> None:
    project.write_conf('DATABASE = "app.db"\n')
    printed_path(project.run("new", "First"))
    printed_path(project.run("new", "Second"))
    ok(project.run())
    current = project.run("current")
    ok(current)
    assert current.out.strip() == "2"
    check = project.run("check")
    assert check.status == 0, (check.out, check.err)


# ============================================================================= timestamp scheme


def test_timestamp_option_gives_a_utc_timestamp_version(project) -> None:
    project.add_migration(1)
    before = datetime.now(timezone.utc).replace(microsecond=0)
    path = printed_path(project.run("new", "Backfill emails", "--timestamp"))
    after = datetime.now(timezone.utc)
    assert path.name.endswith("_backfill_emails.py"), path.name
    stamp = timestamp_version(path)
    assert before - timedelta(seconds=2) <= stamp <= after + timedelta(seconds=2), (before, stamp, after)


def test_version_scheme_timestamp_in_conf(project) -> None:
    project.write_conf('VERSION_FILE = "version.txt"\nVERSION_SCHEME = "timestamp"\n')
    now = datetime.now(timezone.utc)
    path = printed_path(project.run("new", "Backfill emails"))
    stamp = timestamp_version(path)
    assert abs((stamp - now).total_seconds()) < 5, (stamp, now)
    assert path.name == f"{stamp:%Y%m%d%H%M%S}_backfill_emails.py"


def test_timestamp_migration_is_discovered_and_applied(project) -> None:
    project.write_conf('VERSION_FILE = "version.txt"\nVERSION_SCHEME = "timestamp"\n')
    path = printed_path(project.run("new", "Backfill emails"))
    version = version_of(module_of(path))
    ok(project.run())
    assert project.version() == str(version)


def test_sequential_scheme_is_explicitly_accepted(project) -> None:
    project.write_conf('VERSION_FILE = "version.txt"\nVERSION_SCHEME = "sequential"\n')
    path = printed_path(project.run("new", "Plain"))
    assert path.name == "0001_plain.py"


def test_unknown_version_scheme_is_exit_2(project) -> None:
    project.write_conf('VERSION_FILE = "version.txt"\nVERSION_SCHEME = "weird"\n')
    result = project.run("new", "Anything")
    assert_error(result, "VERSION_SCHEME")
    assert list(project.migrations.iterdir()) == []


# ============================================================================= slugs


@pytest.mark.parametrize(
    ("description", "expected"),
    [
        ("Créer les données", "creer_les_donnees"),
        ("Add users table!", "add_users_table"),
        ("  Add -- users ... TABLE?? ", "add_users_table"),
        ("rename `name` to 'full_name'", "rename_name_to_full_name"),
        ("Ångström naïve café", "angstrom_naive_cafe"),
        ("日本語", "migration"),
    ],
)
def test_slug(description: str, expected: str) -> None:
    assert authoring.slug(description) == expected


@pytest.mark.parametrize(
    ("description", "expected"),
    [("Straße", "strasse"), ("Łódź", "lodz")],
)
def test_slug_transliterates_letters_without_a_decomposition(description: str, expected: str) -> None:
    # "Non-ASCII letters transliterated": letters NFKD cannot split into ASCII + accent
    # (ß, Ł, Œ, Æ, Ø) must not be silently dropped ("Straße" -> "strae" is a different word).
    assert authoring.slug(description) == expected


def test_slug_in_the_file_name_is_transliterated(project) -> None:
    path = printed_path(project.run("new", "Créer les données"))
    assert path.name == "0001_creer_les_donnees.py"
    # The docstring keeps the description as written.
    assert ast.get_docstring(module_of(path)) == "Créer les données"


def test_punctuation_is_collapsed_in_the_file_name(project) -> None:
    path = printed_path(project.run("new", "Add: users -- TABLE (v2)!!"))
    assert path.name == "0001_add_users_table_v2.py"


@pytest.mark.parametrize("description", ["", "   ", "\t\n"])
def test_empty_description_is_exit_2(project, description: str) -> None:
    result = project.run("new", description)
    assert_error(result, "description")
    assert result.out == ""
    assert list(project.migrations.iterdir()) == []


# ============================================================================= never overwrites


def test_existing_file_of_the_target_name_is_not_overwritten(project) -> None:
    # A .py with no `version` is skipped by discovery, so the next version is still 1 and the
    # target name is this very file.
    existing = project.migrations / "0001_add_users_table.py"
    existing.write_bytes(b"# my notes, not a migration yet\n")
    before = folder_snapshot(project.migrations)
    result = project.run("new", "Add users table")
    assert_error(result, "0001_add_users_table.py")
    assert result.out == ""
    assert folder_snapshot(project.migrations) == before


def test_same_timestamp_twice_is_refused_and_keeps_the_first(project) -> None:
    fixed = datetime(2026, 11, 25, 19, 30, 0, tzinfo=timezone.utc)
    config, folder, migrations = config_and_migrations(project)
    first = authoring.new_migration(config, folder, migrations, "Backfill emails",
                                    timestamp=True, now=lambda: fixed)
    assert first.name == "20261125193000_backfill_emails.py"
    original = first.read_bytes()
    # As a second `new` would see it: the first file is discovered.
    config, folder, migrations = config_and_migrations(project)
    with pytest.raises(DiscoveryError) as raised:
        authoring.new_migration(config, folder, migrations, "Backfill emails",
                                timestamp=True, now=lambda: fixed)
    assert raised.value.exit_code == 2
    assert first.read_bytes() == original
    assert sorted(p.name for p in project.migrations.iterdir()) == [first.name]


def test_same_timestamp_other_description_is_refused(project) -> None:
    fixed = datetime(2026, 11, 25, 19, 30, 0, tzinfo=timezone.utc)
    config, folder, migrations = config_and_migrations(project)
    first = authoring.new_migration(config, folder, migrations, "One", timestamp=True, now=lambda: fixed)
    original = first.read_bytes()
    config, folder, migrations = config_and_migrations(project)
    with pytest.raises(DiscoveryError):
        authoring.new_migration(config, folder, migrations, "Two", timestamp=True, now=lambda: fixed)
    assert first.read_bytes() == original
    assert [p.name for p in project.migrations.iterdir()] == [first.name]


def test_existing_file_is_not_overwritten_even_if_not_discovered(project) -> None:
    # The same file name, written in between by someone else: `open(..., "x")` refuses it.
    fixed = datetime(2026, 11, 25, 19, 30, 0, tzinfo=timezone.utc)
    target = project.migrations / "20261125193000_backfill_emails.py"
    target.write_bytes(b"precious = True\n")
    config, folder, _ = config_and_migrations(project)
    with pytest.raises(DiscoveryError) as raised:
        authoring.new_migration(config, folder, (), "Backfill emails", timestamp=True, now=lambda: fixed)
    assert "exists" in raised.value.message
    assert target.read_bytes() == b"precious = True\n"


def test_timestamp_below_the_highest_version_is_refused(project) -> None:
    project.add_migration(99991231235959)
    before = folder_snapshot(project.migrations)
    result = project.run("new", "Too late", "--timestamp")
    assert_error(result)
    assert folder_snapshot(project.migrations) == before


# ============================================================================= templates


CUSTOM_TEMPLATE = '''\
"""$description"""
# made from our own template
version = $version


def up(context):
    """Up: $description"""
    context.config.TEMPLATE_USED = $version


def down(context):
    pass
'''


def test_custom_template_is_used(project) -> None:
    (project.root / "template.py.tmpl").write_text(CUSTOM_TEMPLATE)
    project.write_conf('VERSION_FILE = "version.txt"\nMIGRATION_TEMPLATE = "template.py.tmpl"\n')
    path = printed_path(project.run("new", "Add users table"))
    assert path.name == "0001_add_users_table.py"
    text = path.read_text()
    assert text == CUSTOM_TEMPLATE.replace("$description", "Add users table").replace("$version", "1")
    ok(project.run())
    assert project.version() == "1"


def test_custom_template_is_relative_to_conf_folder_not_cwd(project, monkeypatch) -> None:
    (project.root / "template.py.tmpl").write_text(CUSTOM_TEMPLATE)
    project.write_conf('VERSION_FILE = "version.txt"\nMIGRATION_TEMPLATE = "template.py.tmpl"\n')
    elsewhere = project.root / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "template.py.tmpl").write_text("this is not the template\n")
    monkeypatch.chdir(elsewhere)
    path = printed_path(project.run("new", "From elsewhere"))
    assert "# made from our own template" in path.read_text()


def test_custom_template_in_timestamp_scheme(project) -> None:
    (project.root / "template.py.tmpl").write_text(CUSTOM_TEMPLATE)
    project.write_conf('VERSION_FILE = "version.txt"\nMIGRATION_TEMPLATE = "template.py.tmpl"\n')
    path = printed_path(project.run("new", "Stamp", "--timestamp"))
    stamp = timestamp_version(path)
    assert f"TEMPLATE_USED = {stamp:%Y%m%d%H%M%S}" in path.read_text()


@pytest.mark.parametrize(
    ("template", "needle"),
    [
        ('"""$description"""\n\ndef up(context):\n    pass\n', "version"),
        ('"""$description"""\nversion = 7\n\ndef up(context):\n    pass\n', "version"),
        ('"""$description"""\nversion = $version\n\ndef up(context)\n    pass\n', "invalid Python"),
        ('"""$description"""\nversion = $version\n$unknown\n', "placeholder"),
    ],
    ids=["no-version", "fixed-version", "syntax-error", "bad-placeholder"],
)
def test_bad_template_is_exit_2_and_writes_nothing(project, template: str, needle: str) -> None:
    (project.root / "template.py.tmpl").write_text(template)
    project.write_conf('VERSION_FILE = "version.txt"\nMIGRATION_TEMPLATE = "template.py.tmpl"\n')
    result = project.run("new", "Add users table")
    assert_error(result, needle)
    assert result.out == ""
    assert list(project.migrations.iterdir()) == []


def test_missing_template_is_exit_2(project) -> None:
    project.write_conf('VERSION_FILE = "version.txt"\nMIGRATION_TEMPLATE = "nowhere.tmpl"\n')
    result = project.run("new", "Add users table")
    assert_error(result, "nowhere.tmpl")
    assert list(project.migrations.iterdir()) == []


# ============================================================================= awkward descriptions


@pytest.mark.parametrize(
    "description",
    [
        'say """hello"""',
        'a """ b',
        "back\\slash \\ here",
        "ends with a backslash \\",
        "costs $5 and ${x}",
        'rename column "name"',
        'quote at the end "',
    ],
)
def test_awkward_description_gives_a_file_that_parses(project, description: str) -> None:
    result = project.run("new", description)
    ok(result)
    path = printed_path(result)
    tree = module_of(path)  # raises SyntaxError if the file does not parse
    assert ast.get_docstring(tree) == description
    assert version_of(tree) == 1
    ok(project.run())
    assert project.version() == "1"


def test_multiline_description_is_one_line(project) -> None:
    path = printed_path(project.run("new", "first line\n  second   line"))
    assert ast.get_docstring(module_of(path)) == "first line second line"
    assert path.name == "0001_first_line_second_line.py"
