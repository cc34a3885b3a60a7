"""`link-migration accept V... | --all`: record the current checksum of applied migrations
whose files were edited on purpose (state modified), so that status shows them applied and
check stops reporting them."""
from __future__ import annotations

TYPE_CHECKING = False  # typing itself costs milliseconds to import; type checkers know this name

from ..terminal import printable
from . import versions_or_all

if TYPE_CHECKING:
    from typing import Sequence

    from ..api import Migrator
    from ..repair import RepairResult
    from ..terminal import Output

SHORT_CHECKSUM = 12  # hex digits shown, as git shows commits: enough to tell two apart


def accept(migrator: Migrator, out: Output, *, versions: Sequence[int], every: bool) -> int:
    """Accept ``versions``, or with ``every`` every modified migration; a line for each."""
    versions_or_all("accept", versions, every)
    result = migrator.accept_all() if every else migrator.accept(*versions)
    for line in accept_lines(result):
        out.progress(line)
    return 0


def accept_lines(result: RepairResult) -> list[str]:
    """One line per version accepted, with the checksum recorded and the one it replaced:
    the log keeps no checksums, so this line is the record of what was accepted."""
    if not result.repaired:
        return ["Nothing to accept: no applied migration has changed since it was applied."]
    return [f"Accepted version {r.version} ({printable(r.file_name)}): checksum "
            f"{_short(r.checksum)} recorded (it was {_short(r.previous_checksum)})."
            for r in result.repaired]


def _short(checksum: str | None) -> str:
    if not checksum:
        return "none"
    return checksum[:SHORT_CHECKSUM] + ("..." if len(checksum) > SHORT_CHECKSUM else "")
