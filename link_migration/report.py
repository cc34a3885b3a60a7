"""Turns plans and results into the lines the CLI prints. Returns text, never prints."""
from __future__ import annotations

from typing import Sequence

from .plan import DOWN, Plan, Step
from .runner import RunResult

INDENT = "      "


def plan_header(plan: Plan, store: str, *, dry_run: bool = False, fake: bool = False) -> str:
    count = _migrations(len(plan.steps))
    direction = "down" if plan.steps and plan.steps[0].direction == DOWN else "up"
    what = f"{direction} from version {plan.current} to {plan.target}: {count}"
    if dry_run:
        return f"Dry run, nothing will run or be recorded. Would migrate {what} ({store})."
    if fake:
        return f"Faking {what}: recording without running them ({store})."
    return f"Migrating {what} ({store})."


def step_line(index: int, total: int, step: Step, *, fake: bool = False) -> str:
    migration = step.migration
    line = f"[{index}/{total}] {'fake ' if fake else ''}{step.direction} {migration.version} {migration.name}"
    return f"{line}: {migration.description}" if migration.description else line


def step_docstring(step: Step) -> str:
    """The up()/down() docstring a dry run shows under a step, indented."""
    doc = step.migration.up_doc if step.direction != DOWN else step.migration.down_doc
    if not doc:
        return ""
    lines = doc.strip().splitlines()
    return "\n".join(f"{INDENT}{step.direction}: {lines[0]}" if i == 0 else f"{INDENT}    {line}"
                     for i, line in enumerate(lines))


def step_done(seconds: float) -> str:
    return f"{INDENT}done in {duration(seconds)}"


def summary(result: RunResult) -> str:
    steps = result.completed
    if not steps:
        return f"Already at version {result.version}: nothing to do."
    verb = "rolled back" if steps[0].direction == DOWN else "applied"
    if result.fake:
        verb = "recorded without running (fake)" if verb == "applied" else "recorded rollback of (fake)"
    versions = _versions([s.migration.version for s in steps])
    return (
        f"Now at version {result.version}: {verb} {_migrations(len(steps))} "
        f"({versions}) in {duration(result.seconds)}."
    )


def duration(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.1f} ms"
    if seconds < 60:
        return f"{seconds:.2f} s"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes} min {rest} s"


def _migrations(count: int) -> str:
    return f"{count} migration" + ("" if count == 1 else "s")


def _versions(versions: Sequence[int]) -> str:
    label = "version" if len(versions) == 1 else "versions"
    if len(versions) <= 6:
        return f"{label} {', '.join(map(str, versions))}"
    return f"{label} {versions[0]}, {versions[1]}, ..., {versions[-1]}"
