"""Turns plans and results into the lines the CLI prints. Returns text, never prints."""
from __future__ import annotations

from typing import Callable, Iterable, Iterator, Sequence

from .plan import DOWN, Plan, Step
from .runner import RunResult
from .state import Attempt, LogEntry, MigrationState, Problem, failure

from .terminal import INDENT, printable


def plan_header(plan: Plan, store: str, *, dry_run: bool = False, fake: bool = False) -> str:
    """The line before the steps. A plan that only applies out-of-order migrations (below the
    current version, with --out-of-order) leaves the store where it is: "from version 400 to
    400" would hide what it does, so such a plan says which versions it applies instead."""
    store = printable(store)
    late = _out_of_order(plan.steps, plan.current)
    if late and len(late) == len(plan.steps):
        what = (f"{_migrations(len(late), 'out-of-order ')} ({_versions(late)}) "
                f"below the current version {plan.current}")
        dry_verb, verb = "apply", "Applying"
    else:
        direction = "down" if plan.steps and plan.steps[0].direction == DOWN else "up"
        count = _migrations(len(plan.steps))
        if late:
            count += f", {len(late)} of them out of order ({_versions(late)})"
        what = f"{direction} from version {plan.current} to {plan.target}: {count}"
        dry_verb, verb = "migrate", "Migrating"
    if dry_run:
        return f"Dry run, nothing will run or be recorded. Would {dry_verb} {what} ({store})."
    if fake:
        return f"Faking {what}: recording without running them ({store})."
    return f"{verb} {what} ({store})."


def step_line(index: int, total: int, step: Step, *, fake: bool = False) -> str:
    migration = step.migration
    line = (f"[{index}/{total}] {'fake ' if fake else ''}{step.direction} {migration.version} "
            f"{printable(migration.name)}")
    return f"{line}: {printable(migration.description)}" if migration.description else line


def step_docstring(step: Step) -> str:
    """The up()/down() docstring a dry run shows under a step, indented."""
    from .syntax import function_docstrings  # dry runs only: it parses the file

    doc = function_docstrings(step.migration.path).get(step.direction, "")
    if not doc:
        return ""
    lines = [printable(line) for line in doc.strip().splitlines()]
    return "\n".join(f"{INDENT}{step.direction}: {lines[0]}" if i == 0 else f"{INDENT}    {line}"
                     for i, line in enumerate(lines))


def step_statements(step: Step) -> list[str]:
    """The first line of each statement a SQL migration's step would run, for a verbose dry
    run. Read with the generic splitter: a preview, not the run (which splits per database).
    Problems in the file show as the run would report them."""
    from .discovery import MigrationLoader, MigrationsFolder
    from .errors import DiscoveryError

    migration = step.migration
    try:
        loaded = MigrationLoader(MigrationsFolder(migration.folder)).load(migration.filename)
        lines = getattr(loaded, step.direction).first_lines("generic")
    except DiscoveryError as exc:
        return [f"{INDENT}{step.direction}: cannot be read: {printable(exc.message)}"]
    return [f"{INDENT}{step.direction} {printable(line)}" for line in lines]


def step_done(seconds: float) -> str:
    return f"{INDENT}done in {duration(seconds)}"


def summary(result: RunResult) -> str:
    steps = result.completed
    if not steps:
        return f"Already at version {result.version}: nothing to do."
    verb = "rolled back" if steps[0].direction == DOWN else "applied"
    if result.fake:
        verb = "recorded without running (fake)" if verb == "applied" else "recorded rollback of (fake)"
    versions = [s.migration.version for s in steps]
    late = _out_of_order(steps, result.plan.current)
    if late and len(late) == len(steps):  # the store holds the version it held
        return (
            f"Still at version {result.version}: {verb} "
            f"{_migrations(len(late), 'out-of-order ')} ({_versions(late)}) "
            f"in {duration(result.seconds)}."
        )
    of_them = f", {len(late)} of them out of order," if late else ""
    return (
        f"Now at version {result.version}: {verb} {_migrations(len(steps))} "
        f"({_versions(versions)}){of_them} in {duration(result.seconds)}."
    )


def _out_of_order(steps: Sequence[Step], current: int) -> list[int]:
    """The versions that ``steps`` apply below ``current``: out of order."""
    return [step.migration.version for step in steps
            if step.direction != DOWN and step.migration.version < current]


def duration(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.1f} ms"
    if seconds < 60:
        return f"{seconds:.2f} s"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes} min {rest} s"


def _migrations(count: int, kind: str = "") -> str:
    return f"{count} {kind}migration" + ("" if count == 1 else "s")


def _versions(versions: Sequence[int]) -> str:
    label = "version" if len(versions) == 1 else "versions"
    if len(versions) <= 6:
        return f"{label} {', '.join(map(str, versions))}"
    return f"{label} {versions[0]}, {versions[1]}, ..., {versions[-1]}"


def _plain(text: str, role: str) -> str:
    return text


