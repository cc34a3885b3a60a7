"""``adopt TOOL``: take over a database that golang-migrate, dbmate, goose or Flyway migrated
(SPEC 8), by reading the peer's own table in the same database and recording each version it
says is applied, marked ``adopt`` in the log, in one transaction. The peer's table is read,
never changed.

Each peer keeps its record its own way (one reader each below); all of them come down to the
set of versions that are applied, or to a refusal: a migration the peer marks dirty or
failed (someone must look at the database first), or a version with no file here (the
folder is not the one the peer ran).
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple, Sequence

from .config import API_WORDING, Wording
from .errors import ConfigError, PlanError

TYPE_CHECKING = False  # typing itself costs milliseconds to import; type checkers know this name

if TYPE_CHECKING:
    from .discovery import Migration
    from .stores.sql import SqlStore


class Peer(NamedTuple):
    """What link-migration knows of one peer: its table, how to read it, what it means."""

    name: str
    table: str  # the table's default name
    query: str  # {table} is the table's name
    applied: Callable[[list[Any], str, Sequence[int]], "Reading"]


class Reading(NamedTuple):
    """What a peer's table says: the versions applied, and those below a baseline, which the
    peer never ran but counts as in place."""

    applied: set[int]
    baseline: int = 0  # Flyway: every version up to this one was in place before Flyway


class AdoptResult(NamedTuple):
    tool: str
    table: str
    adopted: tuple[int, ...]
    current: int
    store: str


def _whole(value: Any, tool: str, table: str) -> int:
    text = str(value).strip()
    if not text.isdigit():
        raise PlanError(
            f"{tool}'s table {table} holds version {value!r}, which is not a whole number",
            "link-migration orders migrations by whole versions: nothing was adopted.",
        )
    return int(text)


def _golang_migrate(rows: list[Any], table: str, files: Sequence[int]) -> Reading:
    """One row: the version reached (golang-migrate applies in order, so every version up to
    it), and whether the last migration stopped part-way."""
    if not rows:
        return Reading(set())
    if len(rows) > 1:
        raise PlanError(f"golang-migrate's table {table} has {len(rows)} rows; it keeps one",
                        "Check that the table is golang-migrate's: nothing was adopted.")
    version, dirty = rows[0]
    version = _whole(version, "golang-migrate", table)
    if _truthy(dirty):
        raise _dirty("golang-migrate", table, version, "dirty (it failed part-way)")
    if version and version not in files:
        raise _no_file("golang-migrate", table, version)
    return Reading({v for v in files if v <= version})


def _dbmate(rows: list[Any], table: str, files: Sequence[int]) -> Reading:
    return Reading({_whole(version, "dbmate", table) for (version, *_) in rows})


def _goose(rows: list[Any], table: str, files: Sequence[int]) -> Reading:
    """A row per up and per down, in order: the latest row of a version says whether it is
    applied. Version 0 is goose's bootstrap row, no migration."""
    latest: dict[int, bool] = {}
    for version, is_applied in rows:
        number = _whole(version, "goose", table)
        if number:
            latest[number] = _truthy(is_applied)
    return Reading({version for version, applied in latest.items() if applied})


def _flyway(rows: list[Any], table: str, files: Sequence[int]) -> Reading:
    """A row per script run, by rank. Schema-creation and baseline rows run no file; a
    failed row stops the adoption; an undo (or a row deleted by repair) takes a version
    back. Repeatable migrations have no version."""
    latest: dict[int, bool] = {}
    baseline = 0
    for _, version, kind, success in rows:
        kind = str(kind or "").upper()
        if version is None or str(version).strip() == "" or kind == "SCHEMA":
            continue
        number = _whole(version, "Flyway", table)
        if kind == "BASELINE":
            baseline = max(baseline, number)
            continue
        if not _truthy(success):
            raise _dirty("Flyway", table, number, "failed")
        latest[number] = not (kind.startswith("UNDO") or kind == "DELETE")
    return Reading({version for version, applied in latest.items() if applied}, baseline)


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "t", "true", "y", "yes")
    return bool(value)


def _dirty(tool: str, table: str, version: int, state: str) -> PlanError:
    return PlanError(
        f"{tool}'s table {table} marks version {version} {state}: nothing was adopted",
        f"Finish or undo migration {version} by hand and fix {tool}'s record of it (as you "
        f"would with {tool}), then adopt again.",
    )


def _no_file(tool: str, table: str, version: int) -> PlanError:
    return PlanError(
        f"{tool}'s table {table} lists version {version}, and no migration file here has "
        "that version: nothing was adopted",
        "Point MIGRATIONS_DIR at the folder that tool ran, then adopt again.",
    )


PEERS = {
    "golang-migrate": Peer("golang-migrate", "schema_migrations",
                           "SELECT version, dirty FROM {table}", _golang_migrate),
    "dbmate": Peer("dbmate", "schema_migrations", "SELECT version FROM {table}", _dbmate),
    "goose": Peer("goose", "goose_db_version",
                  "SELECT version_id, is_applied FROM {table} ORDER BY id", _goose),
    "flyway": Peer("flyway", "flyway_schema_history",
                   "SELECT installed_rank, version, type, success FROM {table} "
                   "ORDER BY installed_rank", _flyway),
}


def peer(tool: str) -> Peer:
    found = PEERS.get(tool.lower())
    if found is None:
        raise ConfigError(f"adopt: unknown tool {tool!r}",
                          f"Name one of: {', '.join(PEERS)}.")
    return found


def adopt(
    store: SqlStore,
    tool: str,
    migrations: Sequence[Migration],
    table: str | None = None,
    wording: Wording = API_WORDING,
) -> AdoptResult:
    """Read the peer's table, check, and record; the caller holds the lock."""
    chosen = peer(tool)
    name = table or chosen.table
    state = store.read_state(migrations)
    if state.applied:
        raise PlanError(
            f"adopt: link-migration's history in {store.describe()} is not empty "
            f"({len(state.applied)} migration(s) applied): adopt takes over a database that "
            "another tool migrated, once",
            f"Nothing was adopted. Run {wording.status} to see what is recorded.",
        )
    rows = store.read_table(name, chosen.query.format(table=name), chosen.name)
    files = {m.version: m for m in migrations}
    reading = chosen.applied(rows, name, sorted(files))
    for version in sorted(reading.applied):
        if version not in files:
            raise _no_file(chosen.name, name, version)
    versions = reading.applied | {v for v in files if v <= reading.baseline}
    adopted = [files[v] for v in sorted(versions)]
    if adopted:
        store.adopt(adopted)
    return AdoptResult(chosen.name, name, tuple(m.version for m in adopted),
                       max(versions, default=0), store.describe())
