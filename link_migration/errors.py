"""The exception family; each class carries the exit status the CLI returns for it."""
from __future__ import annotations


class LinkMigrationError(Exception):
    """A problem we can explain to the user: a message, what to do, and an exit status."""

    exit_code: int = 2

    def __init__(self, message: str, hint: str = "", detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.detail = detail  # shown between message and hint: a user's traceback


class UsageError(LinkMigrationError):
    """The command line itself is wrong."""


class ConfigError(LinkMigrationError):
    """conf.py is missing, broken, or does not say where migrations and versions live."""


class DiscoveryError(LinkMigrationError):
    """A migration file cannot be read, has a bad version, or clashes with another."""


class PlanError(LinkMigrationError):
    """The request cannot be turned into a plan (unknown target, too many steps, ...)."""


class NothingToResume(PlanError):
    """A run asked to resume where no migration has failed."""


class StoreError(LinkMigrationError):
    """The version store cannot be read, or holds something that is not a version."""


class TransactionEndedError(StoreError):
    """A transactional migration ended the store's transaction itself: nothing is recorded,
    since what it did may have been committed or rolled back."""


class UncertainCommitError(StoreError):
    """commit() raised, yet the database may have committed: its reply can be lost."""


class DatabaseBusyError(StoreError):
    """Another process kept the database locked (SQLite's write lock) for longer than the
    lock timeout: the same wait as for our own lock, so the same status."""

    exit_code = 3


class LeaseLostError(StoreError):
    """Another runner (or ``unlock``) broke this run's lock: its lease went unrenewed for a
    whole term, or an operator forced it. The run must not take another step."""

    exit_code = 3


class MigrationError(LinkMigrationError):
    """A migration ran and failed, or ran and its version could not be recorded."""

    exit_code = 1


class LockTimeout(LinkMigrationError):
    """Another runner held the lock for longer than --lock-timeout."""

    exit_code = 3


class Interrupted(BaseException):
    """Raised out of our signal handler: a BaseException, so that a migration's own
    ``except Exception`` cannot swallow it."""

    def __init__(self, signum: int) -> None:
        import signal

        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class RunInterrupted(LinkMigrationError):
    """SIGINT or SIGTERM stopped the run; the status is 128 + the signal's number."""

    def __init__(self, message: str, hint: str, signum: int) -> None:
        super().__init__(message, hint)
        self.exit_code = 128 + signum