# How the status table narrows to fit a terminal, stage by stage: (column, narrowest width).
# Descriptions give way first, then file names (the version already names a migration); the
# version, state and time are never cut. Below about 60 columns the rows wrap.
_STATUS_SHRINK = ((4, 11), (3, 12), (4, 4), (3, 4))


def status_lines(
    rows: Sequence[MigrationState],
    current: int,
    store: str,
    paint: Callable[[str, str], str] = _plain,
    *,
    width: int | None = None,
    ellipsis: str = "…",
) -> Iterator[str]:
    """The status table, a line at a time: ten thousand rows need not sit in memory twice.

    With ``width`` (a terminal's columns), long descriptions, then long file names, are cut
    with ``ellipsis`` so that each row of the table fits; without it, nothing is cut.
    """
    yield f"Store: {printable(store)}"
    yield f"Current version: {current}"
    if not rows:
        yield "No migrations."
        return
    yield ""
    headers = ("VERSION", "STATE", "APPLIED AT (UTC)", "FILE", "DESCRIPTION")
    yield from _columns(
        headers, lambda: map(_status_cells, rows), paint, lambda index: (rows[index].state, 1),
        fit=width, shrink=_STATUS_SHRINK, ellipsis=ellipsis,
    )
    failed = [row for row in rows if row.attempt is not None]
    for row in failed:  # a few at most: a run stops at the first
        attempt = row.attempt
        assert attempt is not None
        yield ""
        yield (f"Migration {row.version} ({printable(attempt.file_name)}) "
               f"{printable(failure(attempt))}")
        yield (f"{INDENT}started {_when(attempt.started_at)} by {printable(attempt.started_by)}"
               + (f", stopped {_when(attempt.ended_at)}" if attempt.ended_at else ""))
    if failed:
        yield (f"Go on with --resume, or settle it with resolve {failed[0].version} --applied "
               "(or --rolled-back) once you have finished (or undone) it by hand.")


def _status_cells(row: MigrationState) -> tuple[str, ...]:
    applied = row.applied
    return (
        str(row.version),
        row.state + (" (fake)" if applied and applied.faked else ""),
        _when(applied.applied_at if applied else None),
        printable(row.migration.name if row.migration else (applied.file_name if applied else "-")),
        printable(row.migration.description) if row.migration else "(file missing)",
    )


def status_json(rows: Sequence[MigrationState], current: int, store: str) -> str:
    return _json(
        {
            "store": store,
            "current_version": current,
            "migrations": [
                {
                    "version": row.version,
                    "state": row.state,
                    "file": row.migration.name if row.migration else (
                        row.applied.file_name if row.applied else None
                    ),
                    "path": str(row.migration.path) if row.migration else None,
                    "description": row.migration.description if row.migration else "",
                    "applied_at": row.applied.applied_at if row.applied else None,
                    "checksum": row.migration.checksum if row.migration else None,
                    "applied_checksum": row.applied.checksum if row.applied else None,
                    "faked": row.applied.faked if row.applied else None,
                    "failure": _failure_json(row.attempt) if row.attempt else None,
                }
                for row in rows
            ],
        }
    )


def _failure_json(attempt: Attempt) -> dict[str, object]:
    """A failed migration's record (SPEC 9), for machines."""
    return {
        "direction": attempt.direction,
        "statements_done": attempt.done if attempt.total is not None else None,
        "statements": attempt.total,
        "started_at": attempt.started_at,
        "started_by": attempt.started_by,
        "ended_at": attempt.ended_at,
        "error": attempt.error,
    }


def history_lines(entries: Sequence[LogEntry], store: str, *, total: int = 0) -> Iterator[str]:
    """The log table, newest first; a last line says so when ``entries`` are the newest of
    ``total``."""
    yield f"Store: {printable(store)}"
    if not entries:
        yield "No history yet."
        return
    yield ""
    headers = ("#", "WHEN (UTC)", "OPERATION", "VERSION", "FILE", "DURATION", "BY")
    yield from _columns(headers, lambda: map(_history_cells, entries))
    if total > len(entries):
        yield ""
        yield f"({len(entries):,} of {total:,} entries shown; --limit 0 shows all)"


def _history_cells(entry: LogEntry) -> tuple[str, ...]:
    return (
        str(entry.seq),
        _when(entry.logged_at),
        printable(entry.operation),
        str(entry.version),
        printable(entry.file_name),
        duration(entry.duration) if entry.duration is not None else "-",
        printable(entry.logged_by),
    )


def history_json(entries: Sequence[LogEntry], store: str) -> str:
    return _json(
        {
            "store": store,
            "entries": [
                {
                    "seq": e.seq,
                    "version": e.version,
                    "operation": e.operation,
                    "file": e.file_name,
                    "at": e.logged_at,
                    "duration": e.duration,
                    "by": e.logged_by,
                }
                for e in entries
            ],
        }
    )


