"""Carries out a plan against a store: the only caller of a migration's up() and down()."""
from __future__ import annotations

import contextlib
import signal
import sys
import time
from pathlib import Path
from types import AsyncGeneratorType, CoroutineType, FunctionType, GeneratorType
from typing import TYPE_CHECKING, Callable, NamedTuple, Protocol, TextIO

from .config import API_WORDING, Config, Wording
from .context import MigrationContext
from .discovery import Catalogue, Migration, MigrationLoader
from .errors import (
    DiscoveryError,
    Interrupted,
    LeaseLostError,
    MigrationError,
    PlanError,
    RunInterrupted,
    StoreError,
    TransactionEndedError,
    UncertainCommitError,
)
from .plan import Plan, Step
from .signals import SignalGuard

if TYPE_CHECKING:
    from .state import Attempt
    from .stores.base import VersionStore

_PACKAGE_DIR = Path(__file__).resolve().parent


class Progress(Protocol):
    """Told about each step as it happens; the CLI prints, the API may collect."""

    def run_started(self, plan: Plan, store: str) -> None:
        """Every migration of the plan is imported and checked; the first is about to run."""
        ...

    def step_started(self, index: int, total: int, step: Step) -> None:
        ...

    def step_finished(self, index: int, total: int, step: Step, seconds: float) -> None:
        ...

    def migration_output(self) -> TextIO:
        """Where a migration's prints go while it runs."""
        ...


class SilentProgress:
    """Progress for the Python API: reports nothing, leaves the migrations' prints alone."""

    def run_started(self, plan: Plan, store: str) -> None:
        pass

    def step_started(self, index: int, total: int, step: Step) -> None:
        pass

    def step_finished(self, index: int, total: int, step: Step, seconds: float) -> None:
        pass

    def migration_output(self) -> TextIO:
        return sys.stdout


class RunResult(NamedTuple):
    """What a run did: the plan, the steps that completed, the version the store now holds."""

    plan: Plan
    completed: tuple[Step, ...]
    version: int
    seconds: float
    fake: bool = False
    dry_run: bool = False
    store: str = ""
    catalogue: Catalogue | None = None

    @property
    def versions(self) -> list[int]:
        """The versions applied or rolled back, in the order they ran."""
        return [step.migration.version for step in self.completed]


class _Prepared(NamedTuple):
    step: Step
    function: Callable[..., object] | None
    takes_context: bool
    transactional: bool = True


