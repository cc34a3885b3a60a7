"""What a store holds, and the state of every migration against it. Pure data and functions."""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple
TYPE_CHECKING = False  # typing itself costs milliseconds to import; type checkers know this name

if TYPE_CHECKING:
    from pathlib import Path
    from typing import Mapping, Sequence

    from .discovery import Migration

APPLIED = "applied"
PENDING = "pending"
MISSING = "missing"
MODIFIED = "modified"
OUT_OF_ORDER = "out_of_order"


class AppliedMigration(NamedTuple):
    """One row of a SQL store's history: a migration that is applied now."""

    version: int
    file_name: str
    checksum: str | None
    applied_at: str | None
    duration: float | None
    applied_by: str | None
    faked: bool = False


@dataclass(frozen=True)
class LogEntry:
    """One row of a SQL store's append-only log: an up, down or fake that happened."""

    seq: int
    version: int
    operation: str
    file_name: str
    logged_at: str
    duration: float | None
    logged_by: str


@dataclass(frozen=True)
class LockHolder:
    """Who holds a store's lock: ``owner`` is ``user@host:pid``."""

    owner: str
    host: str
    pid: int
    since: str

    def __str__(self) -> str:
        return f"{self.owner} since {self.since}" if self.since else self.owner


@dataclass(frozen=True)
class StoreState:
    """The current version, and the applied migrations where the store knows them."""

    current: int
    applied: Mapping[int, AppliedMigration] | None = None


class MigrationState(NamedTuple):
    """One line of ``status``: a version, its state, its file and its history row if any."""

    version: int
    state: str
    migration: Migration | None
    applied: AppliedMigration | None = None


def migration_states(migrations: Sequence[Migration], store: StoreState) -> list[MigrationState]:
    """The state of every version that has a file or is applied, by ascending version.

    Stores that know only the current version can tell applied, pending and missing (the
    current version without a file); SQL stores also tell modified and out of order.
    """
    current = store.current
    by_version = {m.version: m for m in migrations}
    if store.applied is None:
        rows = [
            MigrationState(m.version, APPLIED if m.version <= current else PENDING, m)
            for m in migrations
        ]
        if current and current not in by_version:
            rows.append(MigrationState(current, MISSING, None))
        return sorted(rows, key=lambda row: row.version)
    applied = store.applied
    rows = []
    for version in sorted(set(by_version) | set(applied)):
        migration = by_version.get(version)
        record = applied.get(version)
        if record is None:
            state = OUT_OF_ORDER if version < current else PENDING
        elif migration is None:
            state = MISSING
        elif record.checksum and migration.checksum and record.checksum != migration.checksum:
            state = MODIFIED
        else:
            state = APPLIED
        rows.append(MigrationState(version, state, migration, record))
    return rows


@dataclass(frozen=True)
class Status:
    """What ``status`` shows: the store, its current version, and every migration's state."""

    store: str
    current: int
    migrations: tuple[MigrationState, ...]
    skipped: tuple[Path, ...] = ()


@dataclass(frozen=True)
class Problem:
    """One thing ``check`` objects to."""

    kind: str  # pending, missing, modified, out_of_order or skipped
    version: int | None
    file: str
    message: str


def problems(rows: Sequence[MigrationState], skipped: Sequence[str]) -> list[Problem]:
    """What stands between the store and "every migration applied, nothing wrong"."""
    found = [
        Problem(
            row.state,
            row.version,
            row.migration.name if row.migration else (row.applied.file_name if row.applied else ""),
            _PROBLEM_TEXT[row.state],
        )
        for row in rows
        if row.state != APPLIED
    ]
    found += [Problem("skipped", None, name, "a .py file with no `version`: not a migration")
              for name in skipped]
    return found


_PROBLEM_TEXT = {
    PENDING: "not applied yet",
    MISSING: "applied, but its file is gone",
    MODIFIED: "changed since it was applied",
    OUT_OF_ORDER: "not applied, although a higher version is",
}
