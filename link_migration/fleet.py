"""Many databases in one run (SPEC 11): a fleet is many ordinary runs, not a second runner.

conf.py's TARGETS names the databases; each target gets its own Migrator over a TargetConfig
(``{target}`` filled in, the store's functions given its name), so its own store, lock and
transactions. Targets run on ``jobs`` threads, in the order TARGETS gives them, and share one
catalogue of migrations and one loader, so that each migration file is imported once per
process. This module chooses the targets and schedules them; it prints nothing.
"""
from __future__ import annotations

import contextlib
import threading
import time
from typing import NamedTuple

from .config import TargetConfig, targets_of
from .errors import (
    ConfigError,
    Interrupted,
    LinkMigrationError,
    LockTimeout,
    UsageError,
)

TYPE_CHECKING = False  # typing itself costs milliseconds to import; type checkers know this name

if TYPE_CHECKING:
    from typing import Any, Callable, Iterator, Sequence

    from .api import Migrator
    from .config import Config, Wording

DEFAULT_JOBS = 4

# How a target's run ended.
DONE = "migrated"  # it ran migrations, and every one completed
CURRENT = "current"  # it had nothing to do
PLANNED = "planned"  # a dry run found steps to run
FAILED = "failed"
LOCKED = "locked"  # another runner held its lock too long
STOPPED = "stopped"  # a signal stopped it after a migration
NOT_STARTED = "not started"


class Selection(NamedTuple):
    """The targets chosen, in TARGETS order, and how many conf.py defines."""

    targets: tuple[str, ...]
    defined: int


def select(config: Config, patterns: Sequence[str], every: bool, shard: tuple[int, int] | None,
           wording_target: str = "--target NAME", wording_all: str = "--all-targets"
           ) -> Selection | None:
    """The targets ``patterns`` (shell patterns; each must match) or ``every`` choose, kept to
    ``shard`` (I, N); None when conf.py defines no TARGETS and none was asked for. UsageError
    for a selection that cannot be made, naming what is wrong."""
    import fnmatch

    names = targets_of(config)
    if names is None:
        if patterns or every or shard:
            raise UsageError(
                f"{config.path} defines no TARGETS, so there are no targets to choose from",
                "Define TARGETS = [...] in conf.py to migrate many databases, or leave out "
                f"{wording_target}, {wording_all} and --shard.",
            )
        return None
    if patterns and every:
        raise UsageError(f"give {wording_target} or {wording_all}, not both",
                         f"{wording_all} already takes every one of the {len(names)} targets.")
    if not patterns and not every:
        shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
        raise UsageError(
            f"{config.path} defines {len(names)} target{'s' if len(names) != 1 else ''} "
            f"({shown}): say which",
            f"Choose with {wording_target} (shell patterns allowed, as in 'tenant_*'), or "
            f"{wording_all}.",
        )
    if every:
        chosen = list(names)
    else:
        wanted: set[str] = set()
        for pattern in patterns:
            matched = [n for n in names if fnmatch.fnmatchcase(n, pattern)] if _is_pattern(
                pattern) else ([pattern] if pattern in names else [])
            if not matched:
                close = [n for n in names if pattern.lower() in n.lower()][:3]
                raise UsageError(
                    f"{'no target matches' if _is_pattern(pattern) else 'unknown target'} "
                    f"{pattern!r} (conf.py defines {len(names)})",
                    f"Did you mean {', '.join(close)}?" if close else
                    "Run 'link-migration status --all-targets' to list them.",
                )
            wanted.update(matched)
        chosen = [name for name in names if name in wanted]
    if shard is not None:
        index, count = shard
        chosen = [name for name in chosen if shard_of(name, count) == index]
    return Selection(tuple(chosen), len(names))


def _is_pattern(text: str) -> bool:
    return any(char in text for char in "*?[")


def shard_of(name: str, count: int) -> int:
    """The shard (1 to ``count``) a target belongs to: a hash of its name alone, the same on
    every machine and Python, so that N machines given I/N share the fleet with no
    coordinator."""
    import hashlib

    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count + 1