def run_plan(
    plan: Plan,
    store: VersionStore,
    config: Config,
    loader: MigrationLoader,
    progress: Progress,
    *,
    hooks: Hooks,
    fake: bool = False,
    guard: SignalGuard | None = None,
    clock: Callable[[], float] = time.perf_counter,
    wording: Wording = API_WORDING,
    resume: Attempt | None = None,
) -> RunResult:
    """Run every step of ``plan`` in order, recording the version in ``store`` after each.

    With ``resume``, the failed migration it describes is the plan's first step: a SQL one
    goes on after the statements it completed (which must be unchanged), a Python one runs
    again from its start (SPEC 9).

    Every migration of the plan is imported and checked before the first one runs, so a broken
    file stops the run with nothing changed. ``hooks`` are called around each migration (pass
    NO_HOOKS with ``fake``). With ``fake``, versions are recorded and no
    migration is imported or run. A failing migration raises MigrationError; the store then
    holds the version of the last step that completed. With a ``guard``, a first SIGINT or
    SIGTERM lets the running step end and then stops the run (RunInterrupted); a second one
    interrupts the migration.
    """
    guard = guard or SignalGuard()
    flavour = _SqlFlavour(store)
    prepared = [_Prepared(step, None, False) for step in plan.steps] if fake else [
        _prepare(step, loader, flavour) for step in plan.steps
    ]
    # Where DDL commits by itself (MySQL), a SQL migration runs a statement at a time, each
    # committed and counted, so that a failure says exactly how far it got.
    keeps_attempts = hasattr(store, "attempt_started")
    atomic = store.atomic_ddl() if keeps_attempts and not fake else True  # type: ignore[attr-defined]
    if not atomic:
        prepared = [item._replace(transactional=False) if _is_sql(item.function) else item
                    for item in prepared]
    start = _resume_from(prepared[0], resume) if resume is not None and prepared and not fake else 0
    progress.run_started(plan, store.describe())
    started = clock()
    completed: list[Step] = []
    version = plan.current
    total = len(prepared)
    try:
        for index, item in enumerate(prepared, start=1):
            if guard.requested is not None:  # a fleet's signal that came before the step
                raise _stopped(guard.requested, version, completed, total)
            step = item.step
            progress.step_started(index, total, step)
            step_started = clock()
            with guard.migration_running(getattr(store, "cancel", None)):
                ran = False
                try:
                    extra = {} if not keeps_attempts else {
                        "statements": len(item.function.statements)  # type: ignore[union-attr]
                        if _is_sql(item.function) else None,
                        "resume": resume is not None and index == 1,
                    }
                    with store.applying(
                        step, transactional=item.transactional, fake=fake, **extra
                    ) as connection:
                        if item.function is not None:
                            counted = keeps_attempts and _is_sql(item.function) and (
                                not item.transactional or not atomic)
                            _call_migration(
                                item, config, hooks, progress, version, connection, store,
                                start=start if index == 1 else 0,
                                after_statement=_statement_counter(
                                    store, step,
                                    paired=not item.function.controls_transactions,  # type: ignore[union-attr]
                                ) if counted else None, wording=wording,
                            )
                        ran = True
                        guard.recording()
                except Interrupted as interrupt:
                    aftermath = _aftermath(store, interrupt, item.transactional)
                    if guard.cancelled:
                        _after_cancel(store)
                    raise _interrupted(
                        interrupt.signum, step, version, completed, total, recording=ran,
                        aftermath=aftermath, wording=wording, store=store,
                    ) from None
                except LeaseLostError as exc:
                    raise _lease_lost(exc, step, version, completed, total, ran=ran) from None
                except StoreError as exc:
                    if not ran and not completed:
                        raise  # nothing has changed: a plain store error, status 2
                    raise _store_failed(exc, step, version, ran=ran, fake=fake,
                                        wording=wording) from exc
                # Still guarded: what the run reports must be what the store now holds.
                version = step.version_after
                completed.append(step)
            progress.step_finished(index, total, step, clock() - step_started)
            if guard.requested is not None:
                raise _stopped(guard.requested, version, completed, total)
    except Interrupted as interrupt:  # between two steps: every completed one is recorded
        raise _stopped(interrupt.signum, version, completed, total) from None
    return RunResult(plan, tuple(completed), version, clock() - started, fake, store=store.describe())


def _lease_lost(exc: LeaseLostError, step: Step, version: int, completed: list[Step],
                total: int, *, ran: bool) -> LeaseLostError:
    """The run lost its lock (SPEC 12): it stops, saying where, with the lock's status 3."""
    migration = f"migration {step.migration.version} ({step.direction}) in {step.migration.path}"
    where = (f"{migration} was not recorded" if ran
             else f"stopped before {migration}")
    return LeaseLostError(
        f"{where}, after {len(completed)} of {total} migrations; the store holds version "
        f"{version}: {exc.message}",
        exc.hint,
    )


def _store_failed(
    exc: StoreError, step: Step, version: int, *, ran: bool, fake: bool, wording: Wording
) -> MigrationError:
    subject = f"migration {step.migration.version} ({step.direction}) in {step.migration.path}"
    if isinstance(exc, TransactionEndedError):
        return MigrationError(
            f"{subject} was not recorded: {exc.message}",
            f"The store holds version {version}. Check what of the migration is in place; "
            f"{exc.hint}",
        )
    if isinstance(exc, UncertainCommitError):
        return MigrationError(
            f"{subject} ran, but {exc.message}: the store holds version {version} or "
            f"{step.version_after}",
            f"Run {wording.status} to see which, then run again.",
        )
    if fake:
        what = f"could not be recorded as version {step.version_after}: "
    elif ran:
        what = f"ran, but recording version {step.version_after} failed: "
    else:
        what = "could not start: "
    return MigrationError(
        f"{subject} {what}{exc.message}",
        exc.hint if ran else f"The store holds version {version}.",
    )


