"""forget and accept: repairs of a SQL store's history without hand-written SQL (Flyway's
``repair``, one migration at a time).

``forget`` removes the history row of an applied migration whose file is gone (state
``missing``); ``accept`` records the current checksum of an applied migration whose file was
edited on purpose (state ``modified``). Each refuses a version in any other state, so that a
typo can neither drop the record of a migration whose file is there nor bless an edit that
nobody meant. Choosing is pure (``choose``); ``repair`` reads the store, chooses and writes,
under the caller's lock, so that what it checked is still true when it writes.
"""
from __future__ import annotations

from typing import NamedTuple
TYPE_CHECKING = False  # typing itself costs milliseconds to import; type checkers know this name

from .config import API_WORDING, Wording
from .errors import ConfigError, PlanError
from .state import APPLIED, MISSING, MODIFIED, OUT_OF_ORDER, PENDING, migration_states
from .stores.sql import SqlStore

if TYPE_CHECKING:
    from typing import Sequence

    from .discovery import Migration
    from .state import MigrationState
    from .stores.base import VersionStore

FORGET = "forget"
ACCEPT = "accept"

# The one state each repair takes a version in, and what it does to it.
_WANTED = {FORGET: MISSING, ACCEPT: MODIFIED}
_PURPOSE = {
    FORGET: "forget removes the history row of a missing migration (applied, its file gone)",
    ACCEPT: "accept records the new checksum of a modified migration (applied, its file "
            "edited since)",
}
_STATE_TEXT = {
    APPLIED: "applied, and its file is unchanged",
    PENDING: "pending (not applied yet)",
    MISSING: "missing (applied, but its file is gone)",
    MODIFIED: "modified (its file has changed since it was applied)",
    OUT_OF_ORDER: "out of order (not applied, although a higher version is)",
}


class Repaired(NamedTuple):
    """One history row that forget or accept changed."""

    version: int
    file_name: str
    checksum: str | None  # accept: the checksum now recorded; forget: the one the row held
    previous_checksum: str | None = None  # accept: the checksum it replaced


class RepairResult(NamedTuple):
    """What forget or accept did: ``repaired`` is empty when there was nothing to do."""

    operation: str  # "forget" or "accept"
    repaired: tuple[Repaired, ...]
    previous: int  # the current version before
    current: int  # and after: forgetting the highest applied version lowers it
    store: str


def checked_versions(operation: str, versions: Sequence[object]) -> tuple[int, ...]:
    """The versions asked for, each a whole number, without repeats, in ascending order:
    checked before the store is opened, so that a wrong call locks nothing."""
    if not versions:
        raise PlanError(f"{operation} needs at least one version",
                        f"Name the version to {operation}.")
    checked = set()
    for version in versions:
        if not isinstance(version, int) or isinstance(version, bool):
            raise PlanError(f"{operation}: {version!r} is not a version",
                            "A version is a whole number.")
        checked.add(version)
    return tuple(sorted(checked))


def history_store(store: VersionStore, operation: str) -> SqlStore:
    """``store`` if it keeps a history row per applied migration; the other stores know only
    the current version, so there is no row to forget and no checksum to accept."""
    if isinstance(store, SqlStore):
        return store
    raise ConfigError(
        f"{operation} needs the history of a SQL store: {store.describe()} keeps only the "
        "current version, with no row per applied migration and no checksums",
        "Use DATABASE, DATABASE_URL or get_connection() in conf.py to keep a history.",
    )


def choose(
    operation: str,
    rows: Sequence[MigrationState],
    versions: Sequence[int] | None,
    wording: Wording = API_WORDING,
) -> list[MigrationState]:
    """The rows to repair, by ascending version: with ``versions`` None, every row in the
    state ``operation`` takes; else exactly those versions, each of which must be in it
    (PlanError naming the first that is not, and its state: nothing is changed)."""
    wanted = _WANTED[operation]
    if versions is None:
        return [row for row in rows if row.state == wanted]
    asked = set(versions)
    found = {row.version: row for row in rows if row.version in asked}
    chosen = []
    for version in sorted(asked):
        row = found.get(version)
        if row is None:
            raise PlanError(
                f"cannot {operation} version {version}: it is unknown (no migration file has "
                "that version, and the store has not applied it)",
                f"Nothing was changed. Run {wording.status} to see which migrations are "
                f"{wanted}.",
            )
        if row.state != wanted:
            raise PlanError(
                f"cannot {operation} version {version}: it is "
                f"{_STATE_TEXT.get(row.state, row.state)}; {_PURPOSE[operation]}",
                _refusal_hint(operation, row.state, wanted, wording),
            )
        chosen.append(row)
    return chosen


def _refusal_hint(operation: str, state: str, wanted: str, wording: Wording) -> str:
    if operation == FORGET and state == MODIFIED:
        return ("Its file is there but changed: accept it to record the file's new checksum, "
                "or restore the file as it was applied.")
    if operation == ACCEPT and state == MISSING:
        return "Its file is gone: restore the file, or forget it to drop its history row."
    return f"Nothing was changed. Run {wording.status} to see which migrations are {wanted}."


def repair(
    store: SqlStore,
    operation: str,
    migrations: Sequence[Migration],
    versions: Sequence[int] | None,
    wording: Wording = API_WORDING,
) -> RepairResult:
    """Read the store, choose the rows, and change them in one transaction of the store's
    (history rows and log entries together). The caller holds the lock."""
    state = store.read_state(migrations)
    chosen = choose(operation, migration_states(migrations, state), versions, wording)
    current = state.current
    if operation == FORGET:
        records = [row.applied for row in chosen if row.applied is not None]
        if records:
            store.forget(records)
        repaired = tuple(Repaired(r.version, r.file_name, r.checksum) for r in records)
        gone = {r.version for r in records}
        if current in gone:
            current = max((v for v in state.applied or () if v not in gone), default=0)
    else:
        pairs = [(row.migration, row.applied) for row in chosen
                 if row.migration is not None and row.applied is not None]
        if pairs:
            store.accept([migration for migration, _ in pairs])
        repaired = tuple(Repaired(m.version, m.name, m.checksum or None, a.checksum)
                         for m, a in pairs)
    return RepairResult(operation, repaired, state.current, current, store.describe())
