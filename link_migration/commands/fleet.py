"""The commands over a fleet's targets (SPEC 11): a run, status, current and check, each
target's line as it ends, a live progress line on a terminal, then a summary; or one JSON
document. The work is fleet.py's; this module prints."""
from __future__ import annotations

import contextlib
import io
import signal
import threading
import time

from ..fleet import CURRENT, DONE, FAILED, LOCKED, NOT_STARTED, PLANNED, STOPPED
from ..runner import SilentProgress
from ..terminal import printable

TYPE_CHECKING = False  # typing itself costs milliseconds to import; type checkers know this name

if TYPE_CHECKING:
    from typing import Any, Iterator

    from ..fleet import Fleet, FleetResult, TargetResult
    from ..plan import Plan, Request, Step
    from ..terminal import Output

_OUTCOME_WORDS = {DONE: "migrated", PLANNED: "would migrate (dry run)",
                  CURRENT: "already current", FAILED: "failed",
                  LOCKED: "locked by another runner", STOPPED: "stopped by a signal",
                  NOT_STARTED: "not started"}


class _Screen:
    """Lines from many threads, one at a time; on a terminal, a progress line kept at the
    bottom, cleared before any other line and drawn again after it."""

    def __init__(self, out: Output) -> None:
        self.out = out
        self.lock = threading.RLock()
        isatty = getattr(out.stdout, "isatty", None)
        self.live = bool(isatty and isatty()) and not out.quiet and not out.answer_is_data
        self.status = ""

    def line(self, text: str, *, detail: bool = False, error: bool = False,
             warning: bool = False) -> None:
        with self.lock:
            self._clear()
            if warning:
                self.out.warn(text)
            elif error:  # shown even under -q, on stderr
                self.out.error(text)
            elif detail:
                self.out.detail(text)
            else:
                self.out.progress(text)
            self._draw()

    def show(self, status: str) -> None:
        with self.lock:
            self.status = status
            self._clear()
            self._draw()

    def done(self) -> None:
        with self.lock:
            self._clear()
            self.status = ""

    def _clear(self) -> None:
        if self.live and self.status:
            self.out.stdout.write("\r\x1b[K")

    def _draw(self) -> None:
        if self.live and self.status:
            self.out.stdout.write(self.status)
            self.out.stdout.flush()


class _TargetOutput(io.TextIOBase):
    """sys.stdout for the whole fleet: each line a migration prints, headed by its target
    (known by the thread that runs it); under -q, nothing."""

    def __init__(self, screen: _Screen) -> None:
        self.screen = screen
        self.local = threading.local()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if self.screen.out.quiet:
            return len(text)
        pending = getattr(self.local, "pending", "") + text
        *lines, self.local.pending = pending.split("\n")
        target = getattr(self.local, "target", "")
        for line in lines:
            self.screen.line(f"{target}: {line}" if target else line)
        return len(text)

    def end_target(self) -> None:
        """A line the target's migrations left open is ended with the target."""
        if getattr(self.local, "pending", ""):
            self.write("\n")


class _TargetProgress:
    """A target's steps, with -v: each headed by the target."""

    def __init__(self, screen: _Screen, target: str, stream: _TargetOutput) -> None:
        self.screen = screen
        self.target = target
        self.stream = stream

    def run_started(self, plan: Plan, store: str) -> None:
        from .. import report

        self.screen.line(f"{self.target}: {report.plan_header(plan, store)}", detail=True)

    def step_started(self, index: int, total: int, step: Step) -> None:
        from .. import report

        self.screen.line(f"{self.target}: {report.step_line(index, total, step)}", detail=True)

    def step_finished(self, index: int, total: int, step: Step, seconds: float) -> None:
        from .. import report

        self.screen.line(f"{self.target}: {report.step_done(seconds)}", detail=True)

    def migration_output(self) -> Any:
        return self.stream


@contextlib.contextmanager
def _signals_to(fleet: Fleet, screen: _Screen) -> Iterator[None]:
    """SIGINT and SIGTERM tell the fleet (main thread only: where handlers can be set)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, frame: object) -> None:
        screen.line(fleet.signals.signal(signum), warning=True)

    previous = {signum: signal.signal(signum, handle) for signum in (signal.SIGINT,
                                                                     signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _counting(screen: _Screen, total: int, verb: str) -> tuple[Any, Any, Any]:
    """on_start, on_end and tick for run_fleet, keeping the progress line's counts."""
    counts = {"done": 0, "failed": 0, "running": 0, "started": time.perf_counter()}
    lock = threading.Lock()

    def on_start(target: str) -> None:
        with lock:
            counts["running"] += 1

    def finished(result: TargetResult) -> None:
        with lock:
            counts["running"] -= 1
            counts["done"] += 1
            counts["failed"] += result.outcome in (FAILED, LOCKED)

    def tick() -> None:
        if not screen.live:
            return
        with lock:
            done, failed, running = counts["done"], counts["failed"], counts["running"]
        elapsed = time.perf_counter() - counts["started"]
        left = ""
        if done and done < total:
            left = f", about {elapsed / done * (total - done):.0f} s left"
        screen.show(f"{verb}: {done}/{total} targets done, {failed} failed, {running} "
                    f"running, {elapsed:.1f} s{left}")

    return on_start, finished, tick