def _stopped(signum: int, version: int, completed: list[Step], total: int) -> RunInterrupted:
    name = signal.Signals(signum).name
    return RunInterrupted(
        f"stopped by {name} after {len(completed)} of {total} migrations; "
        f"the store holds version {version}",
        "Run again to apply the rest.",
        signum,
    )


def _aftermath(store: VersionStore, exc: BaseException, transactional: bool) -> str:
    """What the store knows of a stopped migration's changes, as a sentence's end."""
    return store.after_failure(exc, transactional=transactional)


def _after_cancel(store: VersionStore) -> None:
    """A cancelled statement's connection may be left unusable: the store replaces it before
    the lock is released over it."""
    after_cancel = getattr(store, "after_cancel", None)  # stores without statements have none
    if after_cancel is not None:
        with contextlib.suppress(Exception):
            after_cancel()


def _interrupted(
    signum: int,
    step: Step,
    version: int,
    completed: list[Step],
    total: int,
    *,
    recording: bool,
    aftermath: str,
    wording: Wording,
    store: VersionStore | None = None,
) -> RunInterrupted:
    name = signal.Signals(signum).name
    migration = f"migration {step.migration.version} ({step.direction}) in {step.migration.path}"
    progress = f"after {len(completed)} of {total} migrations"
    if recording:  # the record may or may not have reached the store
        return RunInterrupted(
            f"interrupted by {name} while {migration} was being recorded, {progress}; the "
            f"store holds version {version} or {step.version_after}",
            f"Run {wording.status} to see which, then run again to go on.",
            signum,
        )
    running = getattr(store, "attempt_running", None)
    hint = (f"Run again with {wording.resume} to go on from where it stopped, or finish or "
            f"undo it by hand and say so with {wording.resolve.format(step.migration.version)}."
            if running is not None and running() else "Run again to go on.")
    return RunInterrupted(
        f"interrupted by {name} during {migration}, {progress}; the store holds version "
        f"{version}, and {aftermath}",
        hint,
        signum,
    )


class Hooks(NamedTuple):
    """conf.py's hooks, read once when a run starts: a migration or hook that rebinds one
    does not change the run it is part of."""

    before_migration: Callable[..., object] | None = None
    after_migration: Callable[..., object] | None = None
    after_run: Callable[..., object] | None = None


NO_HOOKS = Hooks()  # dry runs and --fake run no migration, so they call no hook


def read_hooks(config: Config) -> Hooks:
    """One that is not a function taking the one argument it is given is conf.py's error,
    found before anything runs."""
    return Hooks(*(
        config.function(name, 1, f"one argument, the {argument}", f"def {name}({argument}):")
        for name, argument in zip(Hooks._fields, ("context", "context", "summary"))
    ))


class _SqlFlavour:
    """The SQL flavour of the store's database, asked once, when a SQL migration needs it."""

    def __init__(self, store: VersionStore) -> None:
        self._store = store
        self._flavour: str | None = None

    def __call__(self, migration: Migration) -> str:
        if self._flavour is None:
            ask = getattr(self._store, "sql_flavour", None)
            if ask is None:
                raise DiscoveryError(
                    f"{migration.path}: migration {migration.version} is SQL, and "
                    f"{self._store.describe()} has no database to run it on",
                    "SQL migrations need a SQL store: DATABASE, DATABASE_URL or "
                    "get_connection() in conf.py.",
                )
            self._flavour = ask()
        return self._flavour


def check_runnable(step: Step, loader: MigrationLoader, store: VersionStore) -> None:
    """Raise what running ``step`` would raise before it starts (a missing down(), a SQL
    script that does not split), without running it."""
    _prepare(step, loader, _SqlFlavour(store))


