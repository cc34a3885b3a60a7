"""Benchmarks of fleets (SPEC 11): many databases in one run, against the floors they replace.

    python bench/fleet.py                          # 500 SQLite targets x 20 migrations
    python bench/fleet.py --postgresql 100         # and 100 PostgreSQL databases x 20

Standard library only for the SQLite part (the PostgreSQL part needs psycopg and the server
programs: it starts its own throwaway server, as the tests do). Measured in the same run:

- SQLite: `--all-targets --jobs 4` on N fresh targets of 20 migrations each, against a shell
  loop that runs `link-migration --target NAME` once per target (what a fleet without this
  feature is); and the peak memory of the fleet run at N and at N / 10 targets, whose
  difference over the targets between them is the memory each target adds.
- PostgreSQL: `--all-targets --jobs 8` against `--jobs 1` on the same databases, each rolled
  back (untimed) in between, through latency_proxy.py (2 ms each way by default), as a
  database across a network is: the work is then latency-bound, and scales with the jobs.
  The proxy counts the round trips of the run, for all databases (each migration here is
  two statements, so its own floor is four: BEGIN, the two, COMMIT).
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run import REPO, Measure, timed  # noqa: E402  (the launcher that measures a child)

MIGRATION = """\
version = {version}


def up(context):
    context.execute("CREATE TABLE t{version} (id INTEGER PRIMARY KEY, name TEXT)")
    context.execute("INSERT INTO t{version} (id, name) VALUES (1, 'x')")


def down(context):
    context.execute("DROP TABLE t{version}")