class TargetResult(NamedTuple):
    """How one target's work ended. ``value`` is what the work returned (a RunResult, a
    Status, a version); ``error`` the exception that ended it, if one did."""

    target: str
    outcome: str
    seconds: float
    value: Any = None
    error: BaseException | None = None


class FleetResult(NamedTuple):
    results: tuple[TargetResult, ...]  # in TARGETS order
    seconds: float
    signal: int | None  # the signal that stopped the fleet, if one did
    defined: int  # how many targets conf.py defines

    def count(self, outcome: str) -> int:
        return sum(1 for result in self.results if result.outcome == outcome)

    @property
    def exit_status(self) -> int:
        """SPEC 11: 0 when every target ended well, 1 when any failed, 3 when any could not
        get its lock (and none failed), 128 + the signal when one stopped the fleet."""
        if self.signal is not None:
            return 128 + self.signal
        if self.count(FAILED):
            return 1
        if self.count(LOCKED):
            return 3
        return 0


class FleetSignals:
    """What a signal does to a fleet: the first starts no new target, and each running one
    stops after its current migration; the second also cancels the statement each is
    running (not a record being written); the third abandons the running targets, as a
    kill would. The handlers are installed by whoever owns the main thread (the command
    line), and call signal()."""

    def __init__(self) -> None:
        self.requested: int | None = None
        # Re-entrant: a handler may run inside a handler, in the main thread.
        self._mutex = threading.RLock()
        self._running: dict[int, Callable[[], Any]] = {}  # thread -> cancel of its migration
        self._cancelled: set[int] = set()
        self._count = 0

    def signal(self, signum: int) -> str:
        """React to ``signum``; returns what it did, in words. The third raises Interrupted:
        the command gives up on the running targets."""
        import signal as signals

        name = signals.Signals(signum).name
        with self._mutex:
            self._count += 1
            if self.requested is None:
                self.requested = signum
                return (f"{name}: starting no new target; each running one stops after its "
                        f"current migration (send {name} again to interrupt them)")
            if self._count >= 3:
                raise Interrupted(signum)
            cancels = list(self._running.items())
            self._cancelled.update(thread for thread, _ in cancels)
        for thread, cancel in cancels:
            threading.Thread(target=self._cancel, args=(thread, cancel), daemon=True).start()
        return (f"{name}: cancelling the statements of {len(cancels)} running migration(s); "
                f"send {name} a third time to abandon them, as a kill would")

    def _cancel(self, thread: int, cancel: Callable[[], Any]) -> None:
        """Cancel a target's statement, if that migration is still running (not being
        recorded, not ended)."""
        with self._mutex:
            if self._running.get(thread) is not cancel:
                return
        with contextlib.suppress(Exception):
            cancel()

    def guard(self) -> _TargetGuard:
        return _TargetGuard(self)


class _TargetGuard:
    """What the runner asks of a SignalGuard, answered for one target's thread."""

    def __init__(self, signals: FleetSignals) -> None:
        self._signals = signals

    @property
    def requested(self) -> int | None:
        return self._signals.requested

    @property
    def cancelled(self) -> bool:
        return threading.get_ident() in self._signals._cancelled

    @contextlib.contextmanager
    def migration_running(self, cancel: Callable[[], Any] | None = None) -> Iterator[None]:
        me = threading.get_ident()
        with self._signals._mutex:
            self._signals._cancelled.discard(me)
            if cancel is not None:
                self._signals._running[me] = cancel
        try:
            yield
        finally:
            self.recording()

    def recording(self) -> None:
        """The migration returned: from here its record is written, which no signal cancels."""
        with self._signals._mutex:
            self._signals._running.pop(threading.get_ident(), None)


