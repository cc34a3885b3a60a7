"""One module per command that has outgrown cli.py (STYLE 8, pre-commit's layout).

cli.py parses and turns the Namespace into keyword arguments; each command here calls one
Migrator method and prints its lines. Nothing here sees argparse.
"""
from __future__ import annotations

TYPE_CHECKING = False  # typing itself costs milliseconds to import; type checkers know this name

from ..errors import UsageError
from ..terminal import PROG

if TYPE_CHECKING:
    from typing import Sequence


def versions_or_all(command: str, versions: Sequence[int], every: bool) -> None:
    """forget and accept take versions or --all: exactly one of the two, so that a forgotten
    argument never widens to every migration."""
    if versions and every:
        raise UsageError(f"{command}: give versions or --all, not both",
                         f"Run '{PROG} {command} --help' for usage.")
    if not versions and not every:
        raise UsageError(f"{command} needs a version, or --all",
                         f"For example: {PROG} {command} 3")
