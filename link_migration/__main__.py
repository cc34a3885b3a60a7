"""``python -m link_migration``: the same program as the console scripts."""
from __future__ import annotations

from .cli import main

raise SystemExit(main())
