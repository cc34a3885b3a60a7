"""make_plan: the pure step from (migrations, current version, request) to a plan, table-driven."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

import pytest

from link_migration.config import API_WORDING, CLI_WORDING
from link_migration.discovery import Migration
from link_migration.errors import PlanError
from link_migration.plan import DOWN, UP, Plan, Request, make_plan


def _migrations(*versions: int) -> list[Migration]:
    """Migrations with the given versions, sorted as discover() hands them to make_plan."""
    return [Migration(v, Path("/m"), f"{v}.py") for v in sorted(versions)]


def _steps(plan: Plan) -> list[tuple[int, str, int]]:
    """Each step as (version run, direction, version the store holds afterwards)."""
    return [(s.migration.version, s.direction, s.version_after) for s in plan.steps]


def _words(text: str) -> set[str]:
    return set(re.findall(r"\d+", text))


PLANS = [
    # (id, versions, current, request, expected steps, expected target)
    ("up all from 0", (1, 2, 3), 0, Request(), [(1, UP, 1), (2, UP, 2), (3, UP, 3)], 3),
    ("up all from the middle", (1, 2, 3), 1, Request(UP), [(2, UP, 2), (3, UP, 3)], 3),
    ("up 1", (1, 2, 3), 0, Request(UP, count=1), [(1, UP, 1)], 1),
    ("up 2 ascending", (1, 2, 3), 0, Request(UP, count=2), [(1, UP, 1), (2, UP, 2)], 2),
    ("up 2 from the middle", (1, 2, 3, 4), 1, Request(UP, count=2), [(2, UP, 2), (3, UP, 3)], 3),
    ("up N larger than pending", (1, 2, 3), 1, Request(UP, count=5), [(2, UP, 2), (3, UP, 3)], 3),
    (
        "up orders by number, not by text",
        (2, 10, 100, 9),
        0,
        Request(UP),
        [(2, UP, 2), (9, UP, 9), (10, UP, 10), (100, UP, 100)],
        100,
    ),
    (
        "up with gaps and timestamps",
        (3, 20240101120000, 7),
        3,
        Request(UP),
        [(7, UP, 7), (20240101120000, UP, 20240101120000)],
        20240101120000,
    ),
    ("up with nothing pending", (1, 2, 3), 3, Request(UP), [], 3),
    ("up N with nothing pending", (1, 2, 3), 3, Request(UP, count=2), [], 3),
    ("up with no migrations", (), 0, Request(UP), [], 0),
    ("down default is one", (1, 2, 3), 3, Request(DOWN), [(3, DOWN, 2)], 2),
    ("down 1 explicitly", (1, 2, 3), 3, Request(DOWN, count=1), [(3, DOWN, 2)], 2),
    ("down 2 descending", (1, 2, 3), 3, Request(DOWN, count=2), [(3, DOWN, 2), (2, DOWN, 1)], 1),
    (
        "down everything applied ends at 0",
        (1, 2, 3),
        3,
        Request(DOWN, count=3),
        [(3, DOWN, 2), (2, DOWN, 1), (1, DOWN, 0)],
        0,
    ),
    (
        "down holds the next lower known version, not version - 1",
        (5, 10, 20),
        20,
        Request(DOWN, count=2),
        [(20, DOWN, 10), (10, DOWN, 5)],
        5,
    ),
    ("down leaves pending ones alone", (1, 2, 3, 4), 2, Request(DOWN), [(2, DOWN, 1)], 1),
    ("down the only applied one", (7, 9), 7, Request(DOWN), [(7, DOWN, 0)], 0),
    ("to up from 0", (1, 2, 3), 0, Request("to", target=2), [(1, UP, 1), (2, UP, 2)], 2),
    ("to up from the middle", (1, 2, 3), 1, Request("to", target=3), [(2, UP, 2), (3, UP, 3)], 3),
    ("to down", (1, 2, 3), 3, Request("to", target=1), [(3, DOWN, 2), (2, DOWN, 1)], 1),
    (
        "to down across gaps",
        (4, 8, 15, 16),
        16,
        Request("to", target=4),
        [(16, DOWN, 15), (15, DOWN, 8), (8, DOWN, 4)],
        4,
    ),
    ("to the current version", (1, 2, 3), 2, Request("to", target=2), [], 2),
    ("to 0 rolls back everything", (1, 2, 3), 3, Request("to", target=0),
     [(3, DOWN, 2), (2, DOWN, 1), (1, DOWN, 0)], 0),
    ("to 0 with pending ones above", (1, 2, 3), 2, Request("to", target=0),
     [(2, DOWN, 1), (1, DOWN, 0)], 0),
    ("to 0 at 0", (1, 2, 3), 0, Request("to", target=0), [], 0),
]


@pytest.mark.parametrize(
    ("versions", "current", "request_", "expected", "target"),
    [case[1:] for case in PLANS],
    ids=[case[0] for case in PLANS],
)
def test_plan_steps(
    versions: Sequence[int],
    current: int,
    request_: Request,
    expected: list[tuple[int, str, int]],
    target: int,
) -> None:
    migrations = _migrations(*versions)
    plan = make_plan(migrations, current, request_)
    assert _steps(plan) == expected
    assert plan.current == current
    assert plan.target == target
    assert plan.warnings == ()


def test_steps_carry_the_migration_objects_given() -> None:
    migrations = _migrations(1, 2)
    plan = make_plan(migrations, 0, Request(UP))
    assert [s.migration for s in plan.steps] == migrations
    assert all(s.migration is m for s, m in zip(plan.steps, migrations))


def test_down_steps_end_where_the_next_up_would_start() -> None:
    """Rolling back N then going up again replays exactly the rolled-back migrations."""
    migrations = _migrations(1, 5, 6, 12)
    down = make_plan(migrations, 12, Request(DOWN, count=3))
    assert down.steps[-1].version_after == down.target == 1
    up = make_plan(migrations, down.target, Request(UP))
    assert [s.migration.version for s in up.steps] == [
        s.migration.version for s in reversed(down.steps)
    ]


UNKNOWN_TARGETS = [
    # (versions, current, target, nearest named, versions that must not be named)
    ((10, 20, 30), 0, 25, {"20", "30"}, {"10"}),
    ((10, 20, 30), 30, 15, {"10", "20"}, {"30"}),
    ((10, 20, 30), 0, 5, {"0", "10"}, {"20", "30"}),
    ((10, 20, 30), 0, 35, {"30"}, {"10", "20"}),
]


@pytest.mark.parametrize(("versions", "current", "target", "named", "not_named"), UNKNOWN_TARGETS)
def test_to_an_unknown_version_names_the_nearest(
    versions: Sequence[int], current: int, target: int, named: set[str], not_named: set[str]
) -> None:
    with pytest.raises(PlanError) as caught:
        make_plan(_migrations(*versions), current, Request("to", target=target))
    message = caught.value.message
    assert str(target) in message
    nearest = message.split("nearest", 1)[1] if "nearest" in message else message
    assert named <= _words(nearest)
    assert not (not_named & _words(message))


ERRORS = [
    # (id, versions, current, request, words the message must contain)
    ("down more than applied", (1, 2, 3), 2, Request(DOWN, count=3), ["--down 3", "2"]),
    ("down with nothing applied", (1, 2, 3), 0, Request(DOWN), ["--down 1"]),
    ("down 2 with nothing applied", (1, 2), 0, Request(DOWN, count=2), ["--down 2"]),
    ("up 0", (1, 2, 3), 0, Request(UP, count=0), ["--up 0"]),
    ("up 0 with nothing pending", (1, 2, 3), 3, Request(UP, count=0), ["--up 0"]),
    ("up -1", (1, 2, 3), 0, Request(UP, count=-1), ["--up -1"]),
    ("down 0", (1, 2, 3), 3, Request(DOWN, count=0), ["--down 0"]),
    ("down -2", (1, 2, 3), 3, Request(DOWN, count=-2), ["--down -2"]),
    ("to a negative version", (1, 2, 3), 0, Request("to", target=-1), ["-1"]),
    ("to without a target", (1, 2, 3), 0, Request("to"), ["--to"]),
    ("unknown direction", (1, 2, 3), 0, Request("sideways"), ["sideways"]),
]


@pytest.mark.parametrize(
    ("versions", "current", "request_", "words"),
    [case[1:] for case in ERRORS],
    ids=[case[0] for case in ERRORS],
)
def test_impossible_requests_are_plan_errors(
    versions: Sequence[int], current: int, request_: Request, words: list[str]
) -> None:
    with pytest.raises(PlanError) as caught:
        make_plan(_migrations(*versions), current, request_, wording=CLI_WORDING)
    assert caught.value.exit_code == 2
    for word in words:
        assert word in caught.value.message


API_WORDS = {
    # id in ERRORS: what the Python API's message says instead of the option
    "down more than applied": ["downgrade(steps=3)", "2"],
    "up 0": ["upgrade(steps=0)"],
    "down -2": ["downgrade(steps=-2)"],
    "to without a target": ["migrate_to(None)"],
}
# An option of the command line: "--to", "--out-of-order", "-c", ...
CLI_OPTION = re.compile(r"(?:^|[\s(`'\"])--?[A-Za-z]")


@pytest.mark.parametrize(
    ("versions", "current", "request_", "words"),
    [case[1:] for case in ERRORS],
    ids=[case[0] for case in ERRORS],
)
def test_by_default_plan_errors_name_the_python_api(
    request: pytest.FixtureRequest, versions: Sequence[int], current: int, request_: Request,
    words: list[str],
) -> None:
    """make_plan is the library's: its own words are the API's, not the command line's."""
    with pytest.raises(PlanError) as caught:
        make_plan(_migrations(*versions), current, request_)
    text = f"{caught.value.message}\n{caught.value.hint}"
    assert not CLI_OPTION.search(text), text
    case = request.node.callspec.id
    for word in API_WORDS.get(case, []):
        assert word in caught.value.message


