"""link-migration: a small, generic tool for schema and data migrations.

    from link_migration import Migrator
    Migrator.from_config("conf.py").upgrade()
"""
from __future__ import annotations

TYPE_CHECKING = False  # typing itself costs milliseconds to import; type checkers know this name

from .errors import (
    ConfigError,
    DiscoveryError,
    LinkMigrationError,
    LockTimeout,
    MigrationError,
    PlanError,
    RunInterrupted,
    StoreError,
)

if TYPE_CHECKING:
    from typing import Any

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "DiscoveryError",
    "LinkMigrationError",
    "LockTimeout",
    "MigrationError",
    "Migrator",
    "PlanError",
    "RunInterrupted",
    "StoreError",
    "__version__",
]


def __getattr__(name: str) -> Any:
    # Imported on first use, so that `link-migration --help` loads none of the machinery.
    if name == "Migrator":
        from .api import Migrator

        return Migrator
    raise AttributeError(f"module 'link_migration' has no attribute {name!r}")
