"""Reads what a migration's syntax tree says without running it: for the files the quick
reader in discovery leaves to a full parse, and for the docstrings a dry run shows.

Apart from discovery because ``ast`` is only needed for those files: most runs never import it.
"""
from __future__ import annotations

import ast
from pathlib import Path

from .errors import DiscoveryError

MISSING = object()
DYNAMIC = object()


def static_version(path: Path, source: bytes) -> tuple[object, int, str]:
    """(version, line, description): the version is a literal, or MISSING when the file has no
    ``version``, or DYNAMIC when only running the file can tell."""
    try:
        tree = ast.parse(source, str(path))
    except (SyntaxError, ValueError) as exc:
        line = getattr(exc, "lineno", None)
        where = f"{path}, line {line}" if line else str(path)
        raise DiscoveryError(
            f"{where}: syntax error: {getattr(exc, 'msg', exc)}", f"Fix the syntax of {path.name}."
        ) from None
    value, line = _version_node(tree)
    lines = (ast.get_docstring(tree) or "").strip().splitlines()
    return value, line, lines[0] if lines else ""


def function_docstrings(path: Path) -> dict[str, str]:
    """The docstrings of the top-level functions in the file at ``path``; {} if unreadable."""
    try:
        tree = ast.parse(path.read_bytes(), str(path))
    except (OSError, SyntaxError, ValueError):
        return {}
    return {
        node.name: ast.get_docstring(node) or ""
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    }


def _version_node(tree: ast.Module) -> tuple[object, int]:
    """(value, line) of a top-level literal ``version``; DYNAMIC or MISSING otherwise."""
    literal: object = MISSING
    line = 0
    for node in tree.body:
        target_value = _simple_assignment(node)
        if target_value is not None:
            try:
                literal = ast.literal_eval(target_value)
            except Exception:  # ValueError, TypeError ({[]: 1}), RecursionError, ...
                return DYNAMIC, node.lineno
            line = node.lineno
        elif _binds_version(node):
            return DYNAMIC, node.lineno
    return literal, line


def _simple_assignment(node: ast.stmt) -> ast.expr | None:
    """The value of ``version = ...`` / ``version: int = ...``, else None."""
    if isinstance(node, ast.Assign) and len(node.targets) == 1:
        target = node.targets[0]
        if isinstance(target, ast.Name) and target.id == "version":
            return node.value
    if isinstance(node, ast.AnnAssign) and node.value is not None and node.simple:
        if isinstance(node.target, ast.Name) and node.target.id == "version":
            return node.value
    return None


def _binds_version(node: ast.stmt) -> bool:
    """Whether a module-level statement may bind ``version`` some other way.

    Looks through blocks (if, try, for, with) but not into the nested scopes of functions,
    classes, lambdas and comprehensions, whose names are their own, except through ``global``.
    """
    pending: list[ast.AST] = [node]
    while pending:
        current = pending.pop()
        if isinstance(current, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if current.name == "version" or _declares_global_version(current):
                return True
            continue
        if isinstance(current, _NESTED_SCOPES):
            # A walrus inside a comprehension binds in the enclosing (module) scope.
            if any(
                isinstance(child, ast.NamedExpr) and child.target.id == "version"
                for child in ast.walk(current)
            ):
                return True
            continue
        if isinstance(current, ast.Name) and current.id == "version":
            if isinstance(current.ctx, (ast.Store, ast.Del)):
                return True
        if isinstance(current, ast.alias) and ((current.asname or current.name) == "version"
                                               or current.name == "*"):
            return True
        pending.extend(ast.iter_child_nodes(current))
    return False


_NESTED_SCOPES = (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def _declares_global_version(scope: ast.AST) -> bool:
    return any(
        isinstance(child, ast.Global) and "version" in child.names for child in ast.walk(scope)
    )