def run_fleet(
    targets: Sequence[str],
    work: Callable[[str, _TargetGuard], tuple[str, Any]],
    *,
    jobs: int = DEFAULT_JOBS,
    canary: int = 0,
    keep_going: bool = False,
    signals: FleetSignals | None = None,
    on_start: Callable[[str], None] | None = None,
    on_end: Callable[[TargetResult], None] | None = None,
    tick: Callable[[], None] | None = None,
    defined: int = 0,
) -> FleetResult:
    """Run ``work(target, guard)`` for every target, ``jobs`` at a time, in order: the first
    ``canary`` all first (a failure among them starts no other), then the rest. ``work``
    returns (outcome, value); a LinkMigrationError it raises is the target's failure (a lock
    timeout its own outcome). After a failure no new target starts unless ``keep_going``;
    after a signal, none does. ``tick`` is called about five times a second from this thread,
    for a live progress line."""
    signals = signals or FleetSignals()
    started = time.perf_counter()
    results: dict[str, TargetResult] = {}
    failed = threading.Event()
    wake = threading.Event()

    def wave(queue: Sequence[str], stop_on_failure: bool) -> None:
        position = iter(queue)
        taking = threading.Lock()

        def worker() -> None:
            while True:
                with taking:
                    if signals.requested is not None or (failed.is_set() and stop_on_failure):
                        return
                    target = next(position, None)
                if target is None:
                    return
                if on_start is not None:
                    on_start(target)
                result = _one(target, work, signals)
                results[target] = result
                if result.outcome == FAILED:
                    failed.set()
                if on_end is not None:
                    on_end(result)
                wake.set()

        threads = [threading.Thread(target=worker, name=f"link-migration target {i}",
                                    daemon=True)
                   for i in range(max(1, min(jobs, len(queue))))]
        for thread in threads:
            thread.start()
        while any(thread.is_alive() for thread in threads):
            wake.wait(0.2)
            wake.clear()
            if tick is not None:
                tick()

    canaries = list(targets[:canary])
    if canaries:
        wave(canaries, stop_on_failure=True)  # a failing canary starts no other target
    if not failed.is_set():
        wave(list(targets[len(canaries):]), stop_on_failure=not keep_going)
    ordered = tuple(results.get(target) or TargetResult(target, NOT_STARTED, 0.0)
                    for target in targets)
    return FleetResult(ordered, time.perf_counter() - started, signals.requested, defined)


def _one(target: str, work: Callable[[str, _TargetGuard], tuple[str, Any]],
         signals: FleetSignals) -> TargetResult:
    from .errors import LeaseLostError, RunInterrupted

    started = time.perf_counter()
    try:
        outcome, value = work(target, signals.guard())
    except (LockTimeout, LeaseLostError) as exc:
        return TargetResult(target, LOCKED, time.perf_counter() - started, error=exc)
    except RunInterrupted as exc:
        return TargetResult(target, STOPPED, time.perf_counter() - started, error=exc)
    except BaseException as exc:  # noqa: BLE001 - whatever ended it (sys.exit() in conf.py's
        # get_connection, say) is this target's failure, reported, never a silent thread
        return TargetResult(target, FAILED, time.perf_counter() - started, error=exc)
    return TargetResult(target, outcome, time.perf_counter() - started, value)


READ = "read"  # status, current and check read the target


