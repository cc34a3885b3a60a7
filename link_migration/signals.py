"""SIGINT and SIGTERM during a run (SPEC 7).

Outside a migration a signal stops the run at once. While a migration runs, the first signal
lets it finish and be recorded, and the run stops after it; a second one interrupts it, and a
transactional store rolls it back. Once the migration has returned and its record is being
written, signals wait for the record, so that the run can say which version the store holds;
only a third one, for a record that hangs (a database lock, say), abandons it.
"""
from __future__ import annotations

import contextlib
import signal
import sys
import threading
from types import FrameType
from typing import Any, Iterator, TextIO

from .errors import Interrupted


class SignalGuard:
    """Installs the handlers for the length of a ``with`` block (main thread only)."""

    def __init__(self, stderr: TextIO | None = None) -> None:
        self.requested: int | None = None
        self._in_migration = False
        self._recording = False
        self._warned_recording = False
        self._stderr = stderr or sys.stderr
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> SignalGuard:
        self.requested = None  # a guard may serve several runs of the Python API
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    @contextlib.contextmanager
    def migration_running(self) -> Iterator[None]:
        """Mark a step (the migration, its record, and the run noting it) as one that the
        first signal lets end."""
        self._in_migration = True
        self._warned_recording = False
        try:
            yield
        finally:
            self._in_migration = self._recording = False

    def recording(self) -> None:
        """The running migration has returned: from here to the end of its step, a signal
        stops the run after the record instead of interrupting it."""
        self._recording = True

    def _handle(self, signum: int, frame: FrameType | None) -> None:
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
        raise Interrupted(signum)

    def _say(self, message: str) -> None:
        print(f"link-migration: {message}", file=self._stderr, flush=True)
