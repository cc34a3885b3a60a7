"""The runner reads up()/down() from their code objects; inspect is the reference it must match."""
from __future__ import annotations

import functools
import inspect
from pathlib import Path

import pytest

from link_migration.discovery import Migration
from link_migration.errors import DiscoveryError
from link_migration.runner import _never_runs_its_body, _takes_context, _takes_context_by_signature

MIGRATION = Migration(1, Path("/m"), "m1.py")


def _define(source: str) -> object:
    namespace: dict[str, object] = {"functools": functools}
    exec(source, namespace)
    return namespace["up"]


class _Callable:
    def __call__(self, context: object) -> None:
        pass


# Each definition of up(), read both ways: from its code (the runner's fast path) and with
# inspect.signature (the reference). Either both refuse it, or both agree on passing a context.
DEFINITIONS = {
    "no parameter": "def up(): pass",
    "one parameter": "def up(context): pass",
    "self, as in the original README": "def up(self): pass",
    "one optional": "def up(context=None): pass",
    "one required, one optional": "def up(context, other=1): pass",
    "two optional": "def up(a=1, b=2): pass",
    "positional only": "def up(context, /): pass",
    "*args": "def up(*args): pass",
    "**kwargs only": "def up(**kwargs): pass",
    "one and **kwargs": "def up(context, **kwargs): pass",
    "optional keyword-only": "def up(*, context=None): pass",
    "one and optional keyword-only": "def up(context, *, verbose=False): pass",
    "two required": "def up(context, other): pass",
    "required keyword-only": "def up(*, context): pass",
    "one and required keyword-only": "def up(context, *, other): pass",
    "lambda with one": "up = lambda context: None",
    "lambda with none": "up = lambda: None",
    "partial that leaves one": "def f(a, context): pass\nup = functools.partial(f, 1)",
    "partial that leaves none": "def f(a): pass\nup = functools.partial(f, 1)",
    "partial that leaves two": "def f(a, b, c): pass\nup = functools.partial(f, 1)",
    "builtin": "up = print",
}


@pytest.mark.parametrize("source", DEFINITIONS.values(), ids=DEFINITIONS.keys())
def test_reading_the_parameters_from_the_code_agrees_with_inspect(source: str) -> None:
    function = _define(source)
    try:
        expected: object = _takes_context_by_signature(function, MIGRATION, "up")
    except DiscoveryError as error:
        expected = DiscoveryError
        assert "up(" in error.message and "arguments" in error.message
    try:
        found: object = _takes_context(function, MIGRATION, "up")
    except DiscoveryError:
        found = DiscoveryError
    assert found == expected


def test_a_callable_object_is_read_with_inspect() -> None:
    assert _takes_context(_Callable(), MIGRATION, "up") is True


BODIES = {
    "plain": ("def up(): pass", False),
    "async": ("async def up(): pass", True),
    "generator": ("def up():\n    yield 1", True),
    "async generator": ("async def up():\n    yield 1", True),
    "lambda": ("up = lambda: None", False),
    "partial of an async function": (
        "async def f(a): pass\nup = functools.partial(f, 1)", True
    ),
}


@pytest.mark.parametrize(("source", "deferred"), BODIES.values(), ids=BODIES.keys())
def test_functions_whose_call_would_not_run_the_body_are_recognised(
    source: str, deferred: bool
) -> None:
    function = _define(source)
    assert _never_runs_its_body(function) is deferred
    by_inspect = (
        inspect.iscoroutinefunction(function)
        or inspect.isgeneratorfunction(function)
        or inspect.isasyncgenfunction(function)
    )
    assert by_inspect is deferred
