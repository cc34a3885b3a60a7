"""One runner at a time per store (SPEC 7): the lock kinds, and waiting for one.

SQL stores lock with a row in their own database, so every machine that migrates the database
sees it. The file and user-function stores lock a file beside conf.py with the operating
system's lock, which the kernel releases if the process dies. conf.py may bring its own lock
(acquire_lock() / release_lock()) for a store only it knows, such as a remote service.
"""
from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Protocol

from .config import API_WORDING, Config, Wording
from .errors import ConfigError, LockTimeout, StoreError
from .importer import user_location
from .state import LockHolder
from .stores.base import host_name, utc_timestamp, who_am_i
from .stores.sql import SqlStore

if TYPE_CHECKING:
    from .stores.base import VersionStore

LOCK_FILE_NAME = ".link-migration.lock"
_POLL_SECONDS = (0.05, 0.25)


class Lock(Protocol):
    def describe(self) -> str:
        ...

    def try_acquire(self, me: LockHolder) -> LockHolder | None:
        """Take the lock for ``me``; None when taken, else who holds it."""
        ...

    def release(self, me: LockHolder) -> None:
        ...

    def break_lock(self) -> str:
        """For ``unlock``: break a held lock by hand; says what was done."""
        ...


def me_now() -> LockHolder:
    """The holder this process would be. ``since`` to the microsecond also tells apart two
    runners of one process (two threads using the API)."""
    return LockHolder(
        owner=f"{who_am_i()}:{os.getpid()}",
        host=this_host(),
        pid=os.getpid(),
        since=utc_timestamp(6),
    )


def this_host() -> str:
    """The host name, and on Linux the PID namespace: containers that share a host name but
    not their process numbers must not judge each other's pids."""
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        return host_name()
    return f"{host_name()} {namespace}"


def lock_for(config: Config, store: VersionStore) -> Lock:
    """conf.py's own lock if it defines one, the lock row for SQL stores, else a file lock."""
    has_acquire, has_release = config.has("acquire_lock"), config.has("release_lock")
    if has_acquire != has_release:
        present = "acquire_lock" if has_acquire else "release_lock"
        missing = "release_lock" if has_acquire else "acquire_lock"
        raise ConfigError(
            f"{config.path} defines {present}() but not {missing}(): the two go together",
            f"Define {missing}() too.",
        )
    if has_acquire:
        return UserLock(config)
    if isinstance(store, SqlStore):
        return RowLock(store)
    return FileLock(config.folder / LOCK_FILE_NAME)


@contextlib.contextmanager
def held(
    lock: Lock,
    timeout: float,
    on_wait: Callable[[str], None],
    warn: Callable[[str], None],
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    wording: Wording = API_WORDING,
) -> Iterator[None]:
    """Hold ``lock`` for the block, waiting up to ``timeout`` seconds for it.

    ``on_wait`` is told once whom we wait for. A lock held by a process of this host that no
    longer exists is broken, with a warning. Raises LockTimeout when time runs out. A lock
    that cannot be given back is a warning: it must not hide how the run itself ended.
    """
    me = me_now()
    deadline = clock() + timeout
    told = False
    while True:
        holder = lock.try_acquire(me)
        if holder is None:
            break
        if _is_dead(holder):
            warn(f"broke the lock of {holder}: that process no longer runs")
            lock.release(holder)
            continue
        if not told:
            import random  # only when waiting: spreads the polls of runners started together

            on_wait(f"waiting for the lock on {lock.describe()}, held by {holder} "
                    f"(up to {timeout:g} s)")
            told = True
        remaining = deadline - clock()
        if remaining <= 0:
            raise LockTimeout(
                f"the lock on {lock.describe()} is held by {holder}; gave up after {timeout:g} s",
                f"Wait for that run to end, or give a longer {wording.lock_timeout}. If it is "
                f"gone, {wording.unlock} breaks the lock.",
            )
        sleep(min(remaining, random.uniform(*_POLL_SECONDS)))
    try:
        yield
    finally:
        try:
            lock.release(me)
        except Exception as exc:
            warn(f"could not release the lock on {lock.describe()}: {exc}")