def _prepare(step: Step, loader: MigrationLoader, flavour: Callable[[Migration], str]) -> _Prepared:
    """Import the step's migration and check it has a usable up()/down(). A SQL migration's
    script is split and checked here, so that every problem shows before the first step."""
    migration = step.migration
    module = loader.load(migration.filename)
    function = getattr(module, step.direction, None)
    for_flavour = getattr(function, "for_flavour", None)
    if for_flavour is not None and hasattr(function, "statements"):
        function = for_flavour(flavour(migration))  # split and checked, once per flavour
        return _Prepared(step, function, True, function.transactional)
    if function is None:
        raise DiscoveryError(
            f"{migration.path}: migration {migration.version} has no {step.direction}() function",
            "Define it, "
            + ("or roll back less." if step.direction == "down" else "it is what runs the migration."),
        )
    if not callable(function):
        raise DiscoveryError(
            f"{migration.path}: {step.direction} in migration {migration.version} is "
            f"{function!r}, not a function",
            f"Define it with def {step.direction}(context):",
        )
    if _never_runs_its_body(function):
        # Calling one only creates a coroutine or generator: nothing would run, yet the
        # migration would be recorded as done.
        raise DiscoveryError(
            f"{migration.path}: {step.direction}() in migration {migration.version} is "
            "async or a generator, so calling it would not run it",
            f"Make it a plain def {step.direction}(context):",
        )
    transactional = getattr(module, "transactional", True)
    if not isinstance(transactional, bool):
        raise DiscoveryError(
            f"{migration.path}: transactional is {transactional!r}; it must be True or False",
            "Write transactional = False to run this migration outside a transaction.",
        )
    return _Prepared(
        step, function, _takes_context(function, migration, step.direction), transactional
    )


# Code flags of functions whose call returns an object instead of running the body.
_DEFERRED_BODY = 0x20 | 0x80 | 0x200  # CO_GENERATOR, CO_COROUTINE, CO_ASYNC_GENERATOR
_ACCEPTS_VARARGS = 0x04  # CO_VARARGS
_UNRUN_BODIES = (CoroutineType, GeneratorType, AsyncGeneratorType)


def _plain(function: Callable[..., object]) -> bool:
    """A def with nothing attached: what its code says is the whole truth. A decorated one
    (__wrapped__, __signature__, a coroutine marker) is left to inspect, which follows those."""
    return type(function) is FunctionType and not function.__dict__


def _never_runs_its_body(function: Callable[..., object]) -> bool:
    if _plain(function):  # the usual case, read from the code: no inspect
        return bool(function.__code__.co_flags & _DEFERRED_BODY)  # type: ignore[attr-defined]
    import inspect  # for partials, methods, decorated functions and callable objects

    return (
        inspect.iscoroutinefunction(function)
        or inspect.isgeneratorfunction(function)
        or inspect.isasyncgenfunction(function)
    )


def _takes_context(function: Callable[..., object], migration: Migration, name: str) -> bool:
    """Whether to pass the context: up()/down() may take no argument, or one."""
    if not _plain(function):
        return _takes_context_by_signature(function, migration, name)
    code = function.__code__  # type: ignore[attr-defined]
    defaults = len(function.__defaults__ or ())  # type: ignore[attr-defined]
    required = code.co_argcount - defaults
    required_keywords = code.co_kwonlyargcount - len(function.__kwdefaults__ or {})  # type: ignore[attr-defined]
    if required > 1 or required_keywords:
        return _takes_context_by_signature(function, migration, name)  # which says what is wrong
    return code.co_argcount > 0 or bool(code.co_flags & _ACCEPTS_VARARGS)


