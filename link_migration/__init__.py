"""link-migration: a small, generic tool for schema and data migrations."""
from __future__ import annotations

from .errors import (
    ConfigError,
    DiscoveryError,
    LinkMigrationError,
    MigrationError,
    PlanError,
    StoreError,
)

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "DiscoveryError",
    "LinkMigrationError",
    "MigrationError",
    "PlanError",
    "StoreError",
    "__version__",
]
