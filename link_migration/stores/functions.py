"""The store the user writes: get_current_version() and set_current_version(version) in conf.py."""
from __future__ import annotations

TYPE_CHECKING = False  # typing itself costs milliseconds to import; type checkers know this name

from ..errors import StoreError
from ..importer import user_location
from .base import CurrentVersionStore, parse_version

if TYPE_CHECKING:
    from typing import Any, Callable


class FunctionStore(CurrentVersionStore):
    """Calls the user's two functions exactly as the original README defines them."""

    def __init__(
        self, get: Callable[[], Any], set_: Callable[[int], Any], conf_name: str
    ) -> None:
        self._get = get
        self._set = set_
        self._conf_name = conf_name

    def describe(self) -> str:
        return f"get_current_version()/set_current_version() in {self._conf_name}"

    def read_version(self) -> int:
        try:
            value = self._get()
        except (Exception, SystemExit) as exc:
            raise StoreError(
                f"get_current_version() in {self._conf_name} raised "
                f"{type(exc).__name__}: {exc} ({user_location(exc)})",
                "Fix get_current_version(); nothing was changed.",
            ) from exc
        return parse_version(value, f"get_current_version() in {self._conf_name}")

    def write_version(self, version: int) -> None:
        try:
            self._set(version)
        except (Exception, SystemExit) as exc:
            raise StoreError(
                f"set_current_version({version}) in {self._conf_name} raised "
                f"{type(exc).__name__}: {exc} ({user_location(exc)})",
                "The migration's changes are in place but may not be recorded: fix "
                "set_current_version(), then record the version or undo the changes by hand.",
            ) from exc
