"""`link-migration adopt TOOL`: take over a database that golang-migrate, dbmate, goose or
Flyway migrated, from that tool's own table (SPEC 8)."""
from __future__ import annotations

TYPE_CHECKING = False  # typing itself costs milliseconds to import; type checkers know this name

if TYPE_CHECKING:
    from ..adopt import AdoptResult
    from ..api import Migrator
    from ..terminal import Output


def adopt(migrator: Migrator, out: Output, *, tool: str, table: str | None) -> int:
    out.progress(adopt_line(migrator.adopt(tool, table=table)))
    return 0


def adopt_line(result: AdoptResult) -> str:
    source = f"{result.tool}'s table {result.table}"
    if not result.adopted:
        return f"Nothing to adopt: {source} lists no applied migration."
    count = len(result.adopted)
    versions = ", ".join(str(v) for v in result.adopted)
    return (f"Adopted {count} migration{'s' if count != 1 else ''} from {source} "
            f"(version{'s' if count != 1 else ''} {versions}); the store now holds version "
            f"{result.current}. The table {result.table} was left as it is.")
