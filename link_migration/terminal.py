"""What the command line prints where: quiet and verbose modes, colour, and progress."""
from __future__ import annotations

import io
import os
TYPE_CHECKING = False  # typing itself costs milliseconds to import; type checkers know this name

if TYPE_CHECKING:
    from typing import Iterable, Mapping, TextIO

    from .plan import Plan, Step

INDENT = "      "  # under a step: what the migration prints, and its duration

PROG = "link-migration"

_COLOURS = {
    "up": "32",  # green
    "down": "33",  # yellow
    "applied": "32",
    "pending": "33",
    "missing": "31",  # red
    "modified": "31",
    "out_of_order": "31",
    "failed": "31",
    "error": "1;31",
    "warning": "33",
    "summary": "1",  # bold
    "dim": "2",
}


def printable(text: str) -> str:
    """``text`` with every character a terminal would act on (escape sequences, carriage
    returns, newlines, backspaces, ...) written as a Python repr writes it: ``\\x1b``, ``\\r``,
    ``\\n``. A file name or a docstring must not recolour, overwrite or forge the lines we
    print. Letters such as é stay as they are; JSON output escapes by its own rules instead."""
    if text.isprintable():  # nearly always: a check in C, and no copy
        return text
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


def wants_colour(choice: str, stream: TextIO, environ: Mapping[str, str]) -> bool:
    """Colour only on a terminal, never with NO_COLOR set, unless ``--color always``."""
    if choice == "always":
        return True
    if choice == "never" or environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class Output:
    """stdout for results and progress, stderr for warnings and errors, as the options say."""

    def __init__(
        self,
        stdout: TextIO,
        stderr: TextIO,
        *,
        quiet: bool = False,
        verbose: bool = False,
        colour: str = "auto",
        environ: Mapping[str, str] = os.environ,
    ) -> None:
        self.stdout = stdout
        self.stderr = stderr
        self.quiet = quiet
        self.verbose = verbose
        self.stdout_gone = False
        # Set for a command whose stdout is data (a number, JSON, a path): then stdout holds
        # the answer alone, and progress and details go to stderr.
        self.answer_is_data = False
        self._environ = environ
        self._colour_out = wants_colour(colour, stdout, environ)
        self._colour_err = wants_colour(colour, stderr, environ)

    def columns(self) -> int | None:
        """The width of the terminal stdout shows on, for a table to fit; None when stdout is
        not a terminal (a pipe or a file gets every character) or its width is unknown.

        A positive ``COLUMNS`` wins, as it does for ``ls`` and shutil.get_terminal_size(): the
        shells keep it up to date, and it lets a user ask for another width. It is ignored when
        stdout is not a terminal: a pipe always gets full rows.
        """
        isatty = getattr(self.stdout, "isatty", None)
        if not (isatty and isatty()):
            return None
        try:
            columns = int(self._environ.get("COLUMNS", ""))
        except ValueError:
            columns = 0
        if columns > 0:
            return columns
        try:
            columns = os.get_terminal_size(self.stdout.fileno()).columns
        except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
            return None
        return columns or None  # a terminal whose size was never set says 0

    def ellipsis(self) -> str:
        """What marks a cut: "…", or "..." where stdout's encoding has no "…"."""
        try:
            "…".encode(getattr(self.stdout, "encoding", None) or "ascii")
        except (UnicodeEncodeError, LookupError):
            return "..."
        return "…"

    def paint(self, text: str, role: str, *, err: bool = False) -> str:
        code = _COLOURS.get(role)
        if not code or not (self._colour_err if err else self._colour_out):
            return text
        return f"\033[{code}m{text}\033[0m"

    def result(self, text: str) -> None:
        """A command's answer (status table, current version, new file): shown even with -q,
        since it is what was asked for."""
        self._out(text + "\n")

    def result_lines(self, lines: Iterable[str]) -> None:
        """A long answer, written a line at a time."""
        for line in lines:
            self._out(line + "\n", flush=False)
        self._out("")

    def progress(self, text: str) -> None:
        if self.quiet:
            return
        if self.answer_is_data:
            print(text, file=self.stderr, flush=True)
        else:
            self._out(text + "\n")

    def detail(self, text: str) -> None:
        if not self.verbose or self.quiet:
            return
        if self.answer_is_data:
            print(self.paint(text, "dim", err=True), file=self.stderr, flush=True)
        else:
            self._out(self.paint(text, "dim") + "\n")

    def _out(self, text: str, flush: bool = True) -> None:
        """Write to stdout unless its reader has gone (`link-migration | head`): a closed pipe
        must not stop a run halfway, so from then on stdout is quietly dropped."""
        if self.stdout_gone:
            return
        try:
            self.stdout.write(text)
            if flush:
                self.stdout.flush()
        except BrokenPipeError:
            self.stdout_gone = True
            _silence(self.stdout)

    # Diagnostics name files, lock holders and what user code raised: each goes through
    # printable(), so that one message stays one line, as it was written.

    def say(self, text: str) -> None:
        """A notice on stderr that is neither warning nor error (waiting for a lock)."""
        if not self.quiet:
            print(f"{PROG}: {printable(text)}", file=self.stderr, flush=True)

    def warn(self, text: str) -> None:
        if not self.quiet:
            print(f"{PROG}: {self.paint('warning', 'warning', err=True)}: {printable(text)}",
                  file=self.stderr, flush=True)

    def error(self, message: str, detail: str = "", hint: str = "") -> None:
        print(f"{PROG}: {self.paint('error', 'error', err=True)}: {printable(message)}",
              file=self.stderr)
        if detail:  # a traceback: its lines stay lines
            print("\n".join(map(printable, detail.rstrip("\n").split("\n"))), file=self.stderr)
        if hint:
            print(printable(hint), file=self.stderr)
        self.stderr.flush()