def run(fleet: Fleet, out: Output, request: Request, *, dry_run: bool, fake: bool,
        out_of_order: bool, resume: bool, as_json: bool = False) -> int:
    """Migrate every target; a line per target as it ends, then the summary."""
    screen = _Screen(out)
    stream = _TargetOutput(screen)
    on_start, finished, tick = _counting(screen, len(fleet.targets), "migrating")

    def started(target: str) -> None:
        stream.local.target = target
        on_start(target)

    def on_end(result: TargetResult) -> None:
        stream.end_target()
        finished(result)
        if not as_json:
            screen.line(target_line(result), error=result.outcome in (FAILED, LOCKED))

    progress = (lambda target: _TargetProgress(screen, target, stream)) if out.verbose else (
        lambda target: _Quiet(stream))
    with _signals_to(fleet, screen), contextlib.redirect_stdout(stream):
        result = fleet.run(request, dry_run=dry_run, fake=fake, out_of_order=out_of_order,
                           resume=resume, progress=progress, on_start=started, on_end=on_end,
                           tick=tick)
    screen.done()
    if as_json:
        out.result(run_json(result))
    else:
        for line in summary_lines(result):
            out.progress(line)
    return result.exit_status


class _Quiet(SilentProgress):
    """A target's progress without -v: only what its migrations print, headed by it."""

    def __init__(self, stream: _TargetOutput) -> None:
        self.stream = stream

    def migration_output(self) -> Any:
        return self.stream


def target_line(result: TargetResult) -> str:
    """One line for a target that ended: what it did and where it is, or why it stopped."""
    from .. import report

    name = printable(result.target)
    if result.error is not None:
        first = (getattr(result.error, "message", None) or str(result.error)).splitlines()
        reason = first[0] if first else type(result.error).__name__
        label = {FAILED: "FAILED", LOCKED: "LOCKED", STOPPED: "stopped"}.get(result.outcome,
                                                                            result.outcome)
        return f"{name}: {label}: {printable(reason)}"
    value = result.value
    if result.outcome == PLANNED:
        return f"{name}: {report.plan_header(value.plan, value.store, dry_run=True)}"
    if value is not None and hasattr(value, "completed"):
        return f"{name}: {report.summary(value)}"
    return f"{name}: {_OUTCOME_WORDS.get(result.outcome, result.outcome)}"


def summary_lines(result: FleetResult) -> list[str]:
    """The summary after the targets' lines: a count per outcome, and the failures again."""
    total = len(result.results)
    lines = [f"{total} target{'s' if total != 1 else ''} in {result.seconds:.1f} s"
             + (f" (stopped by {signal.Signals(result.signal).name})" if result.signal else "")
             + ":"]
    for outcome in (DONE, PLANNED, CURRENT, FAILED, LOCKED, STOPPED, NOT_STARTED):
        count = result.count(outcome)
        if count:
            lines.append(f"  {_OUTCOME_WORDS[outcome]:<24} {count:>6,}")
    failed = [r for r in result.results if r.outcome in (FAILED, LOCKED)]
    if failed:
        lines.append("Failed:")
        lines += [f"  {target_line(r)}" for r in failed[:20]]
        if len(failed) > 20:
            lines.append(f"  ... and {len(failed) - 20:,} more")
    if result.count(NOT_STARTED):
        lines.append("Run again to go on: targets that finished have nothing left to do.")
    return lines


def run_json(result: FleetResult) -> str:
    import json

    def entry(r: TargetResult) -> dict[str, Any]:
        value = r.value
        return {
            "target": r.target,
            "outcome": r.outcome,
            "version": getattr(value, "version", None),
            "migrations": [{"version": s.migration.version, "direction": s.direction}
                           for s in getattr(value, "completed", ())],
            "seconds": round(r.seconds, 6),
            "error": None if r.error is None else (getattr(r.error, "message", None)
                                                   or str(r.error)),
        }

    return json.dumps({
        "ok": result.exit_status == 0,
        "exit_status": result.exit_status,
        "signal": None if result.signal is None else signal.Signals(result.signal).name,
        "seconds": round(result.seconds, 6),
        "summary": {outcome.replace(" ", "_"): result.count(outcome)
                    for outcome in (DONE, PLANNED, CURRENT, FAILED, LOCKED, STOPPED,
                                    NOT_STARTED)},
        "targets": [entry(r) for r in result.results],
    }, indent=2)


