"""SIGINT and SIGTERM during a run (SPEC 7).

Outside a migration a signal stops the run at once. While a migration runs, the first signal
lets it finish and be recorded, and the run stops after it; a second one interrupts it, and a
transactional store rolls it back. Once the migration has returned and its record is being
written, signals wait for the record, so that the run can say which version the store holds;
only a third one, for a record that hangs (a database lock, say), abandons it.

The second signal also cancels the statement the migration is running, on the server (see
migration_running()). Python runs a signal's handler only once the main thread is back in
Python code: a driver that waits in C (sqlite3, mysql-connector's extension) would see the
signals only when its statement ends, and two quick ones as one. So a watcher thread also
reads each signal as it arrives, from the wakeup file descriptor, and issues the cancel; the
statement then fails, and the handler raises Interrupted in the main thread.
"""
from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from types import FrameType
from typing import Any, Callable, Iterator, TextIO

from .errors import Interrupted

_OURS = (signal.SIGINT, signal.SIGTERM)
_CANCEL_WAIT = 3.0  # seconds the interrupt waits for the cancel to be sent


class SignalGuard:
    """Installs the handlers for the length of a ``with`` block (main thread only)."""

    def __init__(self, stderr: TextIO | None = None) -> None:
        self.requested: int | None = None
        self._in_migration = False
        self._recording = False
        self._warned_recording = False
        self._stderr = stderr or sys.stderr
        self._previous: dict[int, Any] = {}
        # The signals of the running step as they arrive, counted by whichever of the watcher
        # thread and the handler reads them first from the wakeup pipe; the handler acts on
        # each in turn.
        self._arrived: list[int] = []
        self._handled = 0
        self._step_start = 0
        self._cancel: Callable[[], None] | None = None
        self._cancelled = False
        self._canceller: threading.Thread | None = None
        self._mutex = threading.RLock()  # re-entrant: a handler may run inside a handler
        self._pipe: tuple[int, int] | None = None
        self._previous_wakeup = -1

    def __enter__(self) -> SignalGuard:
        self.requested = None  # a guard may serve several runs of the Python API
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
            self._watch()
        return self

    def __exit__(self, *exc_info: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()
        if self._pipe is not None:
            with contextlib.suppress(ValueError, OSError):
                signal.set_wakeup_fd(self._previous_wakeup)
            writing = self._pipe[1]
            self._pipe = None
            # The watcher sees the end of file and ends; it closes the reading end.
            os.close(writing)

    @contextlib.contextmanager
    def migration_running(self, cancel: Callable[[], None] | None = None) -> Iterator[None]:
        """Mark a step (the migration, its record, and the run noting it) as one that the
        first signal lets end. ``cancel``, if given, cancels the statement running on the
        store's connection; the second signal calls it (from another thread, at most once),
        before the migration is interrupted, unless the step is being recorded."""
        with self._mutex:
            # Signals that arrived and wait for the handler count for this step.
            self._step_start = self._handled
            self._cancel = cancel
            self._cancelled = False
            self._canceller = None
            self._in_migration = True
            self._warned_recording = False
        try:
            yield
        finally:
            self._in_migration = self._recording = False
            self._cancel = None

    @property
    def cancelled(self) -> bool:
        """Whether the running step's statement was cancelled."""
        return self._cancelled

    def recording(self) -> None:
        """The running migration has returned: from here to the end of its step, a signal
        stops the run after the record instead of interrupting it."""
        self._recording = True

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        with self._mutex:
            self._drain()
            if self._pipe is None:
                self._arrived.append(signum)
            # else the signal's byte was read here or by the watcher: a call of ours that
            # finds none pending had its signal handled by the call before it
            pending = self._arrived[self._handled:]
            self._handled = len(self._arrived)
        for arrived in pending:  # two signals that Python merged into one call count as two
            self._react(arrived)

    def _react(self, signum: int) -> None:
        name = signal.Signals(signum).name
        if self._in_migration and self.requested is None:
            self.requested = signum
            after = (
                "which is being recorded" if self._recording
                else f"send {name} again to interrupt it"
            )
            self._say(f"{name}: stopping after the running migration ({after})")
            return
        if self._recording and not self._warned_recording:
            self._warned_recording = True
            self._say(f"{name}: the migration is being recorded; send {name} again to abandon "
                      "the record, which may or may not reach the store")
            return
        if self._in_migration and not self._recording:
            self._cancel_once()
        canceller = self._canceller
        if canceller is not None:
            # Wait for the cancel to reach the server before the store rolls back: a cancel
            # that came after the rollback had started could cancel the rollback.
            canceller.join(_CANCEL_WAIT)
        raise Interrupted(signum)

    # -- the watcher: signals counted as they arrive, even while Python code cannot run ----

    def _watch(self) -> None:
        try:
            reading, writing = os.pipe()
        except OSError:
            return
        try:
            os.set_blocking(writing, False)
            os.set_blocking(reading, False)
            self._previous_wakeup = signal.set_wakeup_fd(writing, warn_on_full_buffer=False)
        except (ValueError, OSError):  # a platform without pipes as wakeup descriptors
            os.close(reading)
            os.close(writing)
            return
        self._pipe = (reading, writing)
        threading.Thread(target=self._watcher, args=(reading,), name="link-migration signals",
                         daemon=True).start()

    def _watcher(self, reading: int) -> None:
        import select

        try:
            while True:
                select.select([reading], [], [])
                with self._mutex:
                    if not self._drain(reading, watcher=True):
                        break  # the guard's __exit__ closed the writing end
                    in_step = self._arrived[self._step_start:]
                    if self._in_migration and not self._recording and len(in_step) >= 2:
                        self._cancel_once()
        except (OSError, ValueError):
            return  # the handler still reads the pipe; its descriptor stays open for it
        os.close(reading)

    def _drain(self, reading: int | None = None, *, watcher: bool = False) -> bool:
        """Count the signals waiting in the wakeup pipe; False at its end (watcher only)."""
        if reading is None:
            if self._pipe is None:
                return True
            reading = self._pipe[0]
        while True:
            try:
                data = os.read(reading, 256)
            except BlockingIOError:
                return True
            except OSError:
                return not watcher
            if not data:
                return not watcher
            self._arrived.extend(b for b in data if b in _OURS)

    def _cancel_once(self) -> None:
        """Cancel the running statement, from a thread of its own: a second connection (or
        a wait for the server) has no place in a signal handler."""
        with self._mutex:
            cancel, self._cancel = self._cancel, None
            if cancel is None:
                return
            self._cancelled = True
            self._canceller = threading.Thread(
                target=_quietly, args=(cancel,), name="link-migration cancel", daemon=True)
            self._canceller.start()

    def _say(self, message: str) -> None:
        print(f"link-migration: {message}", file=self._stderr, flush=True)


def _quietly(cancel: Callable[[], None]) -> None:
    # The interrupt goes on either way: a cancel that fails leaves the statement to end by
    # itself, as without one.
    with contextlib.suppress(Exception):
        cancel()
