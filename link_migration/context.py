"""The one argument a migration's up()/down() may take."""
from __future__ import annotations

from types import ModuleType
from typing import Any

from .discovery import Migration
from .errors import StoreError
from .sqlscript import split_statements


class MigrationContext:
    """What a running migration may want to know.

    The original README's ``def up(self): self.config.ROOT_DIR`` works because the context
    is what ``self`` receives.
    """

    __slots__ = ("config", "version", "direction", "migration", "dry_run", "connection")
    config: ModuleType
    version: int
    direction: str
    migration: Migration
    dry_run: bool
    connection: Any

    def __init__(
        self,
        config: ModuleType,
        version: int,
        direction: str,
        migration: Migration,
        dry_run: bool = False,
        connection: Any = None,
    ) -> None:
        assign = object.__setattr__  # past our own __setattr__, which refuses
        assign(self, "config", config)
        assign(self, "version", version)
        assign(self, "direction", direction)
        assign(self, "migration", migration)
        assign(self, "dry_run", dry_run)
        assign(self, "connection", connection)

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

    def execute(self, sql: str, parameters: Any = ()) -> Any:
        """Run one statement on the store's connection, in the migration's transaction."""
        cursor = self._connection().cursor()
        cursor.execute(sql, parameters)
        return cursor

    def execute_script(self, script: str) -> None:
        """Run a multi-statement SQL script inside the migration's transaction.

        Use this rather than sqlite3's executescript(), which commits before it starts.
        """
        cursor = self._connection().cursor()
        for statement in split_statements(script):
            cursor.execute(statement)

    def _connection(self) -> Any:
        if self.connection is None:
            raise StoreError(
                "this store has no database connection: execute() and execute_script() "
                "need DATABASE or get_connection() in conf.py"
            )
        return self.connection
