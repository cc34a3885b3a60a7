"""`verify` (SPEC 10): prove each migration reversible on a scratch database.

For each migration in range: snapshot, up, snapshot, down, snapshot (must equal the first),
up again (must equal the second). The migrations run through the ordinary runner, one step
at a time, on a store like the real one (same table names) over the scratch database, so
that transactions, SQL files and their errors behave as in a real run. The real database is
only read: a SQLite file is copied through a read-only connection; a server database is read
for its history alone, and the scratch one comes from conf.py's get_scratch_connection().
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import NamedTuple

from .errors import ConfigError, DiscoveryError, MigrationError, PlanError, StoreError

TYPE_CHECKING = False  # typing itself costs milliseconds to import; type checkers know this name

if TYPE_CHECKING:
    from typing import Any, Callable

    from .config import Config, Wording
    from .discovery import Catalogue, Migration, MigrationLoader
    from .schema import Snapshot
    from .signals import SignalGuard
    from .stores.sql import SqlStore


class RoundTrip(NamedTuple):
    """One migration's round trip; ``problems`` empty when it closed."""

    version: int
    file_name: str
    problems: tuple[str, ...]
    seconds: float

    @property
    def ok(self) -> bool:
        return not self.problems


class VerifyResult(NamedTuple):
    scratch: str  # the scratch database, in words
    every: bool  # --all: every migration from an empty database; else the pending ones
    trips: tuple[RoundTrip, ...]
    left: int  # migrations of the range not verified, after the first that failed

    @property
    def ok(self) -> bool:
        return all(trip.ok for trip in self.trips)


def verify(config: Config, real: SqlStore, catalogue: Catalogue, loader: MigrationLoader, *,
           every: bool, data: bool, guard: SignalGuard | None, wording: Wording,
           on_trip: Callable[[int, int, RoundTrip], None] | None = None) -> VerifyResult:
    import tempfile

    from .stores import scratch_store

    with tempfile.TemporaryDirectory(prefix="link-migration-verify-") as folder:
        source = real.database_file
        if source is not None:
            path = Path(folder) / "scratch.db"
            if not every:
                _copy_sqlite(source, path)
            scratch = scratch_store(config, real, path=path)
            scratch_description = f"a scratch copy of {real.describe()}" if not every else \
                "an empty scratch SQLite database"
        else:
            scratch = scratch_store(config, real)
            scratch_description = scratch.describe()
        try:
            run = _Verifier(config, scratch, loader, data=data, guard=guard, wording=wording)
            if source is not None:
                migrations = catalogue.migrations if every else run.pending(
                    scratch, catalogue.migrations)
            else:
                migrations = _prepare_server_scratch(run, real, scratch, catalogue, every)
                scratch_description = scratch.describe()
            trips = []
            for index, migration in enumerate(migrations, start=1):
                trip = run.round_trip(migration)
                trips.append(trip)
                if on_trip is not None:
                    on_trip(index, len(migrations), trip)
                if not trip.ok:
                    break
            return VerifyResult(scratch_description, every, tuple(trips),
                                len(migrations) - len(trips))
        finally:
            scratch.close()


def _copy_sqlite(source: Path, target: Path) -> None:
    """Copy the database with SQLite's backup, consistent even while another process
    writes. A database in rollback-journal mode is opened read-only, so the real file is
    never written. One in WAL mode is opened as usual instead: a read-only connection
    creates its -wal and -shm files and cannot remove them, and an ordinary one removes
    them as it closes, when it is the last."""
    import sqlite3

    if not source.exists():
        return
    try:
        with open(source, "rb") as file:
            wal = file.read(20)[18:20] == b"\x02\x02"
    except OSError as exc:
        raise StoreError(f"cannot read {source}: {exc.strerror}",
                         "Check the path and permissions; nothing was changed.") from None
    try:
        original = sqlite3.connect(str(source) if wal else source.resolve().as_uri() + "?mode=ro",
                                   uri=not wal)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open {source} to copy it: {exc}",
                         "Check the path and permissions; nothing was changed.") from None
    try:
        copy = sqlite3.connect(str(target))
        try:
            original.backup(copy)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot copy {source}: {exc}",
                             "Check that DATABASE names a SQLite database; nothing was "
                             "changed.") from None
        finally:
            copy.close()
    finally:
        original.close()


