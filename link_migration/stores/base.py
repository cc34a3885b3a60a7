"""What every version store offers, and the one rule for what counts as a stored version."""
from __future__ import annotations

import contextlib
import os
import time
TYPE_CHECKING = False  # typing itself costs milliseconds to import; type checkers know this name

from ..errors import StoreError

if TYPE_CHECKING:
    # Types only: at run time `current` imports neither typing's machinery nor the state
    # and plan modules (see bench/).
    from typing import Any, ContextManager, Iterator, Protocol, Sequence

    from ..discovery import Migration
    from ..plan import Step
    from ..state import LogEntry, StoreState
else:
    Protocol = object


class VersionStore(Protocol):
    """Where the current version (and, for SQL stores, the history) lives.

    Failures are raised as StoreError naming the store and the problem.
    """

    def describe(self) -> str:
        """A short phrase naming the store for messages, e.g. ``file /srv/app/version.txt``."""
        ...

    def read_state(self, files: Sequence[Migration] = ()) -> StoreState:
        """The current version and, where the store keeps them, the applied migrations.
        ``files`` (by version) lets rows share the text they have in common with them."""
        ...

    def read_current(self) -> int:
        """Just the current version: cheaper than read_state() where the store can tell."""
        ...

    def applying(self, step: Step, *, transactional: bool, fake: bool) -> ContextManager[Any]:
        """Surround one step: yields the connection the migration may use (or None), records
        the step when the block completes, and undoes what it can when the block raises."""
        ...

    def read_log(self, limit: int | None) -> list[LogEntry] | None:
        """The log, newest first; None when this store keeps none."""
        ...

    def after_failure(self, exc: BaseException, *, transactional: bool) -> str:
        """What is known of the changes of a migration that failed or was interrupted with
        ``exc``, as the end of a sentence: never more than the store can tell."""
        ...

    def close(self) -> None:
        ...


class CurrentVersionStore:
    """A store that keeps only the current version: written after every migration."""

    def describe(self) -> str:
        raise NotImplementedError

    def read_version(self) -> int:
        raise NotImplementedError

    def write_version(self, version: int) -> None:
        raise NotImplementedError

    def read_state(self, files: Sequence[Migration] = ()) -> StoreState:
        from ..state import StoreState

        return StoreState(self.read_version())

    def read_current(self) -> int:
        return self.read_version()

    @contextlib.contextmanager
    def applying(self, step: Step, *, transactional: bool, fake: bool) -> Iterator[None]:
        yield None
        self.write_version(step.version_after)

    def read_log(self, limit: int | None) -> list[LogEntry] | None:
        return None

    def after_failure(self, exc: BaseException, *, transactional: bool) -> str:
        return ("this store has no transaction to undo what the migration did before it "
                "stopped, so that may be in place")

    def close(self) -> None:
        pass


def parse_version(value: object, source: str) -> int:
    """Turn what a store holds into a version: an int, a string of digits, or None for 0.

    ``source`` names where the value came from, for the message.
    """
    if value is None:
        return 0
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.strip().isdigit() and value.strip().isascii():
        number = int(value.strip())
    else:
        raise StoreError(
            f"{source} gave {value!r}, which is not a version",
            "A version is a whole number of 0 or more (or None for 0).",
        )
    if number < 0:
        raise StoreError(
            f"{source} gave {number}, which is not a version",
            "A version is a whole number of 0 or more.",
        )
    return number


def who_am_i() -> str:
    """``user@host``, for history rows and lock owners."""
    return f"{_user_name()}@{host_name()}"


def _user_name() -> str:
    # What getpass.getuser() does, without importing getpass (and termios) into every run.
    for variable in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        user = os.environ.get(variable)
        if user:
            return user
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except Exception:  # no pwd on Windows; no passwd entry in some containers
        return f"uid{os.getuid()}" if hasattr(os, "getuid") else "unknown"


def host_name() -> str:
    """The host name, read without importing socket where the OS gives it directly."""
    if hasattr(os, "uname"):
        return os.uname().nodename
    import socket

    return socket.gethostname()


def utc_timestamp(digits: int = 3) -> str:
    """Now in UTC, as datetime's isoformat() writes it with ``digits`` of fractions of a
    second; without datetime, which a run would otherwise import for this alone."""
    global _last_second
    seconds, nanoseconds = divmod(time.time_ns(), 10**9)
    last = _last_second  # one read: another thread may replace it meanwhile
    if last[0] != seconds:  # a run records hundreds of steps within one second
        last = _last_second = (seconds, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)))
    fraction = nanoseconds // 10 ** (9 - digits)
    return f"{last[1]}.{fraction:0{digits}d}+00:00"


_last_second: tuple[int | None, str] = (None, "")  # no second yet: None is none of them
