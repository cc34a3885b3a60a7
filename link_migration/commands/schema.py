"""`link-migration schema [--json]`: the database's schema as deterministic text, read from
its catalog with no dump tool (SPEC 10)."""
from __future__ import annotations

TYPE_CHECKING = False  # typing itself costs milliseconds to import; type checkers know this name

if TYPE_CHECKING:
    from ..api import Migrator
    from ..terminal import Output


def schema(migrator: Migrator, out: Output, *, as_json: bool, data: bool) -> int:
    from .. import schema as snapshots

    snapshot = migrator.schema(rows=data)
    if as_json:
        import json

        document = snapshots.as_json(snapshot)
        if snapshot.rows is not None:
            document["rows"] = {table: [list(row) for row in rows]
                                for table, rows in snapshot.rows.items()}
        out.result(json.dumps(document, indent=2, default=str))
    else:
        out.result(snapshots.text(snapshot).rstrip("\n"))
    return 0
