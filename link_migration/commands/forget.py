"""`link-migration forget V... | --all`: drop the history rows of applied migrations whose
files are gone (state missing), so that status and check stop reporting them."""
from __future__ import annotations

TYPE_CHECKING = False  # typing itself costs milliseconds to import; type checkers know this name

from ..terminal import printable
from . import versions_or_all

if TYPE_CHECKING:
    from typing import Sequence

    from ..api import Migrator
    from ..repair import RepairResult
    from ..terminal import Output


def forget(migrator: Migrator, out: Output, *, versions: Sequence[int], every: bool) -> int:
    """Forget ``versions``, or with ``every`` every missing migration; a line for each."""
    versions_or_all("forget", versions, every)
    result = migrator.forget_all() if every else migrator.forget(*versions)
    for line in forget_lines(result):
        out.progress(line)
    return 0


def forget_lines(result: RepairResult) -> list[str]:
    """One line per version forgotten; the last says so when the current version changed
    (it was the highest applied version), since deploy scripts read `current`."""
    if not result.repaired:
        return ["Nothing to forget: every applied migration still has its file."]
    lines = [f"Forgot version {r.version} ({printable(r.file_name)}, missing since its file is "
             "gone)." for r in result.repaired]
    if result.current != result.previous:
        lines[-1] = f"{lines[-1][:-1]}; the current version is now {result.current}."
    return lines
