"""What a store holds, and the state of every migration against it. Pure data and functions."""
from __future__ import annotations

from typing import NamedTuple
TYPE_CHECKING = False  # typing itself costs milliseconds to import; type checkers know this name

if TYPE_CHECKING:
    from pathlib import Path
    from typing import Iterator, Mapping, Sequence

    from .discovery import Migration

APPLIED = "applied"
PENDING = "pending"
MISSING = "missing"
MODIFIED = "modified"
OUT_OF_ORDER = "out_of_order"
FAILED = "failed"


class AppliedMigration(NamedTuple):
    """One row of a SQL store's history: a migration that is applied now."""

    version: int
    file_name: str
    checksum: str | None
    applied_at: str | None
    duration: float | None
    applied_by: str | None
    faked: bool = False


class LogEntry(NamedTuple):
    """One row of a SQL store's append-only log: an up, down or fake that happened."""

    seq: int
    version: int
    operation: str
    file_name: str
    logged_at: str
    duration: float | None
    logged_by: str


class Attempt(NamedTuple):
    """A migration that ran outside a transaction (SPEC 9) and has not been recorded as done:
    it failed, or its process died. ``done`` of ``total`` statements completed (a SQL
    migration; ``total`` is None for a Python one); ``ended_at`` and ``error`` are empty when
    the run ended without saying how (a kill -9)."""

    version: int
    direction: str
    file_name: str
    started_at: str
    started_by: str
    done: int
    total: int | None
    done_checksum: str | None
    ended_at: str | None
    error: str | None

    def progress(self) -> str:
        """What is known of how far it got, in words."""
        if self.total is None:
            return "a Python migration, stopped part-way"
        return f"{self.done} of {self.total} statements completed"


class LockHolder(NamedTuple):
    """Who holds a store's lock: ``owner`` is ``user@host:pid``. A SQL store's lock is a
    lease (SPEC 12): ``renewed`` changes each time its holder renews it, and a lease left
    unrenewed for ``term`` seconds may be broken. Locks that are no lease (files, conf.py's
    own, rows of an earlier link-migration) have no ``renewed``."""

    owner: str
    host: str
    pid: int
    since: str
    renewed: str = ""
    term: float = 0.0

    def __str__(self) -> str:
        return f"{self.owner} since {self.since}" if self.since else self.owner


class StoreState(NamedTuple):
    """The current version, and the applied migrations where the store knows them."""

    current: int
    applied: Mapping[int, AppliedMigration] | None = None
    attempts: Mapping[int, Attempt] | None = None  # failed migrations (SQL stores)


class MigrationState(NamedTuple):
    """One line of ``status``: a version, its state, its file and its history row if any."""

    version: int
    state: str
    migration: Migration | None
    applied: AppliedMigration | None = None
    attempt: Attempt | None = None  # with state failed


def migration_states(migrations: Sequence[Migration], store: StoreState) -> list[MigrationState]:
    """The state of every version that has a file or is applied, by ascending version.

    Stores that know only the current version can tell applied, pending and missing (the
    current version without a file); SQL stores also tell modified and out of order. Both
    inputs are walked in version order side by side: no index of either is built, since a
    project may hold ten thousand migrations (see bench/).
    """
    current = store.current
    if store.applied is None:
        rows = [
            MigrationState(m.version, APPLIED if m.version <= current else PENDING, m)
            for m in migrations
        ]
        if current and not any(m.version == current for m in migrations):
            rows.append(MigrationState(current, MISSING, None))
            rows.sort(key=lambda row: row.version)
        return rows
    applied = store.applied
    applied_versions = sorted(applied)
    rows = []
    file_index = applied_index = 0
    while file_index < len(migrations) or applied_index < len(applied_versions):
        migration = migrations[file_index] if file_index < len(migrations) else None
        version = applied_versions[applied_index] if applied_index < len(applied_versions) else None
        if migration is not None and (version is None or migration.version <= version):
            file_index += 1
            if migration.version == version:
                applied_index += 1
            version = migration.version
        else:
            migration = None
            applied_index += 1
        assert version is not None
        record = applied.get(version)
        rows.append(MigrationState(version, _state(version, migration, record, current), migration, record))
    if store.attempts:
        rows = _with_attempts(rows, store.attempts)
    return rows


def _with_attempts(rows: list[MigrationState], attempts: Mapping[int, Attempt]) -> list[MigrationState]:
    """Failed migrations are failed, whatever else their rows would say."""
    known = {row.version for row in rows}
    rows = [row._replace(state=FAILED, attempt=attempts[row.version])
            if row.version in attempts else row for row in rows]
    extra = [MigrationState(v, FAILED, None, None, a) for v, a in attempts.items() if v not in known]
    return sorted(rows + extra, key=lambda row: row.version) if extra else rows


def modified(migrations: Sequence[Migration], store: StoreState) -> Iterator[Migration]:
    """The migrations changed since they were applied, found without building every state."""
    applied = store.applied or {}
    for migration in migrations:
        record = applied.get(migration.version)
        if record is not None and _changed(migration, record):
            yield migration


def _state(
    version: int, migration: Migration | None, record: AppliedMigration | None, current: int
) -> str:
    if record is None:
        return OUT_OF_ORDER if version < current else PENDING
    if migration is None:
        return MISSING
    return MODIFIED if _changed(migration, record) else APPLIED


def _changed(migration: Migration, record: AppliedMigration) -> bool:
    """Whether the file differs from what was applied: only when both checksums are known."""
    return bool(record.checksum and migration.checksum and record.checksum != migration.checksum)


class Status(NamedTuple):
    """What ``status`` shows: the store, its current version, and every migration's state."""

    store: str
    current: int
    migrations: tuple[MigrationState, ...]
    skipped: tuple[Path, ...] = ()
    unsupported: tuple[Path, ...] = ()  # Flyway's repeatable R__ files


class Problem(NamedTuple):
    """One thing ``check`` objects to."""

    kind: str  # pending, missing, modified, out_of_order, skipped, unsupported or drift
    version: int | None
    file: str
    message: str


def problems(rows: Sequence[MigrationState], skipped: Sequence[str],
             unsupported: Sequence[str] = ()) -> list[Problem]:
    """What stands between the store and "every migration applied, nothing wrong"."""
    found = [
        Problem(
            row.state,
            row.version,
            row.migration.name if row.migration else (
                row.applied.file_name if row.applied else (
                    row.attempt.file_name if row.attempt else "")),
            failure(row.attempt) if row.attempt else _PROBLEM_TEXT[row.state],
        )
        for row in rows
        if row.state != APPLIED
    ]
    found += [Problem("skipped", None, name, "a .py file with no `version`: not a migration")
              for name in skipped]
    found += [Problem("unsupported", None, name,
                      "a Flyway repeatable migration (R__): link-migration does not run these")
              for name in unsupported]
    return found


def failure(attempt: Attempt) -> str:
    """A failed migration in one line: direction, how far it got, and why."""
    why = (attempt.error or "").strip().splitlines()
    reason = f": {why[0]}" if why else (
        "; the run ended without saying how (killed?)" if not attempt.ended_at else "")
    return f"{attempt.direction} failed, {attempt.progress()}{reason}"


_PROBLEM_TEXT = {
    PENDING: "not applied yet",
    MISSING: "applied, but its file is gone",
    MODIFIED: "changed since it was applied",
    OUT_OF_ORDER: "not applied, although a higher version is",
}