"""


def write_fleet(root: Path, targets: int, migrations: int, conf: str) -> list[str]:
    names = [f"tenant_{i:04d}" for i in range(1, targets + 1)]
    (root / "migrations").mkdir(parents=True)
    (root / "db").mkdir()
    (root / "conf.py").write_text(f'MIGRATIONS_DIR = "migrations"\nTARGETS = {names!r}\n' + conf)
    for version in range(1, migrations + 1):
        (root / "migrations" / f"{version:03d}_t{version}.py").write_text(
            MIGRATION.format(version=version))
    return names


def sqlite_part(work: Path, targets: int, migrations: int, repeat: int) -> list[str]:
    tool = [sys.executable, "-m", "link_migration"]
    root = work / "sqlite"
    names = write_fleet(root, targets, migrations, 'DATABASE = "db/{target}.db"\n')
    small = max(1, targets // 10)
    fleet, loop, fleet_small = Measure(), Measure(), Measure()
    loop_script = "for t in " + " ".join(names) + "; do " + " ".join(tool) + \
        " -q --target $t || exit 1; done"
    for _ in range(repeat):
        shutil.rmtree(root / "db")
        (root / "db").mkdir()
        timed(tool + ["-q", "--all-targets", "--jobs", "4"], root, fleet)
        shutil.rmtree(root / "db")
        (root / "db").mkdir()
        timed(["/bin/sh", "-c", loop_script], root, loop)
        shutil.rmtree(root / "db")
        (root / "db").mkdir()
        timed(tool + ["-q", "--all-targets", "--jobs", "4"],
              _subset(root, names[:small], work / "sqlite-small"), fleet_small)
    per_target_kib = (max(fleet.peak_kib) - max(fleet_small.peak_kib)) / (targets - small)
    return [
        f"| SQLite, {targets} targets x {migrations} migrations | `--all-targets --jobs 4` | "
        f"{_seconds(fleet.median)} | shell loop of `--target NAME` | {_seconds(loop.median)} | "
        f"{loop.median / fleet.median:.1f}x faster | - |",
        f"| SQLite, peak memory | {targets} targets: {max(fleet.peak_kib) / 1024:.1f} MiB | "
        f"| {small} targets: {max(fleet_small.peak_kib) / 1024:.1f} MiB | | "
        f"{per_target_kib:.1f} KiB per target | - |",
    ]


def _subset(root: Path, names: list[str], into: Path) -> Path:
    """A copy of the project with only ``names`` as TARGETS, fresh databases."""
    if into.exists():
        shutil.rmtree(into)
    shutil.copytree(root / "migrations", into / "migrations")
    (into / "db").mkdir()
    conf = (root / "conf.py").read_text().splitlines()
    conf = [f"TARGETS = {names!r}" if line.startswith("TARGETS") else line for line in conf]
    (into / "conf.py").write_text("\n".join(conf) + "\n")
    return into


def postgresql_part(work: Path, databases: int, migrations: int, repeat: int,
                    delay: float) -> list[str]:
    sys.path.insert(0, str(REPO / "tests"))
    import servers  # the suite's throwaway servers
    from latency_proxy import LatencyProxy

    server = servers.start("postgresql")
    proxy = LatencyProxy(server.host, server.port, delay).start()
    created = []
    try:
        created = [servers.create_database(server, "psycopg") for _ in range(databases)]
        root = work / "postgresql"
        connect = created[0].connect_code.replace("def get_connection():",
                                                  "def get_connection(target):")
        connect = connect.replace(repr(created[0].name), "target")
        connect = connect.replace(f"port={server.port!r}", f"port={proxy.port!r}")
        write_fleet(root, 0, migrations, connect)
        conf = root / "conf.py"
        conf.write_text(conf.read_text().replace("TARGETS = []",
                                                 f"TARGETS = {[d.name for d in created]!r}"))
        tool = [sys.executable, "-m", "link_migration", "-q", "--all-targets"]
        measures = {jobs: Measure() for jobs in (1, 8)}
        trips = 0
        for _ in range(repeat):
            for jobs, measure in measures.items():
                proxy.reset()
                timed(tool + ["--jobs", str(jobs)], root, measure)
                trips = proxy.reset()  # the same with any number of jobs
                subprocess.run(tool + ["--to", "0", "--jobs", "8"], cwd=root, check=True)
        one, eight = measures[1].median, measures[8].median
        return [f"| PostgreSQL through a {delay * 1000:g} ms proxy, {databases} databases x "
                f"{migrations} migrations | "
                f"`--jobs 8` | {_seconds(eight)} | `--jobs 1` | {_seconds(one)} | "
                f"{one / eight:.1f}x faster | {trips} ({trips / databases:.1f} per database, "
                f"{trips / databases / migrations:.1f} per migration) |"]
    finally:
        proxy.stop()
        for database in created:
            servers.drop_database(database, server)
        server.stop()


def _seconds(value: float) -> str:
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def table(targets: int, migrations: int, postgresql: int, repeat: int, delay: float) -> str:
    """The whole fleet table, as Markdown (``delay`` in seconds)."""
    import os
    import platform

    work = Path(tempfile.mkdtemp(prefix="link-migration-fleet-bench-"))
    try:
        rows = sqlite_part(work, targets, migrations, repeat)
        if postgresql:
            rows += postgresql_part(work, postgresql, migrations, repeat, delay)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return "\n".join([
        f"Machine: {platform.system()} {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}. Medians of {repeat} rounds.",
        "",
        "| fleet | measured | time | against | time | ratio | round trips |",
        "|---|---|---:|---|---:|---:|---:|",
        *rows,
    ])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", type=int, default=500, help="SQLite targets (500)")
    parser.add_argument("--migrations", type=int, default=20, help="per target (20)")
    parser.add_argument("--postgresql", type=int, default=0, metavar="N",
                        help="also N PostgreSQL databases (needs the server and psycopg)")
    parser.add_argument("--delay", type=float, default=2.0,
                        help="milliseconds the proxy adds each way to PostgreSQL (2)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measure (3)")
    args = parser.parse_args()
    import compileall

    compileall.compile_dir(str(REPO / "link_migration"), quiet=1)
    print(table(args.targets, args.migrations, args.postgresql, args.repeat, args.delay / 1000))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
