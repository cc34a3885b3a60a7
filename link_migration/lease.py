"""Keeping a SQL store's lock row alive while this process holds it (SPEC 12).

The row is a lease: its holder rewrites the row's ``renewed`` value every third of the term,
and a runner that watches the value stay the same for a whole term, by its own clock, may
break the lock. No clock is compared across hosts: a waiter only measures how long it has
seen one value, so hosts whose clocks disagree still agree on when a lease ends.

Renewing runs in a thread, on a connection of its own, so that a migration holding a long
transaction (or a statement that runs for minutes) does not hold up its own lease. A store
that can hand out no second connection is renewed between migrations instead.
"""
from __future__ import annotations

import contextlib
import threading
import time

TYPE_CHECKING = False  # typing itself costs milliseconds to import; type checkers know this name

if TYPE_CHECKING:
    from typing import Any, Callable

    from .state import LockHolder


class Lease:
    """The lease this process holds, and what is known of it.

    ``confirmed`` is when the row was last known to be ours, taken before the renewal was
    sent: no other runner can break the lease before ``confirmed + term``. ``lost`` is set
    when a renewal found the row gone or someone else's.
    """

    def __init__(
        self,
        holder: LockHolder,
        term: float,
        renew: Callable[[Any], bool],
        connect: Callable[[], Any],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.holder = holder
        self.term = term
        self.interval = term / 3
        self.confirmed = clock()
        self.lost = False
        self.shared = False  # no second connection: renewed between migrations instead
        self.reported = False  # the run was told it lost the lease, and stopped for it
        self._renew = renew  # (connection) -> whether the row was still ours
        self._connect = connect  # a connection of the thread's own, or None
        self._clock = clock
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._keep, name="link-migration lease",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Renew no more. A renewal under way is let finish (briefly waited for): renewing
        a row that is about to be deleted is harmless, since it names its holder."""
        self._stopping.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=1.0)

    def elapsed(self) -> float:
        """Seconds since the row was last known to be ours."""
        return self._clock() - self.confirmed

    def at_risk(self) -> bool:
        """Whether too much of the term has passed since the last renewal for a commit to be
        sure to land before another runner could break the lease: then the store checks the
        row inside the step's own transaction."""
        return self.lost or self.elapsed() > self.term / 2

    def due(self) -> bool:
        """Whether the store should renew between migrations, on its own connection: when
        the thread cannot (no second connection) or has fallen behind."""
        return self.elapsed() >= (self.interval if self.shared else self.term / 2)

    def renewed(self, started: float, still_ours: bool) -> None:
        if still_ours:
            self.confirmed = max(self.confirmed, started)
        else:
            self.lost = True

    def _keep(self) -> None:
        connection: Any = None
        try:
            while not self._stopping.wait(self.interval):
                if connection is None:
                    try:
                        connection = self._connect()
                    except Exception:
                        continue  # the database is unreachable now: try again next time
                    if connection is None:
                        self.shared = True
                        return
                started = self._clock()
                try:
                    still_ours = self._renew(connection)
                except Exception:
                    # A dropped connection, a busy database: the lease is late, not lost.
                    # The next try opens a fresh connection.
                    with contextlib.suppress(Exception):
                        connection.close()
                    connection = None
                    continue
                if self._stopping.is_set():
                    return  # released meanwhile: what the renewal found no longer matters
                self.renewed(started, still_ours)
                if not still_ours:
                    return
        finally:
            if connection is not None:
                with contextlib.suppress(Exception):
                    connection.close()