# -- reading over targets: status, current, check ---------------------------------------

def read(fleet: Fleet, out: Output, command: str, *, as_json: bool) -> int:
    """status, current or check over the targets: a table (target, version, pending,
    problems), then a summary; check exits 1 when any target has a problem."""
    screen = _Screen(out)
    on_start, on_end, tick = _counting(screen, len(fleet.targets), f"reading ({command})")
    hooks = {"on_start": on_start, "on_end": on_end, "tick": tick}
    with _signals_to(fleet, screen):
        if command == "current":
            result = fleet.current(**hooks)
        elif command == "check":
            result = fleet.check(**hooks)
        else:
            result = fleet.status(**hooks)
    screen.done()
    rows = [_row(r, command) for r in result.results]
    if as_json:
        import json

        out.result(json.dumps({
            "ok": not any(row["problems"] for row in rows) and not result.signal,
            "targets": rows,
        }, indent=2, default=str))
    else:
        widths = [max([len(h)] + [len(printable(str(row[k]))) for row in rows])
                  for h, k in _COLUMNS[command]]
        header = "  ".join(h.upper().ljust(w) for (h, _), w in zip(_COLUMNS[command], widths))
        out.result(header.rstrip())
        for row in rows:
            cells = [printable(_cell(row[k])) for _, k in _COLUMNS[command]]
            out.result("  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip())
        if command == "check" and out.verbose:
            for r in result.results:
                for problem in _problems(r, command):
                    out.result(f"{printable(r.target)}: {printable(problem)}")
        out.progress(read_summary(rows, result))
    if result.signal:
        return 128 + result.signal
    if command == "check":
        return 1 if any(row["problems"] for row in rows) else 0
    return 1 if any(r.error is not None for r in result.results) else 0


def read_summary(rows: list[dict[str, Any]], result: FleetResult) -> str:
    total = len(rows)
    parts = []
    pending = sum(1 for row in rows if row["pending"])
    if pending:
        parts.append(f"{pending} with pending migrations")
    troubled = sum(1 for row in rows if any(not p.endswith(" pending") for p in row["problems"]))
    if troubled:
        parts.append(f"{troubled} with problems")
    if not parts:
        parts.append("all well")
    if result.signal:
        parts.append(f"stopped by {signal.Signals(result.signal).name}, "
                     f"{result.count(NOT_STARTED)} not read")
    return f"{total} target{'s' if total != 1 else ''}: {', '.join(parts)}."


_COLUMNS = {
    "current": (("target", "target"), ("version", "current_version"), ("problems", "summary")),
    "status": (("target", "target"), ("version", "current_version"), ("pending", "pending"),
               ("problems", "summary")),
    "check": (("target", "target"), ("version", "current_version"), ("pending", "pending"),
              ("problems", "summary")),
}


def _cell(value: Any) -> str:
    return "-" if value is None else str(value)


def _problems(result: TargetResult, command: str) -> list[str]:
    if result.error is not None:
        return [f"error: {(getattr(result.error, 'message', None) or str(result.error))}"]
    value = result.value
    if command == "check":  # (status, problems)
        return [f"{p.kind}: {p.version if p.version is not None else ''} {p.file}: {p.message}"
                .replace(":  ", ": ") for p in value[1] if p.kind != "pending"]
    if command == "status" and value is not None:
        from ..state import PENDING

        return [f"{row.state}: {row.version}" for row in value.migrations
                if row.state not in ("applied", PENDING)]
    return []


def _row(result: TargetResult, command: str) -> dict[str, Any]:
    value = result.value
    status = value[0] if command == "check" and value is not None else value
    row: dict[str, Any] = {"target": result.target, "current_version": None, "pending": None}
    if isinstance(status, int):
        row["current_version"] = status
    elif status is not None:
        from ..state import PENDING

        row["current_version"] = status.current
        row["pending"] = sum(1 for m in status.migrations if m.state == PENDING)
    problems = _problems(result, command)
    if command == "check" and row["pending"]:
        problems = [f"{row['pending']} pending"] + problems
    row["problems"] = problems
    row["summary"] = (problems[0] + (f" (+{len(problems) - 1} more)" if len(problems) > 1 else "")
                      ) if problems else ""
    if result.outcome == NOT_STARTED:
        row["summary"] = "not read (stopped)"
    return row

