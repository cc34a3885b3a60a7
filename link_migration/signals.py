"""SIGINT and SIGTERM during a run (SPEC 7).

Outside a migration a signal stops the run at once. While a migration runs, the first signal
lets it finish and be recorded, and the run stops after it; a second one interrupts it, and a
transactional store rolls it back. Once the migration has returned and its record is being
written, every signal waits for the record: interrupting a commit that may already be on disk
would leave the run unable to say which version the store holds.
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
        self._stderr = stderr or sys.stderr
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> SignalGuard:
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
        """Mark a step (the migration and its record) as one that the first signal lets end."""
        self._in_migration = True
        try:
            yield
        finally:
            self._in_migration = self._recording = False

    def recording(self) -> None:
        """The running migration has returned: from here to the end of its step, a signal
        stops the run after the record instead of interrupting it."""
        self._recording = True

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self._recording and self.requested is not None:
            return  # already stopping after this step, which is being recorded
        if self._in_migration and self.requested is None:
            self.requested = signum
            name = signal.Signals(signum).name
            after = (
                "which is being recorded" if self._recording
                else f"send {name} again to interrupt it"
            )
            print(
                f"link-migration: {name}: stopping after the running migration ({after})",
                file=self._stderr,
                flush=True,
            )
            return
        raise Interrupted(signum)