def _when(timestamp: str | None) -> str:
    """An ISO timestamp as ``2026-11-25 19:30:00``: the store keeps UTC, the header says so."""
    return timestamp[:19].replace("T", " ") if timestamp else "-"


def check_lines(
    found: Sequence[Problem],
    current: int,
    store: str,
    paint: Callable[[str, str], str] = _plain,
    *,
    per_kind: int | None = None,
) -> Iterator[str]:
    """The problems, grouped by kind (in the order each kind first appears; by version within
    a kind). With ``per_kind``, each kind lists its first ``per_kind`` problems and a line
    counts the rest: a thousand pending migrations must not bury the one modified."""
    yield f"Store: {printable(store)}"
    yield f"Current version: {current}"
    yield f"{len(found):,} problem{'s' if len(found) != 1 else ''}:"
    by_kind: dict[str, list[Problem]] = {}
    for problem in found:
        by_kind.setdefault(problem.kind, []).append(problem)
    left_out = False
    for kind, problems in by_kind.items():
        shown = problems if per_kind is None else problems[:per_kind]
        for problem in shown:
            version = f"{problem.version} " if problem.version is not None else ""
            yield (f"  {paint(kind, kind)}: {version}{printable(problem.file)}: "
                   f"{printable(problem.message)}")
        if len(problems) > len(shown):
            left_out = True
            yield f"  ... and {len(problems) - len(shown):,} more {kind.replace('_', ' ')}"
    if left_out:
        yield f"(at most {per_kind:,} of each kind shown; -v shows all)"


def check_json(found: Sequence[Problem], current: int, store: str) -> str:
    return _json(
        {
            "ok": not found,
            "store": store,
            "current_version": current,
            "problems": [
                {"kind": p.kind, "version": p.version, "file": p.file, "message": p.message}
                for p in found
            ],
        }
    )


def _json(document: object) -> str:
    import json  # only for --json: the tables do not need it

    return json.dumps(document, indent=2)


def _columns(
    headers: Sequence[str],
    rows: Callable[[], Iterable[Sequence[str]]],
    paint: Callable[[str, str], str] = _plain,
    role: Callable[[int], tuple[str, int]] | None = None,
    *,
    fit: int | None = None,
    shrink: Sequence[tuple[int, int]] = (),
    ellipsis: str = "…",
) -> Iterator[str]:
    """Left-aligned columns over ``rows()``, which is called twice: once for the widths, once
    for the lines. ``role(i)`` names the role and column of row i to paint, after padding, so
    that escape codes do not upset the widths.

    With ``fit`` (a terminal's columns), widths are measured as a terminal shows them and the
    columns of ``shrink`` narrowed in turn, each down to its minimum, until a line fits; a
    cell wider than its column is cut with ``ellipsis``.
    """
    measure = len if fit is None else display_width
    widths = [measure(header) for header in headers]
    for cells in rows():
        widths = [max(width, measure(cell)) for width, cell in zip(widths, cells)]
    natural = list(widths)
    if fit is not None:
        excess = sum(widths) + 2 * (len(widths) - 1) - fit
        for column, minimum in shrink:
            if excess <= 0:
                break
            taken = min(excess, max(0, widths[column] - minimum))
            widths[column] -= taken
            excess -= taken
    narrowed = [column for column, width in enumerate(widths) if width < natural[column]]

    def line(cells: Sequence[str], painted: tuple[str, int] | None = None) -> str:
        if narrowed:
            cells = list(cells)
            for column in narrowed:
                cells[column] = cut(cells[column], widths[column], ellipsis)
        if measure is len:
            padded = [cell.ljust(width) for cell, width in zip(cells, widths)]
        else:
            padded = [cell + " " * (width - measure(cell)) for cell, width in zip(cells, widths)]
        if painted is not None:
            padded[painted[1]] = paint(padded[painted[1]], painted[0])
        return "  ".join(padded).rstrip()

    yield line(headers)
    for index, cells in enumerate(rows()):
        yield line(cells, role(index) if role else None)


def display_width(text: str) -> int:
    """How many columns a terminal gives ``text``: two for a wide East Asian character, none
    for a combining mark, one for anything else (``text`` has been through printable())."""
    if text.isascii():  # nearly always, and a check in C
        return len(text)
    from unicodedata import category, east_asian_width

    return sum(
        0 if category(char) in ("Mn", "Me") else 2 if east_asian_width(char) in ("W", "F") else 1
        for char in text
    )


def cut(text: str, width: int, ellipsis: str = "…") -> str:
    """``text`` cut to at most ``width`` terminal columns, ending in ``ellipsis`` when cut."""
    if display_width(text) <= width:
        return text
    room = width - display_width(ellipsis)
    if room < 0:
        return ellipsis[:width]
    if text.isascii():
        return text[:room] + ellipsis
    kept = 0
    used = 0
    for char in text:
        used += display_width(char)
        if used > room:
            break
        kept += 1
    return text[:kept] + ellipsis