@pytest.mark.parametrize(("wording", "words"), [
    (CLI_WORDING, ["--out-of-order"]),
    (API_WORDING, ["out_of_order=True"]),
])
def test_out_of_order_refusal_says_how_to_allow_it_in_the_callers_words(
    wording: object, words: list[str]
) -> None:
    for request_ in (Request(UP), Request("to", target=2)):
        with pytest.raises(PlanError) as caught:
            make_plan(_migrations(1, 2, 3), 3, request_, applied={1, 3}, wording=wording)
        for word in words:
            assert word in caught.value.hint


MISSING_CURRENT_UP = [
    # (id, versions, current, request, expected steps, target)
    ("up past the missing one", (1, 2, 4, 5), 3, Request(UP), [(4, UP, 4), (5, UP, 5)], 5),
    ("up 1 past the missing one", (1, 2, 4, 5), 3, Request(UP, count=1), [(4, UP, 4)], 4),
    ("to above the missing one", (1, 2, 4, 5), 3, Request("to", target=4), [(4, UP, 4)], 4),
    ("store newer than every file", (1, 2), 3, Request(UP), [], 3),
]


@pytest.mark.parametrize(
    ("versions", "current", "request_", "expected", "target"),
    [case[1:] for case in MISSING_CURRENT_UP],
    ids=[case[0] for case in MISSING_CURRENT_UP],
)
def test_current_version_without_a_file_warns_and_goes_up(
    versions: Sequence[int],
    current: int,
    request_: Request,
    expected: list[tuple[int, str, int]],
    target: int,
) -> None:
    plan = make_plan(_migrations(*versions), current, request_)
    assert _steps(plan) == expected
    assert plan.target == target
    assert len(plan.warnings) == 1
    assert str(current) in _words(plan.warnings[0])


MISSING_CURRENT_DOWN = [
    ("down 1", (1, 2, 4), 3, Request(DOWN)),
    ("down 2", (1, 2, 4), 3, Request(DOWN, count=2)),
    ("to below it", (1, 2, 4), 3, Request("to", target=2)),
    ("to 0", (1, 2, 4), 3, Request("to", target=0)),
    ("down when newer than every file", (1, 2), 3, Request(DOWN)),
]


@pytest.mark.parametrize(
    ("versions", "current", "request_"),
    [case[1:] for case in MISSING_CURRENT_DOWN],
    ids=[case[0] for case in MISSING_CURRENT_DOWN],
)
def test_rolling_back_a_current_version_without_a_file_is_an_error(
    versions: Sequence[int], current: int, request_: Request
) -> None:
    with pytest.raises(PlanError) as caught:
        make_plan(_migrations(*versions), current, request_)
    assert str(current) in _words(caught.value.message)