class Fleet:
    """The Migrator's methods over the targets of a selection (SPEC 11): each returns a
    FleetResult with a TargetResult per target, in TARGETS order. Made by
    Migrator.targets()."""

    def __init__(self, base: Migrator, selection: Selection, *, jobs: int = DEFAULT_JOBS,
                 canary: int = 0, keep_going: bool = False,
                 signals: FleetSignals | None = None,
                 options: dict[str, Any] | None = None) -> None:
        self.base = base
        self.targets = selection.targets
        self.defined = selection.defined
        self.jobs = check_jobs(jobs)
        if canary < 0:
            raise ConfigError(f"canary is {canary}; it must be 0 (none) or more",
                              "Give the number of targets to migrate first.")
        self.canary = canary
        self.keep_going = keep_going
        self.signals = signals or FleetSignals()
        self._options = options or {}  # for each target's Migrator: warn, lock_timeout, ...
        self._discovering = threading.Lock()

    def migrator(self, target: str, guard: Any = None, **options: Any) -> Migrator:
        """One target's Migrator, sharing the fleet's catalogue and loader, discovered the
        first time one of them needs it (a command such as unlock never does)."""
        from .api import Migrator

        migrator = Migrator(TargetConfig(self.base.config, target), guard=guard,
                            **{**self._options, **options})
        migrator._discovery = self.discovered
        return migrator

    def discovered(self) -> Any:
        """The migrations, found once for every target, whichever thread asks first."""
        with self._discovering:
            return self.base._discovered()

    def run(self, request: Any, *, dry_run: bool = False, fake: bool = False,
            out_of_order: bool = False, resume: bool = False,
            progress: Callable[[str], Any] | None = None, **hooks: Any) -> FleetResult:
        """Migration ``request`` on every target. ``progress(target)`` gives each target's
        Progress (the command line's -v); ``hooks`` are run_fleet's on_start, on_end, tick."""
        from .errors import NothingToResume

        self.discovered()  # once, before any thread: a broken file stops all at once

        def work(target: str, guard: Any) -> tuple[str, Any]:
            migrator = self.migrator(target, guard,
                                     **({"progress": progress(target)} if progress else {}))
            try:
                result = migrator.run(request, dry_run=dry_run, fake=fake,
                                      out_of_order=out_of_order, resume=resume)
            except NothingToResume:
                # --resume over a fleet resumes the targets where a migration failed; the
                # others (nothing run, nothing changed by that refusal) simply migrate.
                result = migrator.run(request, dry_run=dry_run, fake=fake,
                                      out_of_order=out_of_order)
            if result.completed:
                return DONE, result
            return (PLANNED if result.dry_run and result.plan.steps else CURRENT), result

        return self._run(work, **hooks)

    def _check_conf(self) -> None:
        """conf.py's store and lock, as a target sees them, checked once before any target
        starts: a function of conf.py that cannot take the target is exit 2, with nothing
        run, not a failure of every target."""
        if not self.targets:
            return
        from .lock import lock_for
        from .stores import open_store

        base = self.base.config
        for name in ("DATABASE", "VERSION_FILE", "DATABASE_URL"):
            value = None if base.has("get_current_version") else base.get(name)
            if isinstance(value, str) and "{target}" not in value:
                raise ConfigError(
                    f"{name} in {base.path} is {value!r}, with no {{target}}: every target "
                    "would be that same database",
                    f"Write {{target}} where each target's name goes, as in "
                    f"{name} = 'tenants/{{target}}.db'.",
                )
        config = TargetConfig(base, self.targets[0])
        for name, arguments, takes, definition in (
                ("get_connection", 0, "no argument", "def get_connection():"),
                ("acquire_lock", 0, "no argument", "def acquire_lock():"),
                ("release_lock", 0, "no argument", "def release_lock():")):
            config.function(name, arguments, takes, definition)
        store = open_store(config)  # connects to nothing yet
        try:
            lock_for(config, store)
        finally:
            store.close()

    def upgrade(self, **options: Any) -> FleetResult:
        from .plan import UP, Request

        return self.run(Request(UP), **options)

    def migrate_to(self, version: int, **options: Any) -> FleetResult:
        from .plan import Request

        return self.run(Request("to", target=version), **options)

    # Reading goes on past a target that cannot be read: each is reported, none is changed.

    def status(self, **hooks: Any) -> FleetResult:
        """Each target's Status."""
        self.discovered()
        return self._run(lambda target, guard: (READ, self.migrator(target).status()),
                         reading=True, **hooks)

    def current(self, **hooks: Any) -> FleetResult:
        """Each target's current version."""
        return self._run(lambda target, guard: (READ, self.migrator(target).current()),
                         reading=True, **hooks)

    def check(self, **hooks: Any) -> FleetResult:
        """Each target's (Status, problems): empty problems when all is well there."""
        self.discovered()

        def work(target: str, guard: Any) -> tuple[str, Any]:
            migrator = self.migrator(target)
            status = migrator.status()
            return READ, (status, migrator.check(status))

        return self._run(work, reading=True, **hooks)

    def _run(self, work: Callable[[str, Any], tuple[str, Any]], *, reading: bool = False,
             **hooks: Any) -> FleetResult:
        self._check_conf()
        return run_fleet(self.targets, work, jobs=self.jobs,
                         canary=0 if reading else self.canary,
                         keep_going=reading or self.keep_going, signals=self.signals,
                         defined=self.defined, **hooks)


def check_jobs(jobs: int) -> int:
    if not 1 <= jobs <= 256:
        raise ConfigError(f"jobs is {jobs}; it must be from 1 to 256",
                          "Give the number of targets to migrate at once (the default is 4).")
    return jobs
