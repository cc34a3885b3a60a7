"""Pure planning: from the known migrations, what the store holds and a request, the steps.

Nothing here touches files, clocks or stores; everything is data in, data out.
"""
from __future__ import annotations

import bisect
from typing import AbstractSet, NamedTuple, Sequence

from .config import API_WORDING, Wording
from .discovery import Migration
from .errors import PlanError

UP = "up"
DOWN = "down"


class Request(NamedTuple):
    """What the user asked for: ``up``/``down`` with an optional count, or ``to`` a target."""

    direction: str = UP
    count: int | None = None  # type: ignore[assignment]  # a field, over tuple.count()
    target: int | None = None


class Step(NamedTuple):
    """Run one migration in one direction; afterwards the store holds ``version_after``."""

    migration: Migration
    direction: str
    version_after: int


class Plan(NamedTuple):
    current: int
    target: int
    steps: tuple[Step, ...]
    warnings: tuple[str, ...] = ()


def applied_versions(migrations: Sequence[Migration], current: int) -> frozenset[int]:
    """What a store that keeps only the current version has applied: every known version up
    to it, and the current version itself."""
    applied = {m.version for m in migrations if m.version <= current}
    if current:
        applied.add(current)
    return frozenset(applied)


def out_of_order(
    migrations: Sequence[Migration], current: int, applied: AbstractSet[int]
) -> list[Migration]:
    """Migrations not applied although a higher version is: added late, on another branch."""
    return [m for m in migrations if m.version < current and m.version not in applied]


def make_plan(
    migrations: Sequence[Migration],
    current: int,
    request: Request,
    *,
    applied: AbstractSet[int] | None = None,
    allow_out_of_order: bool = False,
    wording: Wording = API_WORDING,
) -> Plan:
    """Plan the steps that take the store from ``current`` to what ``request`` asks.

    ``migrations`` must be sorted by ascending version. ``applied`` is the set of versions the
    store has applied, where it knows it (SQL stores); without it every known version up to
    ``current`` counts as applied. Up applies the unapplied migrations up to the target in
    ascending order; down rolls back the applied ones above the target, newest first. An
    unapplied migration below ``current`` is out of order: up refuses to run while there is one,
    unless ``allow_out_of_order``. Raises PlanError when the request cannot be carried out,
    naming the request as ``wording`` says: the Python API's calls, or the command line's options.
    """
    versions = [m.version for m in migrations]
    known = set(versions)
    if applied is None:
        applied = applied_versions(migrations, current)
    missing = sorted(v for v in applied if v not in known)
    warnings = [
        f"the store has applied version {v}, but no migration file has that version"
        for v in missing
    ]
    if request.direction == "to":
        target = _check_target(request.target, versions, applied, wording)
        if target >= current:
            return _up(migrations, current, applied, target, allow_out_of_order, warnings, wording)
        if target and target not in applied:
            raise PlanError(
                f"{wording.to.format(target)}: version {target} is not applied, and is below "
                f"the current version {current} (out of order), so no rollback ends at it",
                f"Apply it first with {wording.out_of_order}, or give a version that is applied.",
            )
        return _down(migrations, current, applied, sum(v > target for v in applied), warnings)
    if request.direction == UP:
        unapplied = [m.version for m in migrations if m.version not in applied]
        if not allow_out_of_order:
            unapplied = [v for v in unapplied if v > current]
        if request.count is not None:
            _check_count(request.count, wording.up)
            unapplied = unapplied[: request.count]
        target = max(unapplied[-1], current) if unapplied else current
        return _up(migrations, current, applied, target, allow_out_of_order, warnings, wording)
    if request.direction == DOWN:
        count = 1 if request.count is None else request.count
        _check_count(count, wording.down)
        if count > len(applied):
            raise PlanError(
                f"{wording.down.format(count)} asks for more than is applied: "
                f"{len(applied)} migration(s) applied (current version {current})",
                f"Give at most {wording.down.format(len(applied))}, or {wording.to.format(0)} "
                "to roll back everything."
                if applied
                else "Nothing is applied, so there is nothing to roll back.",
            )
        return _down(migrations, current, applied, count, warnings)
    raise PlanError(f"unknown direction {request.direction!r}")


def _up(
    migrations: Sequence[Migration],
    current: int,
    applied: AbstractSet[int],
    target: int,
    allow_out_of_order: bool,
    warnings: list[str],
    wording: Wording,
) -> Plan:
    late = out_of_order(migrations, current, applied)
    if late and not allow_out_of_order:
        names = ", ".join(f"{m.version} ({m.name})" for m in late)
        raise PlanError(
            f"out of order: not applied, although version {current} is: {names}",
            f"Apply them anyway with {wording.out_of_order}, or give them versions above "
            f"{current}.",
        )
    steps = []
    version = current
    for migration in migrations:
        if migration.version <= target and migration.version not in applied:
            version = max(version, migration.version)
            steps.append(Step(migration, UP, version))
    return Plan(current, target, tuple(steps), tuple(warnings))


def _down(
    migrations: Sequence[Migration],
    current: int,
    applied: AbstractSet[int],
    count: int,
    warnings: list[str],
) -> Plan:
    """Roll back the ``count`` newest applied versions, newest first; after each, the store
    holds the highest version still applied, or 0."""
    ascending = sorted(applied)
    by_version = {m.version: m for m in migrations}
    newest_first = ascending[len(ascending) - count :][::-1]
    without_file = [v for v in newest_first if v not in by_version]
    if without_file:
        raise PlanError(
            f"cannot roll back version {without_file[0]}: the store has it applied, "
            "but no migration file has that version",
            "Restore that migration file, or correct the store by hand.",
        )
    remaining = ascending[: len(ascending) - count]
    steps = [
        Step(by_version[version], DOWN, ascending[-index - 2] if index + 2 <= len(ascending) else 0)
        for index, version in enumerate(newest_first)
    ]
    target = remaining[-1] if remaining else 0
    return Plan(current, target, tuple(steps), tuple(warnings))


def _check_target(
    target: int | None, versions: Sequence[int], applied: AbstractSet[int], wording: Wording
) -> int:
    if target is None or target < 0:
        raise PlanError(f"{wording.to.format(target)}: the target must be a version of 0 or more")
    if target == 0 or target in applied or target in versions:
        return target
    position = bisect.bisect_left(versions, target)
    below = versions[position - 1] if position > 0 else 0
    above = versions[position] if position < len(versions) else None
    nearest = f"{below}" + (f" and {above}" if above is not None else "")
    raise PlanError(
        f"{wording.to.format(target)}: no migration has version {target} (nearest: {nearest})",
        "Give 0 or the version of a migration that exists.",
    )


def _check_count(count: int, option: str) -> None:
    """``option`` is the wording's format for the request, such as ``"--up {}"``."""
    if count < 1:
        raise PlanError(f"{option.format(count)}: the number of migrations must be 1 or more")
