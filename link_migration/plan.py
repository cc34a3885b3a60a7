"""Pure planning: from the known migrations, the current version and a request, the steps.

Nothing here touches files, clocks or stores; everything is data in, data out.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Sequence

from .discovery import Migration
from .errors import PlanError

UP = "up"
DOWN = "down"


@dataclass(frozen=True)
class Request:
    """What the user asked for: ``up``/``down`` with an optional count, or ``to`` a target."""

    direction: str = UP
    count: int | None = None
    target: int | None = None


@dataclass(frozen=True)
class Step:
    """Run one migration in one direction; afterwards the store holds ``version_after``."""

    migration: Migration
    direction: str
    version_after: int


@dataclass(frozen=True)
class Plan:
    current: int
    target: int
    steps: tuple[Step, ...]
    warnings: tuple[str, ...] = ()


def make_plan(migrations: Sequence[Migration], current: int, request: Request) -> Plan:
    """Plan the steps that take the store from ``current`` to what ``request`` asks.

    ``migrations`` must be sorted by ascending version. Up applies every migration with
    current < version <= target, ascending; down rolls back every one with
    target < version <= current, descending. Raises PlanError when that cannot be done.
    """
    versions = [m.version for m in migrations]
    known = set(versions)
    warnings: list[str] = []
    if current and current not in known:
        warnings.append(
            f"the store holds version {current}, but no migration file has that version"
        )
    if request.direction == "to":
        target = _check_target(request.target, versions)
        if target >= current:
            return _up(migrations, current, target, warnings)
        _check_rollback_possible(current, known)
        return _down(migrations, current, target, warnings)
    if request.direction == UP:
        pending = [v for v in versions if v > current]
        if request.count is not None:
            _check_count(request.count, "--up")
            pending = pending[: request.count]
        target = pending[-1] if pending else current
        return _up(migrations, current, target, warnings)
    if request.direction == DOWN:
        count = 1 if request.count is None else request.count
        _check_count(count, "--down")
        _check_rollback_possible(current, known)
        applied = [v for v in versions if v <= current]
        if count > len(applied):
            raise PlanError(
                f"--down {count} asks for more than is applied: "
                f"{len(applied)} migration(s) applied (current version {current})",
                f"Give at most --down {len(applied)}, or --to 0 to roll back everything."
                if applied
                else "Nothing is applied, so there is nothing to roll back.",
            )
        remaining = applied[: len(applied) - count]
        target = remaining[-1] if remaining else 0
        return _down(migrations, current, target, warnings)
    raise PlanError(f"unknown direction {request.direction!r}")


def _up(
    migrations: Sequence[Migration], current: int, target: int, warnings: list[str]
) -> Plan:
    steps = tuple(Step(m, UP, m.version) for m in migrations if current < m.version <= target)
    return Plan(current, target, steps, tuple(warnings))


def _down(
    migrations: Sequence[Migration],
    current: int,
    target: int,
    warnings: list[str],
) -> Plan:
    rolled_back = [m for m in migrations if target < m.version <= current]
    rolled_back.reverse()
    steps = []
    for index, migration in enumerate(rolled_back):
        after = rolled_back[index + 1].version if index + 1 < len(rolled_back) else target
        steps.append(Step(migration, DOWN, after))
    # The version after rolling back v is the next lower known version (or 0), which is the
    # next one rolled back, or the target for the last step.
    return Plan(current, target, tuple(steps), tuple(warnings))


def _check_rollback_possible(current: int, known: set[int]) -> None:
    if current and current not in known:
        raise PlanError(
            f"cannot roll back version {current}: the store holds it, but no migration file has it",
            "Restore that migration file, or set the stored version by hand.",
        )


def _check_target(target: int | None, versions: Sequence[int]) -> int:
    if target is None or target < 0:
        raise PlanError(f"--to needs a version of 0 or more, not {target}")
    if target == 0 or target in versions:
        return target
    position = bisect.bisect_left(versions, target)
    below = versions[position - 1] if position > 0 else 0
    above = versions[position] if position < len(versions) else None
    nearest = f"{below}" + (f" and {above}" if above is not None else "")
    raise PlanError(
        f"--to {target}: no migration has version {target} (nearest: {nearest})",
        "Give 0 or the version of a migration that exists.",
    )


def _check_count(count: int, option: str) -> None:
    if count < 1:
        raise PlanError(f"{option} {count}: the number of migrations must be 1 or more")