def _prepare_server_scratch(run: _Verifier, real: SqlStore, scratch: SqlStore,
                            catalogue: Catalogue, every: bool) -> list[Migration]:
    """Check the scratch database is empty and not the real one; without ``every``, bring it
    to the real database's version (each applied migration run up once) and return the
    pending migrations."""
    real_state = real.read_state(catalogue.migrations)  # opened first: it names itself
    objects = scratch.snapshot().objects
    same = scratch.identity()
    if scratch.describe() == real.describe() or (same is not None and same == real.identity()):
        raise ConfigError(
            f"get_scratch_connection() reaches the real database ({real.describe()})",
            "Point it at a database of its own: verify migrates it up and down.",
        )
    state = scratch.read_state(catalogue.migrations)
    if objects or state.current or state.applied:
        found = ", ".join(obj.label for obj in objects[:5]) + (
            f" and {len(objects) - 5} more" if len(objects) > 5 else "")
        history = f"a history at version {state.current}" if state.current or state.applied \
            else ""
        raise ConfigError(
            f"{scratch.describe()} is not empty: it has "
            + " and ".join(part for part in (found, history) if part),
            "verify needs an empty scratch database, and never the real one: drop and "
            "recreate it (get_scratch_connection() may do so each time).",
        )
    if every:
        return list(catalogue.migrations)
    pending = run.pending(real, catalogue.migrations, state=real_state)
    applied = real_state.applied or {}
    for migration in catalogue.migrations:
        if migration.version in applied:
            run.step(migration, "up")
    return pending


class _Verifier:
    def __init__(self, config: Config, scratch: SqlStore, loader: MigrationLoader, *,
                 data: bool, guard: SignalGuard | None, wording: Wording) -> None:
        self.config = config
        self.scratch = scratch
        self.loader = loader
        self.data = data
        self.guard = guard
        self.wording = wording
        self.applied: set[int] = set()
        self.current = 0
        self.cache: dict[Any, Any] = {}
        self.last: Snapshot | None = None  # the snapshot after the last step, when known

    def pending(self, store: SqlStore, migrations: Any, state: Any = None) -> list[Migration]:
        """What a run would apply to ``store``; refuses a store with a failed migration,
        as a run does."""
        from .plan import UP, Request, make_plan

        state = state or store.read_state(migrations)
        if state.attempts:
            version = min(state.attempts)
            raise PlanError(
                f"migration {version} failed in {store.describe()}, so verify cannot tell "
                "what the database holds",
                f"Settle it first: run with {self.wording.resume}, or "
                f"{self.wording.resolve.format(version)}.",
            )
        if store is self.scratch:
            self.applied = set(state.applied or ())
            self.current = state.current
        # Pending ones below the current version too: whether a run may apply them is the
        # run's question; whether each undoes itself is the same either way.
        plan = make_plan(migrations, state.current, Request(UP),
                         applied=None if state.applied is None else state.applied.keys(),
                         allow_out_of_order=True, wording=self.wording)
        return [step.migration for step in plan.steps]

    def snapshot(self) -> Snapshot:
        return self.scratch.snapshot(rows=self.data, cache=self.cache)

    def step(self, migration: Migration, direction: str) -> None:
        from .plan import Plan, Step
        from .runner import NO_HOOKS, SilentProgress, run_plan

        if direction == "up":
            after = max(self.current, migration.version)
        else:
            after = max((v for v in self.applied if v != migration.version), default=0)
        plan = Plan(self.current, after, (Step(migration, direction, after),))
        run_plan(plan, self.scratch, self.config, self.loader, SilentProgress(),
                 hooks=NO_HOOKS, guard=self.guard, wording=self.wording)
        if direction == "up":
            self.applied.add(migration.version)
        else:
            self.applied.discard(migration.version)
        self.current = after

    def round_trip(self, migration: Migration) -> RoundTrip:
        from . import schema
        from .plan import DOWN, Step
        from .runner import check_runnable

        started = time.perf_counter()
        version = migration.version

        def trip(*problems: str) -> RoundTrip:
            return RoundTrip(version, migration.name, problems, time.perf_counter() - started)

        try:
            check_runnable(Step(migration, DOWN, 0), self.loader, self.scratch)
        except (DiscoveryError, PlanError) as exc:
            return trip(f"migration {version} cannot be rolled back: {exc}")
        before = self.last or self.snapshot()
        after_up = before
        for direction, expected_of in (("up", None), ("down", "start"), ("up again", "up")):
            try:
                self.step(migration, direction.split()[0])
            except MigrationError as exc:
                self.last = None
                return trip(f"{direction} {version} failed: {exc.message}")
            now = self.snapshot()
            if expected_of is None:
                after_up = now
                continue
            changes = schema.differences(before if expected_of == "start" else after_up, now)
            if changes:
                self.last = None
                extra, missing = ("still exists", "is gone") if direction == "down" else (
                    "was not there after the first up", "is missing (the first up made it)")
                return trip(*(f"after {direction} {version}: " + schema.describe(
                    change, extra=extra, missing=missing) for change in changes))
        self.last = now
        return trip()
