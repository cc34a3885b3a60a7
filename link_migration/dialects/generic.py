"""The generic DB-API dialect: what PEP 249 promises, and the defaults the others refine."""
from __future__ import annotations

TYPE_CHECKING = False  # typing itself costs milliseconds to import; type checkers know this name

if TYPE_CHECKING:
    from typing import Any, Callable, Sequence

    Connect = Callable[[], Any]  # opens a second connection to the same database

    # Runs a statement with ``{}`` marking each parameter, in the driver's paramstyle, and
    # returns its rows: the store's own way to query, so dialects need no paramstyle of
    # their own.
    Query = Callable[[str, Sequence[Any]], "list[Any]"]

    from ..schema import SchemaObject


class Dialect:
    """A connection, and what its database does differently.

    This class is the fallback for drivers we do not know: it assumes transactional DDL
    (most databases that are not MySQL have it) and reads nothing from the catalog.
    """

    name = "database"
    flavour = "generic"  # for the statement splitter
    version_type = "BIGINT"  # 64 bits: timestamp versions such as 20261127193000 fit
    transactional_ddl = True
    # Whether a commit() that raises may still have committed on the server: true of
    # anything over a network, where the reply can be lost after the server acted on it.
    commit_reply_can_be_lost = True
    integer_is_64_bit = False  # what INTEGER columns of format-1 tables hold
    schema_required = False  # whether tables must be pinned to a schema the store resolves
    # Whether the connection still serves the store once cancel() stopped a statement and a
    # signal interrupted the wait for its reply: a network driver may have its reply unread.
    usable_after_cancel = False

    def __init__(self, connection: Any, driver: str = "") -> None:
        self.connection = connection
        self.driver = driver

    def prepare(self) -> None:
        """Called once, when the store first opens the connection."""

    def cancel(self, connect: Connect | None) -> bool:
        """Cancel the statement running on the connection, from another thread than the one
        waiting for it; ``connect`` opens a second connection where one is needed (None when
        there is none to open). False when this driver has no way to."""
        return False

    def cursor(self) -> Any:
        """A cursor for the store's own statements."""
        return self.connection.cursor()

    def describe(self, query: Query) -> str | None:
        """Database, host and name for messages (SPEC 12), or None when we cannot tell."""
        return None

    def describe_with_columns(
        self, query: Query, tables: Sequence[str]
    ) -> tuple[str | None, str | None, dict[str, tuple[str, ...]] | None]:
        """describe(), schema() and columns_of() for ``tables`` (as conf.py names them:
        unqualified ones in the schema found), keyed by those names, in one round trip where
        the database allows; None for the columns where they cannot come with the rest."""
        return self.describe(query), self.schema(query), None

    def schema(self, query: Query) -> str | None:
        """The schema our unqualified tables live in, resolved once, so that a migration
        that changes the search path cannot move them; None to leave names unqualified."""
        return None

    def table_exists(
        self, query: Query, schema: str | None, name: str, table: str
    ) -> bool | None:
        """Whether ``table`` exists, from the catalog; None when this dialect cannot ask, and
        the store must try the table itself. ``name`` is how SQL names it (schema-qualified
        where it is), ``schema`` the schema's own name, if any."""
        return None

    def table_missing(self, exc: BaseException) -> bool:
        """Whether the error of ``SELECT * FROM table`` means only that there is no such
        table. Without a catalog to ask, any error has to count as that."""
        return True

    def quote(self, identifier: str) -> str:
        return '"' + identifier.replace('"', '""') + '"'

    def read_schema(self, query: Query, own_tables: Sequence[str], schema: str | None,
                    cache: dict[Any, Any] | None) -> list[SchemaObject]:
        """The schema's objects from the catalog (SPEC 10), ``own_tables`` (as conf.py names
        them) left out; ``schema`` is the one unqualified names live in."""
        from ..errors import StoreError

        raise StoreError(
            f"cannot read the schema of this database: link-migration reads the catalogs of "
            f"SQLite, PostgreSQL and MySQL/MariaDB, and this connection's driver "
            f"({self.driver or type(self.connection).__module__}) is none it knows",
            "Use psycopg, psycopg2, pg8000, PyMySQL, mysqlclient, mysql-connector-python or "
            "sqlite3.",
        )

    reads_schema = False  # whether read_schema() knows this database's catalog
    lists_columns = False  # whether columns_of() can list the store's tables at once

    def columns_of(self, query: Query, tables: Sequence[str]) -> dict[str, tuple[str, ...]]:
        """The columns of each of ``tables`` (as SQL names them) that exists, in one query."""
        raise NotImplementedError

    # Whether one statement may insert into two tables (a data-modifying WITH), so that a
    # step's history row and log entry cost one round trip.
    writes_two_tables_at_once = False

    def identity(self, query: Query) -> tuple[object, ...] | None:
        """What tells this database from any other, whatever address reached it (verify
        must never take the real database for its scratch one); None when unknown."""
        return None

    begin_statement = "BEGIN"  # how a printed script (--sql) opens a transaction

    def literal(self, value: object) -> str:
        """``value`` written into SQL, for a printed script (--sql): NULL, a number, or a
        string in single quotes."""
        if value is None:
            return "NULL"
        if isinstance(value, bool):
            return "1" if value else "0"
        if isinstance(value, (int, float)):
            return repr(value)
        return "'" + str(value).replace("'", "''") + "'"

    def begin(self, query: Query) -> object:
        """Open the step's transaction now, and return what transaction_ended() needs to tell
        it from a later one. DB-API drivers open one at the first statement, and that is
        enough where nothing can tell whether a migration ended it."""
        return None

    def open_transaction(self, query: Query) -> None:
        """Open a transaction for the store's own writes (the lock, the tables, a repair),
        which nothing will ask about: begin() by default."""
        self.begin(query)

    def transaction_ended(self, query: Query, token: object) -> bool | None:
        """Whether the transaction that begin() opened (and described by ``token``) is over:
        a migration that ends it cannot be recorded truthfully. None when this database
        cannot tell: an unknown driver's connection (a pool's wrapper, say) may report
        nothing useful."""
        return None

    def can_run_then_commit(self) -> bool:
        """Whether run_then_commit() can be used now; where not, the store records and
        commits one statement at a time."""
        return False

    def run_then_commit(self, statements: Sequence[str]) -> None:
        """Run ``statements`` (without parameters) and COMMIT in one round trip, stopping at
        the first that fails."""
        raise NotImplementedError

    def transaction_check(self, token: object) -> str:
        """A statement that fails unless the step's transaction (``token``, as begin()
        returned it) is still open: for run_then_commit()."""
        raise NotImplementedError

    def failed_check(self, exc: BaseException) -> bool:
        """Whether ``exc`` is transaction_check()'s own failure."""
        return False

    def inline(self, value: object) -> str:
        """``value`` written into a statement sent without parameters (run_then_commit())."""
        return self.literal(value)

    def rolls_back_by_itself(self, exc: BaseException) -> bool:
        """Whether the database may have rolled the transaction back on its own when a
        statement failed with ``exc`` (so that a closed transaction is no sign that the
        migration ended it)."""
        return False

    def autocommit(self) -> bool | None:
        """The connection's autocommit mode; None when the driver has none we can switch."""
        value = getattr(self.connection, "autocommit", None)
        return value if isinstance(value, bool) else None

    def set_autocommit(self, on: bool) -> None:
        self.connection.autocommit = on

    # Whether the store may run its reads, and its single-statement writes, in autocommit
    # mode: no BEGIN and no ROLLBACK around each (issue 17). The store switches the mode off
    # for anything of more statements, and gives the connection back in the mode it came in.
    reads_in_autocommit = False

    def idle(self) -> bool | None:
        """The driver's own word that no transaction is open; None where it gives none."""
        return None

    def insert_unless_present(self, insert: str) -> str | None:
        """``insert`` made to insert nothing, without an error, where its row's key is
        taken already; None where this database has no such form."""
        return None

    def widen(self, table: str, columns: Sequence[str]) -> list[str]:
        """Statements that make ``columns`` of ``table`` 64-bit (store format 1 to 2)."""
        return []  # an unknown database: its INTEGER is what it is

    def lean_reads(self, query: Query) -> int | None:
        """Make the store's own reads cheap; returns what full_cache() needs to undo it."""
        return None

    def full_cache(self, query: Query, size: int) -> None:
        """Undo lean_reads() before migrations run."""

    def busy(self, exc: BaseException) -> bool:
        """Whether ``exc`` means another process held the database locked until our wait for
        it ran out."""
        return False

    def refuses_transaction(self, exc: BaseException) -> bool:
        """Whether ``exc`` says the statement cannot run inside a transaction (PostgreSQL's
        CREATE INDEX CONCURRENTLY, VACUUM, SQLite's VACUUM): the migration then needs
        ``transactional = False``."""
        text = str(exc).lower()
        return "inside a transaction block" in text or "within a transaction" in text
