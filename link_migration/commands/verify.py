"""`link-migration verify [--all] [--data] [--json]`: each migration's up, down and up again
on a scratch database, with a line per migration and, on failure, what differs (SPEC 10)."""
from __future__ import annotations

TYPE_CHECKING = False  # typing itself costs milliseconds to import; type checkers know this name

from ..terminal import printable

if TYPE_CHECKING:
    from ..api import Migrator
    from ..terminal import Output
    from ..verify import RoundTrip, VerifyResult


def verify(migrator: Migrator, out: Output, *, every: bool, data: bool, as_json: bool) -> int:
    def progress(index: int, total: int, trip: RoundTrip) -> None:
        mark = out.paint("ok", "summary") if trip.ok else out.paint("FAILED", "error")
        out.progress(f"[{index}/{total}] {printable(trip.file_name)}: {mark} "
                     f"({trip.seconds:.2f} s)")

    result = migrator.verify(every=every, data=data, on_trip=progress)
    if as_json:
        out.result(verify_json(result))
    else:
        out.result_lines(verify_lines(result))
    return 0 if result.ok else 1


def verify_lines(result: VerifyResult) -> list[str]:
    where = printable(result.scratch)
    if not result.trips:
        return [f"Nothing to verify: no migration is pending (on {where}). "
                "Use --all to verify every migration from an empty database."]
    failed = next((trip for trip in result.trips if not trip.ok), None)
    if failed is None:
        count = len(result.trips)
        return [f"OK: {count} migration{'s' if count != 1 else ''} verified on {where}: each "
                "down undoes its up, and up again gives the same schema."]
    lines = [f"Migration {failed.version} ({printable(failed.file_name)}) failed verification "
             f"on {where}:"]
    lines += [f"  {printable(problem)}" for problem in failed.problems]
    if result.left:
        lines.append(f"{result.left} later migration{'s were' if result.left != 1 else ' was'} "
                     "not verified.")
    return lines


def verify_json(result: VerifyResult) -> str:
    import json

    return json.dumps({
        "ok": result.ok,
        "scratch": result.scratch,
        "range": "all" if result.every else "pending",
        "migrations": [{"version": t.version, "file": t.file_name, "ok": t.ok,
                        "problems": list(t.problems), "seconds": round(t.seconds, 6)}
                       for t in result.trips],
        "not_verified": result.left,
    }, indent=2)
