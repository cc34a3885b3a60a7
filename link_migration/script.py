"""``--sql``: the script a plan would run, printed instead of run (SPEC 8), for a DBA to review
or to run by hand with the database's own client (sqlite3, psql, mariadb).

The script does what the run would: it creates link-migration's tables where they are
missing, runs each migration's statements in its transaction (or outside one, when it is
marked so), and records each step in the history and the log, with the values written in.
It does not take link-migration's lock: run it while no other run is under way.
"""
from __future__ import annotations

from typing import Sequence

from .errors import DiscoveryError
from .stores.base import utc_timestamp, who_am_i

TYPE_CHECKING = False  # typing itself costs milliseconds to import; type checkers know this name

if TYPE_CHECKING:
    from .discovery import MigrationLoader
    from .plan import Plan, Step
    from .stores.sql import SqlStore


def render(plan: Plan, store: SqlStore, loader: MigrationLoader, *, fake: bool = False) -> str:
    """The whole script, ending with a newline. DiscoveryError for a Python migration in the
    plan (it has no SQL to print), unless ``fake``, which runs no migration."""
    flavour = store.sql_flavour()
    bodies = [] if fake else [_statements(step, loader, flavour) for step in plan.steps]
    setup, seq = store.script_setup()
    now, by = utc_timestamp(3), who_am_i()
    begin = store.script_begin()
    lines = [
        f"-- link-migration --sql: {_what(plan)} on {store.describe()}",
        f"-- printed {now} by {by}; it takes no lock: run it while no other run is under way.",
        "",
    ]
    if setup:
        lines.append("-- link-migration's own tables")
        lines += _block([begin, *setup, "COMMIT"], flavour)
    for index, step in enumerate(plan.steps):
        migration = step.migration
        lines.append(f"-- {'fake ' if fake else ''}{step.direction} {migration.version} "
                     f"{migration.name}")
        statements, transactional = bodies[index] if not fake else ([], True)
        record = store.script_record(step, fake=fake, seq=seq + index, now=now, by=by)
        if transactional:
            lines += _block([begin, *statements, *record, "COMMIT"], flavour)
        else:
            lines += _block(statements, flavour) + _block([begin, *record, "COMMIT"], flavour)
    return "\n".join(lines) + "\n"


def _what(plan: Plan) -> str:
    if not plan.steps:
        return f"nothing to do at version {plan.current}"
    return (f"migrate {plan.steps[0].direction} from version {plan.current} to "
            f"{plan.steps[-1].version_after}")


def _statements(step: Step, loader: MigrationLoader, flavour: str) -> tuple[list[str], bool]:
    migration = step.migration
    function = getattr(loader.load(migration.filename), step.direction, None)
    if not hasattr(function, "statements"):
        raise DiscoveryError(
            f"{migration.path}: migration {migration.version} is a Python migration, and "
            "--sql prints SQL only: nothing was printed",
            "Run the plan with link-migration, stop --sql's plan before it (--to), or record "
            "it without running it (--fake).",
        )
    script = function.for_flavour(flavour)  # type: ignore[union-attr]
    return [text for _, _, text in script.statements], script.transactional


def _block(statements: Sequence[str], flavour: str) -> list[str]:
    """Each statement with its terminator. MySQL's client ends a statement at the first
    semicolon, so one with semicolons inside (a trigger's body) goes between DELIMITER
    lines, as mysqldump writes them."""
    lines = []
    for statement in statements:
        if flavour == "mysql" and ";" in statement:
            lines += ["DELIMITER $$", f"{statement}$$", "DELIMITER ;"]
        else:
            lines.append(f"{statement};")
    return lines
