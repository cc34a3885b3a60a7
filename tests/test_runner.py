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
    "decorated with functools.wraps, wrapping none": (
        "def f(): pass\n"
        "@functools.wraps(f)\n"
        "def up(*args, **kwargs): return f(*args, **kwargs)"
    ),
    "decorated with functools.wraps, wrapping one": (
        "def f(context): pass\n"
        "@functools.wraps(f)\n"
        "def up(*args, **kwargs): return f(*args, **kwargs)"
    ),
    "with a __signature__ of none": (
        "import inspect\n"
        "def up(*args): pass\n"
        "up.__signature__ = inspect.Signature()"
    ),
    "with an attribute set": "def up(context): pass\nup.note = 'kept'",
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


def test_a_decorated_up_is_called_as_the_function_it_wraps() -> None:
    """functools.wraps makes the wrapper stand for what it wraps: an up() of no argument,
    decorated, must still be called with none."""
    up = _define(DEFINITIONS["decorated with functools.wraps, wrapping none"])
    assert _takes_context(up, MIGRATION, "up") is False


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
if hasattr(inspect, "markcoroutinefunction"):  # Python 3.12 and later
    BODIES["marked as a coroutine function"] = (
        "import inspect\n@inspect.markcoroutinefunction\ndef up(): pass", True
    )


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


def test_the_context_is_read_only(project) -> None:
    """A migration or hook that assigns to the context fails, rather than changing what the
    migrations after it are told."""
    project.add_migration(1)
    (project.migrations / "m2.py").write_text("version = 2\ndef up(self):\n    self.version = 5\n")
    result = project.run()
    assert result.status == 1
    assert "read-only" in result.err and "version" in result.err
    assert project.version() == "1"


@pytest.mark.parametrize("body", ["async def real(context):\n    pass\n",
                                  "def real(context):\n    yield 1\n"], ids=["async", "generator"])
def test_a_decorator_hiding_an_async_or_generator_up_fails_the_step(project, body) -> None:
    """inspect does not see through such a wrapper, so the call's result is checked: a body
    that did not run must not be recorded as done."""
    project.add_migration(1)
    (project.migrations / "m2.py").write_text(
        "import functools\nversion = 2\n" + body
        + "@functools.wraps(real)\ndef up(context):\n    return real(context)\n"
    )
    result = project.run()
    assert result.status == 1
    assert "migration 2 (up)" in result.err and "instead of running" in result.err
    assert "never awaited" not in result.err
    assert project.version() == "1"


def test_the_context_cannot_lose_an_attribute_and_copies_as_itself() -> None:
    import copy

    from link_migration.context import MigrationContext

    context = MigrationContext(config=functools, version=1, direction="up", migration=MIGRATION)
    with pytest.raises(AttributeError, match="read-only"):
        del context.version
    assert copy.copy(context) is context and copy.deepcopy(context) is context
    assert context.version == 1
