"""One runner at a time per store (SPEC 7): the lock kinds, and waiting for one.

SQL stores lock with a row in their own database, so every machine that migrates the database
sees it. The file store locks a file beside its version file, and the user-function store one
beside conf.py, with the operating system's lock, which the kernel releases if the process dies.
conf.py may bring its own lock (acquire_lock() / release_lock()) for a store only it knows, such
as a remote service.
"""
from __future__ import annotations

import contextlib
import os
import re
import stat
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Protocol

from .config import API_WORDING, Config, Wording
from .errors import ConfigError, DatabaseBusyError, LockTimeout, StoreError
from .importer import user_location
from .state import LockHolder
from .stores.base import host_name, utc_timestamp, who_am_i
from .stores.sql import SqlStore
from .stores.textfile import TextFileStore

if TYPE_CHECKING:
    from .stores.base import VersionStore

LOCK_FILE_NAME = ".link-migration.lock"
_POLL_SECONDS = (0.05, 0.25)
# What a lock file of ours holds: nothing, or the one line "user@host:pid since <UTC time>"
# that FileLock writes (and earlier versions wrote). Anything else is someone else's file.
# Compiled on first use, by re's cache: a run whose lock file is empty never needs it.
_HOLDER_LINE = r"[^\n]+ since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?\+00:00\n"
_MAX_LOCK_FILE_SIZE = 4096  # a holder line is far shorter: a larger file is not ours


class Lock(Protocol):
    def describe(self) -> str:
        ...

    def try_acquire(self, me: LockHolder) -> LockHolder | None:
        """Take the lock for ``me``; None when taken, else who holds it."""
        ...

    def release(self, me: LockHolder) -> None:
        ...

    def break_lock(self, force: bool = False) -> str:
        """For ``unlock``: break a held lock by hand; says what was done. A holder that is
        running on this host keeps its lock unless ``force``."""
        ...

    def break_expired(self, holder: LockHolder) -> bool:
        """Break ``holder``'s lease, watched unrenewed for its whole term, unless it was
        renewed in the meantime; whether it was broken. Only leases (``holder.renewed``)."""
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
    """conf.py's own lock if it defines one, the lock row for SQL stores, else a file lock.

    The file lock sits beside what it protects: the version file (in its folder, as the path
    in conf.py spells it: ``TextFileStore.path``), so that every conf.py naming that file shares
    one lock; for the user-function store, which has no file, beside conf.py. Where conf.py
    and the version file share a folder this is the file earlier versions locked, so runners
    of both versions still exclude each other during an upgrade.
    """
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
    name = _lock_file_name(getattr(config, "target", None))
    if isinstance(store, TextFileStore):
        return FileLock(store.path.parent / name)
    return FileLock(config.folder / name)