def _is_dead(holder: LockHolder) -> bool:
    """Whether ``holder`` was a process on this host that has ended (SPEC 7: such a lock is
    no reason to wait)."""
    if not holder.pid or holder.host != this_host() or holder.pid == os.getpid():
        return False  # another host, or another runner in this very process
    try:
        os.kill(holder.pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # PermissionError: alive, someone else's
        return False
    return False


class RowLock:
    """A row in the SQL store's lock table, taken in its own committed transaction."""

    def __init__(self, store: SqlStore) -> None:
        self._store = store

    def describe(self) -> str:
        return f"{self._store.describe()} (table {self._store.lock_table})"

    def try_acquire(self, me: LockHolder) -> LockHolder | None:
        return self._store.try_lock(me)

    def release(self, me: LockHolder) -> None:
        self._store.unlock(me)

    def break_lock(self) -> str:
        holder = self._store.lock_holder()
        if holder is None:
            return f"No lock is held on {self.describe()}."
        self._store.unlock(holder)
        return f"Broke the lock on {self.describe()}, held by {holder}."


class FileLock:
    """An exclusive OS lock on a file beside conf.py; the kernel drops it with its process."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: Any = None

    def describe(self) -> str:
        return f"file {self.path}"

    def try_acquire(self, me: LockHolder) -> LockHolder | None:
        try:
            handle = open(self.path, "a+", encoding="utf-8")
        except OSError as exc:
            raise StoreError(
                f"cannot open the lock file {self.path}: {exc.strerror or exc}",
                "Make conf.py's folder writable, or define acquire_lock()/release_lock().",
            ) from None
        if not _lock_nonblocking(handle):
            handle.seek(0)
            owner = handle.read().strip() or "another process"
            handle.close()
            return LockHolder(owner, "", 0, "")
        handle.seek(0)
        handle.truncate()
        handle.write(f"{me.owner} since {me.since}\n")
        handle.flush()
        self._handle = handle
        return None

    def release(self, me: LockHolder) -> None:
        if self._handle is not None:
            self._handle.seek(0)
            self._handle.truncate()
            self._handle.close()  # closing drops the OS lock
            self._handle = None

    def break_lock(self) -> str:
        me = me_now()
        holder = self.try_acquire(me)
        if holder is None:
            self.release(me)
            return f"No lock is held on {self.describe()}."
        raise LockTimeout(
            f"the lock on {self.describe()} is held by {holder}, a process that is running",
            "An OS file lock ends with its process: stop that process, or wait for it.",
        )


def _lock_nonblocking(handle: Any) -> bool:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        try:
            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False


class UserLock:
    """conf.py's acquire_lock() (truthy when taken, falsy when someone else has it) and
    release_lock()."""

    def __init__(self, config: Config) -> None:
        self._acquire = config.get("acquire_lock")
        self._release = config.get("release_lock")
        self._conf_name = config.path.name

    def describe(self) -> str:
        return f"acquire_lock() in {self._conf_name}"

    def try_acquire(self, me: LockHolder) -> LockHolder | None:
        taken = self._call(self._acquire, "acquire_lock")
        return None if taken else LockHolder("another runner (acquire_lock() said no)", "", 0, "")

    def release(self, me: LockHolder) -> None:
        self._call(self._release, "release_lock")

    def break_lock(self) -> str:
        self._call(self._release, "release_lock")
        return f"Called release_lock() in {self._conf_name}."

    def _call(self, function: Callable[[], Any], name: str) -> Any:
        try:
            return function()
        except (Exception, SystemExit) as exc:
            raise StoreError(
                f"{name}() in {self._conf_name} raised {type(exc).__name__}: {exc} "
                f"({user_location(exc)})",
                f"Fix {name}().",
            ) from exc