def _silence(stream: TextIO) -> None:
    """Point a stream whose reader went away at /dev/null, so that the interpreter's last
    flush does not complain either (as Python's documentation on SIGPIPE advises)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (OSError, ValueError, io.UnsupportedOperation):
        pass


class PrintedProgress:
    """Prints each step as it starts and ends, and indents what the migration prints."""

    def __init__(self, output: Output, *, fake: bool) -> None:
        self._output = output
        self._fake = fake
        self._stream: _IndentedStream | _Discarded = (
            _Discarded() if output.quiet else _IndentedStream(output, INDENT)
        )

    def run_started(self, plan: Plan, store: str) -> None:
        from . import report

        self._output.progress(report.plan_header(plan, store, fake=self._fake))

    def step_started(self, index: int, total: int, step: Step) -> None:
        if self._output.quiet:
            return
        from . import report

        line = report.step_line(index, total, step, fake=self._fake)
        direction = f"{'fake ' if self._fake else ''}{step.direction}"
        prefix = f"[{index}/{total}] "
        painted = prefix + self._output.paint(direction, step.direction) + line[len(prefix) + len(direction):]
        self._output.progress(painted)

    def step_finished(self, index: int, total: int, step: Step, seconds: float) -> None:
        if self._output.quiet:
            return
        from . import report

        self.close()
        self._output.progress(self._output.paint(report.step_done(seconds), "dim"))

    def migration_output(self) -> TextIO:
        return self._stream  # type: ignore[return-value]

    def close(self) -> None:
        """End a line a migration left open, before anything else is printed."""
        if isinstance(self._stream, _IndentedStream):
            self._stream.end_line()


class _Discarded(io.TextIOBase):
    """Where a migration's prints go under -q: nowhere, and not kept in memory either."""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        return len(text)


class _IndentedStream(io.TextIOBase):
    """A write-through stream that indents every line a migration prints.

    Anything else a migration asks of sys.stdout (fileno() for a subprocess, encoding, buffer)
    is the real stream's: output written that way is not indented, but it works.
    """

    def __init__(self, output: Output, indent: str) -> None:
        self._output = output
        self._target = output.stdout
        self._indent = indent
        self._at_line_start = True

    def write(self, text: str) -> int:
        for piece in text.splitlines(keepends=True):
            if self._at_line_start:
                self._output._out(self._indent, flush=False)
            self._output._out(piece, flush=False)
            self._at_line_start = piece.endswith(("\n", "\r"))
        return len(text)

    def end_line(self) -> None:
        if not self._at_line_start:
            self._output._out("\n", flush=False)
            self._at_line_start = True
        self._output._out("")

    def flush(self) -> None:
        # io's finaliser closes, and so flushes, this stream whenever it is collected: by then
        # the real stream may be closed (a test's capture, a process at exit).
        if not getattr(self._target, "closed", False):
            self._output._out("")

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self._target.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._target, "encoding", "utf-8")

    def __getattr__(self, name: str) -> object:
        return getattr(self._target, name)