def _takes_context_by_signature(
    function: Callable[..., object], migration: Migration, name: str
) -> bool:
    import inspect  # one of the slowest modules to import: only for unusual functions

    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return False
    positional = [
        p
        for p in signature.parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    required = [
        p
        for p in signature.parameters.values()
        if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    if len(required) > 1 or any(p.kind == p.KEYWORD_ONLY for p in required):
        code = getattr(function, "__code__", None)
        where = f"{code.co_filename}, line {code.co_firstlineno}" if code else str(migration.path)
        raise DiscoveryError(
            f"{where}: {name}{signature} needs {len(required)} arguments",
            f"{name}() may take no argument, or one: the migration context.",
        )
    accepts_varargs = any(p.kind == p.VAR_POSITIONAL for p in signature.parameters.values())
    return bool(positional) or accepts_varargs


def _statement_counter(store: VersionStore, step: Step,
                       paired: bool) -> Callable[[object, str, int, str], None]:
    version = step.migration.version
    return lambda cursor, text, done, checksum: store.run_counted(  # type: ignore[attr-defined]
        cursor, text, version, done, checksum, paired=paired)


def _is_sql(function: object) -> bool:
    return hasattr(function, "statements") and hasattr(function, "prepare")


def _resume_from(item: _Prepared, attempt: Attempt) -> int:
    """Where a resumed migration goes on: after the statements it completed, if they are
    still those of its file; a Python migration starts again."""
    step = item.step
    if not _is_sql(item.function) or not attempt.done:
        return 0
    script = item.function
    if len(script.statements) < attempt.done or \
            script.checksum_of_first(attempt.done) != attempt.done_checksum:  # type: ignore[union-attr]
        raise PlanError(
            f"cannot resume migration {attempt.version} ({attempt.direction}) in "
            f"{step.migration.path}: its first {attempt.done} statements, which completed, are "
            "not the same in the file now",
            "Resume means going on after them: restore them as they ran (fix only what comes "
            "after), or finish the migration by hand and resolve it.",
        )
    return attempt.done


def _call_migration(
    item: _Prepared,
    config: Config,
    hooks: Hooks,
    progress: Progress,
    version: int,
    connection: object,
    store: VersionStore,
    *,
    start: int = 0,
    after_statement: Callable[[object, str, int, str], None] | None = None,
    wording: Wording = API_WORDING,
) -> None:
    """Run the hooks and the migration, inside the step's transaction where there is one. A
    SQL migration goes on after its first ``start`` statements, and says after each one
    (``after_statement``) when it runs outside a transaction."""
    step = item.step
    assert item.function is not None
    context = MigrationContext(
        config=config.module,
        version=step.migration.version,
        direction=step.direction,
        migration=step.migration,
        connection=connection,
        target=getattr(config, "target", None),
    )
    def aftermath(exc: BaseException) -> str:
        return _aftermath(store, exc, item.transactional)

    running = getattr(store, "attempt_running", None)
    hint = (f"Fix it, then run again with {wording.resume} to go on from where it stopped, or "
            f"finish or undo it by hand and say so with "
            f"{wording.resolve.format(step.migration.version)}."
            if running is not None and running() else "Fix the migration and run again.")

    with contextlib.redirect_stdout(progress.migration_output()):
        _call_user(hooks.before_migration, "before_migration hook of", step, version, context,
                   aftermath, hint)
        function = item.function
        if _is_sql(function) and (start or after_statement):
            script = function
            function = lambda context: script(context, start, after_statement)  # noqa: E731
        _call_user(function if item.takes_context else _no_argument(function),
                   "", step, version, context, aftermath, hint)
        _call_user(hooks.after_migration, "after_migration hook of", step, version, context,
                   aftermath, hint)


def _no_argument(function: Callable[..., object]) -> Callable[[MigrationContext], object]:
    return lambda context: function()


def _call_user(
    function: Callable[..., object] | None,
    what: str,
    step: Step,
    version: int,
    context: MigrationContext,
    aftermath: Callable[[BaseException], str],
    hint: str = "Fix the migration and run again.",
) -> None:
    if function is None:
        return
    subject = f"{what} migration" if what else "migration"
    try:
        returned = function(context)
    except (Exception, SystemExit) as exc:  # sys.exit() in a migration is a failure too
        raise MigrationError(
            f"{subject} {step.migration.version} ({step.direction}) in {step.migration.path} "
            f"failed: {type(exc).__name__}: {exc}",
            f"The store holds version {version}, and {aftermath(exc)}. {hint}",
            detail=user_traceback(exc),
        ) from exc
    if isinstance(returned, _UNRUN_BODIES):
        # A decorator hid an async def or a generator from _prepare: its body has not run, so
        # the step must not be recorded as done.
        if not isinstance(returned, AsyncGeneratorType):
            returned.close()
        raise MigrationError(
            f"{subject} {step.migration.version} ({step.direction}) in {step.migration.path} "
            f"returned a {type(returned).__name__} instead of running: it is async or a "
            "generator behind a decorator",
            f"The store holds version {version}, and {aftermath(TypeError())}. "
            "Make it a plain function.",
        )


def user_traceback(exc: BaseException) -> str:
    """The traceback from the user's own code down, without our frames above it."""
    import traceback  # only when a migration has failed

    tb = exc.__traceback__
    while tb is not None and Path(tb.tb_frame.f_code.co_filename).resolve().parent == _PACKAGE_DIR:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))