def _lock_file_name(target: str | None) -> str:
    """One lock file per target of a fleet (SPEC 11), whose version files may share a
    folder: the name keeps what is safe in a file name, and a hash of the whole."""
    if target is None:
        return LOCK_FILE_NAME
    import re
    import zlib

    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", target)[:60]
    return f".link-migration.{safe}.{zlib.crc32(target.encode()):08x}.lock"


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
    started = clock()
    deadline = started + timeout
    told = False
    watched: tuple[LockHolder, float] | None = None  # a lease, and since when it is unchanged
    renewals = 0  # seen while waiting: a holder that renews is alive
    while True:
        holder = lock.try_acquire(me)
        if holder is None:
            break
        if _is_dead(holder):
            warn(f"broke the lock of {holder}: that process no longer runs")
            lock.release(holder)
            continue
        now = clock()
        if watched is None or watched[0] != holder:
            if watched is not None and watched[0]._replace(renewed=holder.renewed) == holder:
                renewals += 1
            watched = (holder, now)
        elif holder.renewed and now - watched[1] >= holder.term:
            try:
                broken = lock.break_expired(holder)
            except DatabaseBusyError:
                broken = False  # SQLite: the holder is writing, so it is alive
            if broken:
                warn(f"broke the lock of {holder}: its lease went unrenewed for "
                     f"{now - watched[1]:.0f} s (its term is {holder.term:g} s), so that run "
                     "has stopped, or lost touch with the database")
            watched = None
            continue
        if not told:
            import random  # only when waiting: spreads the polls of runners started together

            on_wait(f"waiting for the lock on {lock.describe()}, held by {holder} "
                    f"(up to {timeout:g} s)")
            told = True
        remaining = deadline - now
        if remaining <= 0:
            raise LockTimeout(
                f"the lock on {lock.describe()} is held by {holder}; gave up after "
                f"{timeout:g} s{_lease_news(holder, now - watched[1], renewals)}",
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


def _lease_news(holder: LockHolder, unchanged_for: float, renewals: int) -> str:
    """What the wait saw of ``holder``'s lease, for the message of a wait that gave up."""
    if not holder.renewed:
        return ""  # no lease: a file lock, conf.py's own, or a row of an earlier link-migration
    if renewals:
        return ": its lease was renewed while this run waited, so that run is alive"
    return (f": its lease was not renewed in the {unchanged_for:.1f} s watched; a runner "
            f"breaks it once it has gone unrenewed for {holder.term:g} s, its term")


def _is_dead(holder: LockHolder) -> bool:
    """Whether ``holder`` was a process on this host that has ended (SPEC 7: such a lock is
    no reason to wait)."""
    if not holder.pid or holder.host != this_host() or holder.pid == os.getpid():
        return False  # another host, or another runner in this very process
    return not _running(holder.pid)


def _running(pid: int) -> bool:
    """Whether process ``pid`` of this host runs. A killed child that its parent has not
    reaped yet (a zombie) still answers signals, but runs nothing and holds nothing."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: alive, someone else's
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            # "pid (name) state ...": the name may hold spaces and parentheses.
            return stat.read().rpartition(b")")[2].split()[:1] != [b"Z"]
    except OSError:  # no /proc (macOS), or the process ended meanwhile
        return True


def _held_for(holder: LockHolder) -> str:
    """How long ``holder`` has had the lock, in words, from its ``since``."""
    seconds = _age(holder.since)
    return "for an unknown time" if seconds is None else f"for {_duration(seconds)}"


def _lease_age(holder: LockHolder) -> str:
    """When ``holder`` last renewed its lease, by its clock and ours, for ``unlock``."""
    if not holder.renewed:
        return ""
    seconds = _age(holder.renewed)
    if seconds is None:
        return f"; lease term {holder.term:g} s"
    return f"; lease renewed {_duration(seconds)} ago, term {holder.term:g} s"


def _age(timestamp: str) -> int | None:
    """Seconds from a UTC timestamp that a store holds to now, None if it is not one."""
    from datetime import datetime, timezone

    try:
        then = datetime.fromisoformat(timestamp)
    except ValueError:
        return None
    if then.tzinfo is None:
        then = then.replace(tzinfo=timezone.utc)
    return int((datetime.now(timezone.utc) - then).total_seconds())


def _duration(seconds: int) -> str:
    if seconds < 120:
        return f"{max(seconds, 0)} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


class RowLock:
    """A row in the SQL store's lock table, taken in its own committed transaction."""

    def __init__(self, store: SqlStore) -> None:
        self._store = store

    def describe(self) -> str:
        return f"{self._store.describe()} (table {self._store.lock_table})"

    def try_acquire(self, me: LockHolder) -> LockHolder | None:
        return self._store.try_lock(me)

    def release(self, me: LockHolder) -> None:
        if not self._store.unlock(me):
            raise StoreError(
                f"it was no longer this run's: it was broken while this run worked (its lease "
                "went unrenewed for a whole term, or someone ran unlock), so another run may "
                "have migrated at the same time",
                "Check status and the history.",
            )

    def break_expired(self, holder: LockHolder) -> bool:
        return self._store.break_expired(holder)

    def break_lock(self, force: bool = False) -> str:
        holder = self._store.lock_holder()
        if holder is None:
            return f"No lock is held on {self.describe()}."
        here = holder.host == this_host() and bool(holder.pid)
        alive = here and holder.pid != os.getpid() and _running(holder.pid)
        held_for = _held_for(holder) + _lease_age(holder)
        if alive and not force:
            raise LockTimeout(
                f"the lock on {self.describe()} is held by {holder} ({held_for}), "
                f"a process that is running on this host (pid {holder.pid}): unlock left it "
                "in place",
                "Wait for that run to end, or stop it. Breaking the lock of a live run (with "
                "force) lets a second run apply the same migrations at the same time.",
            )
        self._store.unlock(holder)
        state = (" It is still running." if alive
                 else " That process no longer runs." if here
                 else " It ran on another host, so whether it still runs cannot be told here.")
        return f"Broke the lock on {self.describe()}, held by {holder} ({held_for}).{state}"


class FileLock:
    """An exclusive OS lock on a file; the kernel drops it with its process.

    The lock file often sits in a folder other users can write, so it is opened as if
    someone had prepared a trap there: never through a symbolic link, never a file with other
    hard links or one that is not a regular file, created private (0600: whoever can open it
    can take a shared lock and block every run). Its content is only ever rewritten when it
    is a lock file of ours, that is when it is empty or holds exactly the one holder line we
    write; any other file at that path is refused (exit 2) and left as it is, rather than
    locked without writing. Such a file is most likely another program's, which may lock or
    rewrite it too, or a sign of a mistake or of tampering, and a careful operator wants to
    hear of it before a deploy, not find the file emptied after one.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._descriptor: int | None = None

    def describe(self) -> str:
        return f"file {self.path}"

    def try_acquire(self, me: LockHolder) -> LockHolder | None:
        descriptor = self._open()
        try:
            if not _lock_nonblocking(descriptor):
                text = _read_quietly(descriptor)
                owner = text.strip() if _is_holder_line(text) else "another process"
                os.close(descriptor)
                return LockHolder(owner, "", 0, "")
            self._take_over(descriptor, me)
        except BaseException:
            with contextlib.suppress(OSError):
                os.close(descriptor)  # closing drops the OS lock, if we took it
            raise
        self._descriptor = descriptor
        return None

    def break_expired(self, holder: LockHolder) -> bool:
        return False  # the kernel ends the lock with its process: nothing to expire

    def release(self, me: LockHolder) -> None:
        descriptor, self._descriptor = self._descriptor, None
        if descriptor is None:
            return
        try:
            os.ftruncate(descriptor, 0)  # ours: _take_over checked it
        except OSError as exc:
            raise self._write_error(exc) from None
        finally:
            os.close(descriptor)  # closing drops the OS lock

    def break_lock(self, force: bool = False) -> str:
        if not os.path.lexists(self.path):  # no lock file, no lock: and unlock creates none
            return f"No lock is held on {self.describe()}."
        me = me_now()
        holder = self.try_acquire(me)
        if holder is None:
            self.release(me)
            return f"No lock is held on {self.describe()}."
        raise LockTimeout(
            f"the lock on {self.describe()} is held by {holder}, a process that is running",
            "An OS file lock ends with its process: stop that process, or wait for it.",
        )

    def _open(self) -> int:
        """The lock file, opened for reading and writing, created 0600 if missing, never
        through a symbolic link."""
        no_follow = getattr(os, "O_NOFOLLOW", 0)
        if not no_follow and os.path.islink(self.path):  # Windows: a check, not a guarantee
            raise self._link_error()
        flags = (os.O_RDWR | os.O_CREAT | no_follow | getattr(os, "O_CLOEXEC", 0)
                 | getattr(os, "O_BINARY", 0))
        try:
            descriptor = os.open(self.path, flags, 0o600)
        except OSError as exc:
            # O_NOFOLLOW fails with ELOOP on Linux and macOS, EMLINK on FreeBSD: ask the path.
            if os.path.islink(self.path):
                raise self._link_error() from None
            if os.path.isdir(self.path):
                raise StoreError(f"the lock file {self.path} is a folder",
                                 "Move that folder away: link-migration keeps its lock there.")
            raise StoreError(
                f"cannot open the lock file {self.path}: {exc.strerror or exc}",
                f"Make {self.path.parent} writable by whoever migrates, or define "
                "acquire_lock()/release_lock() in conf.py.",
            ) from None
        try:
            status = os.fstat(descriptor)
        except OSError as exc:
            os.close(descriptor)
            raise StoreError(
                f"cannot read the lock file {self.path}: {exc.strerror or exc}"
            ) from None
        problem = ""
        if not stat.S_ISREG(status.st_mode):
            problem = "is not a regular file"
        elif status.st_nlink > 1:  # a hard link to a file elsewhere: writing would change it
            problem = f"has {status.st_nlink} hard links"
        if problem:
            os.close(descriptor)
            raise StoreError(
                f"the lock file {self.path} {problem}; it was left as it is",
                "link-migration keeps its lock at that path: move that file away, then run "
                "again (it recreates its lock file).",
            )
        return descriptor

    def _take_over(self, descriptor: int, me: LockHolder) -> None:
        """With the OS lock held: check the file is one of ours, make it private, and write
        ``me`` in it. Only here, with the lock, is its content settled enough to judge."""
        try:
            text: str | None = _read(descriptor)
        except UnicodeDecodeError:
            text = None
        except OSError as exc:
            raise StoreError(
                f"cannot read the lock file {self.path}: {exc.strerror or exc}"
            ) from None
        if text is None or (text and not _is_holder_line(text)):
            raise StoreError(
                f"{self.path} is not a link-migration lock file: it holds something else, "
                "which was left as it is",
                "link-migration keeps its lock at that path: move that file away, then run "
                "again (it recreates its lock file).",
            )
        try:
            _make_private(descriptor)
            os.ftruncate(descriptor, 0)
            _write_all(descriptor, f"{me.owner} since {me.since}\n".encode("utf-8"))
        except OSError as exc:
            # Half a holder line would make the file look like someone else's to the next
            # run; emptying it needs no room on the disk.
            with contextlib.suppress(OSError):
                os.ftruncate(descriptor, 0)
            raise self._write_error(exc) from None

    def _link_error(self) -> StoreError:
        return StoreError(
            f"the lock file {self.path} is a symbolic link; link-migration never opens its "
            "lock file through a link, and wrote nothing",
            "Remove the link (whoever made it may have meant runs to overwrite the file it "
            "points to), then run again.",
        )

    def _write_error(self, exc: OSError) -> StoreError:
        return StoreError(
            f"cannot write the lock file {self.path}: {exc.strerror or exc}",
            "Make room on its disk (or raise the file size limit), then run again.",
        )


def _read(descriptor: int) -> str:
    """The start of the lock file: a holder line, or enough of anything else to tell."""
    os.lseek(descriptor, 0, os.SEEK_SET)
    data = os.read(descriptor, _MAX_LOCK_FILE_SIZE + 1)
    return data.decode("utf-8")


def _is_holder_line(text: str) -> bool:
    return re.fullmatch(_HOLDER_LINE, text, re.ASCII) is not None


def _read_quietly(descriptor: int) -> str:
    """What the lock's holder wrote, or '' (Windows locks the byte we read, say)."""
    try:
        return _read(descriptor)
    except (OSError, UnicodeDecodeError):
        return ""


def _write_all(descriptor: int, data: bytes) -> None:
    os.lseek(descriptor, 0, os.SEEK_SET)
    while data:
        data = data[os.write(descriptor, data):]


def _make_private(descriptor: int) -> None:
    """Take from a lock file of ours, made 0644 by an earlier version, the others' access:
    anyone who can open it can take a shared lock and block every run. A file its group may
    write was shared with a team on purpose (no usual umask gives that), so it keeps its
    group's access and loses only the others'."""
    if not hasattr(os, "fchmod") or not hasattr(os, "geteuid"):
        return
    status = os.fstat(descriptor)
    mode = stat.S_IMODE(status.st_mode)
    private = mode & (0o660 if mode & 0o020 else 0o600)
    if private != mode and status.st_uid == os.geteuid():
        os.fchmod(descriptor, private)


def _lock_nonblocking(descriptor: int) -> bool:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        try:
            os.lseek(descriptor, 0, os.SEEK_SET)
            msvcrt.locking(descriptor, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
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

    def break_expired(self, holder: LockHolder) -> bool:
        return False  # conf.py's lock expires as conf.py decides

    def break_lock(self, force: bool = False) -> str:
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
