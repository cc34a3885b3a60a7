"""What every version store offers, and the one rule for what counts as a stored version."""
from __future__ import annotations

from typing import Protocol

from ..errors import StoreError


class VersionStore(Protocol):
    """Where the current version lives.

    ``write_version`` is called after every migration, so a store must make each write durable
    on its own. Failures are raised as StoreError naming the store and the problem.
    """

    def describe(self) -> str:
        """A short phrase naming the store for messages, e.g. ``file /srv/app/version.txt``."""
        ...

    def read_version(self) -> int:
        ...

    def write_version(self, version: int) -> None:
        ...


def parse_version(value: object, source: str) -> int:
    """Turn what a store holds into a version: an int, a string of digits, or None for 0.

    ``source`` names where the value came from, for the message.
    """
    if value is None:
        return 0
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.strip().isdigit() and value.strip().isascii():
        number = int(value.strip())
    else:
        raise StoreError(
            f"{source} gave {value!r}, which is not a version",
            "A version is a whole number of 0 or more (or None for 0).",
        )
    if number < 0:
        raise StoreError(
            f"{source} gave {number}, which is not a version",
            "A version is a whole number of 0 or more.",
        )
    return number
