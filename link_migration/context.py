"""The one argument a migration's up()/down() may take."""
from __future__ import annotations

from types import ModuleType
from typing import Any

from .dialects import dialect_for
from .discovery import Migration
from .errors import StoreError


class MigrationContext:
    """What a running migration may want to know.

    The original README's ``def up(self): self.config.ROOT_DIR`` works because the context
    is what ``self`` receives.
    """

    __slots__ = ("config", "version", "direction", "migration", "dry_run", "connection", "target")
    config: ModuleType
    version: int
    direction: str
    migration: Migration
    dry_run: bool
    connection: Any
    target: str | None  # the fleet's target this runs on (SPEC 11); None without TARGETS

    def __init__(
        self,
        config: ModuleType,
        version: int,
        direction: str,
        migration: Migration,
        dry_run: bool = False,
        connection: Any = None,
        target: str | None = None,
    ) -> None:
        assign = object.__setattr__  # past our own __setattr__, which refuses
        assign(self, "config", config)
        assign(self, "version", version)
        assign(self, "direction", direction)
        assign(self, "migration", migration)
        assign(self, "dry_run", dry_run)
        assign(self, "connection", connection)
        assign(self, "target", target)

    def __setattr__(self, name: str, value: object) -> None:
        # Read-only, so that a hook cannot change what the migrations after it are told.
        raise AttributeError(f"the migration context is read-only: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"the migration context is read-only: cannot delete {name!r}")

    def __copy__(self) -> MigrationContext:
        return self  # read-only, like a tuple: a copy would be the same

    def __deepcopy__(self, memo: dict[int, object]) -> MigrationContext:
        return self  # its connection and conf module are not things to duplicate

    def __repr__(self) -> str:
        return f"MigrationContext(version={self.version}, direction={self.direction!r}, file={self.migration.name!r})"

    def execute(self, sql: str, parameters: Any = None) -> Any:
        """Run one statement on the store's connection, in the migration's transaction.

        Without parameters the SQL goes to the driver alone: drivers whose paramstyle is
        format or pyformat (psycopg, PyMySQL) read every "%" of SQL that comes with
        parameters, even an empty tuple, as a placeholder, so LIKE 'a%' would fail.
        """
        cursor = dialect_for(self._connection()).cursor()
        if parameters is None:
            cursor.execute(sql)
        else:
            cursor.execute(sql, parameters)
        return cursor

    def execute_script(self, script: str) -> None:
        """Run a multi-statement SQL script inside the migration's transaction.

        Use this rather than sqlite3's executescript(), which commits before it starts. If a
        statement fails, the driver's own exception propagates, so ``except`` clauses for it
        still work, with "in statement N (line L) of the script" added to its message.
        """
        # Imported here: building the splitter's patterns costs milliseconds that every run
        # would pay, and few migrations run scripts.
        from .sqlscript import statements

        dialect = dialect_for(self._connection())
        cursor = dialect.cursor()
        for statement in statements(script, dialect.flavour):
            try:
                cursor.execute(statement.text)
                if getattr(cursor, "description", None) is not None:
                    # An unbuffered cursor (mysql.connector's) refuses the next statement
                    # until the rows of this one are read.
                    cursor.fetchall()
            except Exception as exc:
                add_location(exc, f"in statement {statement.number} (line {statement.line}) "
                                  "of the script")
                raise

    def _connection(self) -> Any:
        if self.connection is None:
            raise StoreError(
                "this store has no database connection: execute() and execute_script() "
                "need DATABASE or get_connection() in conf.py"
            )
        return self.connection


def add_location(exc: BaseException, where: str) -> None:
    """Say in ``exc`` ``where`` it failed (which statement of which script), keeping its type
    and attributes.

    The runner reports a failed migration as ``Type: str(exc)``; a PEP 678 note would only
    appear in tracebacks, and only from Python 3.11. So the location joins the message, the
    first string among ``args`` (sqlite3, psycopg, PyMySQL's second after the error number,
    which stays untouched for code that tests it). Where the message is not built from a
    string in ``args`` (mysql.connector; pg8000, whose one argument is a dict of fields),
    ``args`` stay as they were and the location becomes a note.
    Wrapping the exception instead would break the migration's own ``except`` clauses for
    the driver's exception types.
    """
    original = exc.args
    for index, argument in enumerate(original):
        if isinstance(argument, str):
            message = argument.rstrip()
            # psycopg's messages run over several lines (LINE 1: ... and a caret): the
            # location goes on a line of its own there.
            joined = f"{message}\n{where}" if "\n" in message else f"{message}, {where}"
            exc.args = original[:index] + (joined,) + original[index + 1:]
            try:
                shown = str(exc)
            except Exception:  # a broken __str__ must not hide the database's error
                shown = ""
            if where in shown:
                return
            exc.args = original
            break
    if hasattr(exc, "add_note"):  # Python 3.11+
        exc.add_note(where)
        return
    notes = getattr(exc, "__notes__", None)
    if isinstance(notes, list):
        notes.append(where)
    else:
        exc.__notes__ = [where]  # what add_note() does, by hand for 3.9 and 3.10
