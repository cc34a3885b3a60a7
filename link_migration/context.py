"""The one argument a migration's up()/down() may take."""
from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

from .discovery import Migration


@dataclass(frozen=True)
class MigrationContext:
    """What a running migration may want to know.

    The original README's ``def up(self): self.config.ROOT_DIR`` works because the context
    is what ``self`` receives.
    """

    config: ModuleType
    version: int
    direction: str
    migration: Migration
    dry_run: bool = False
    connection: Any = None
