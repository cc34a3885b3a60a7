"""Benchmarks for link-migration: whole-process CLI runs against the floors they sit on.

    python bench/run.py                      # N = 10, 100, 1000, 5000, 10000; 3 repeats
    python bench/run.py --sizes 10,1000 --repeat 5 --markdown bench/results.md

Standard library only. For each N it writes a project of N linear migrations (each creates one
SQLite table on the way up and drops it on the way down; on the file store they do nothing, so
that the tool's own cost shows), runs the commands in fresh processes, and reports the median
wall time and the child's peak memory. In the same run it measures the floors: `python -c pass`,
`python -c "import sqlite3, argparse"`, a plain sqlite3 loop doing the same DDL with one
commit per migration, sqlite3 reading one number from the tool's database once it holds N
tables, and Python importing the N migration files and keeping them, as SPEC 3 has a run do
before its first migration. Ratios to those floors are what the targets are stated in, so the
figures carry over between machines better than seconds do. Each round runs the floor loop and
then the tool, from a new database, so that the disk's drifting commit latency weighs on both
alike. `verify --all` (up, down and up again of every migration on a scratch database, with a
schema snapshot after each step) is stated against the tool's own apply all plus roll back all,
at the sizes its target names (N up to 1,000 by default): a snapshot reads the whole catalog,
so verify grows as N squared, and at 10,000 one run takes the better part of an hour.
"""
from __future__ import annotations

import argparse
import compileall
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

SQLITE_LOOP = """
import sqlite3, sys
count, action, path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
connection = sqlite3.connect(path, isolation_level=None)
for version in (range(1, count + 1) if action == "up" else range(count, 0, -1)):
    connection.execute("BEGIN")
    if action == "up":
        connection.execute(f"CREATE TABLE t{version} (x INTEGER)")
    else:
        connection.execute(f"DROP TABLE t{version}")
    connection.execute("COMMIT")
connection.close()
"""


# What SPEC 3 alone costs: every migration of a plan is imported, and kept, before the first one
# runs. This is the least any tool that honours it can do: read, compile and execute each file
# into a module of its own, nothing else.
IMPORT_ALL = """
import os, sys, types
folder = sys.argv[1]
modules = []
for name in sorted(n for n in os.listdir(folder) if n.endswith(".py")):
    path = os.path.join(folder, name)
    with open(path, "rb") as handle:
        code = compile(handle.read(), path, "exec")
    module = types.ModuleType("migration_" + name[:-3])
    module.__file__ = path
    exec(code, module.__dict__)
    modules.append(module)
"""


SQLITE_READ = """
import sqlite3, argparse, sys
sqlite3.connect(sys.argv[1]).execute("SELECT MAX(version) FROM link_migration_history").fetchone()
"""


@dataclass
class Measure:
    seconds: list[float] = field(default_factory=list)
    peak_kib: list[int] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def peak_mib(self) -> float:
        return max(self.peak_kib) / 1024


REPO = Path(__file__).resolve().parent.parent
# Every child, floors included, imports link_migration from this checkout: no install needed,
# and an editable install's import hook does not weigh on the figures.
ENVIRONMENT = {**os.environ, "PYTHONPATH": str(REPO)}


# The child is started from this small launcher rather than from the benchmark itself: on
# Linux a process's peak-memory figure (ru_maxrss) starts from the memory of whoever started
# it, and the benchmark process is bigger than `python -c pass`, which would hide the first
# megabytes of every measure. The launcher is smaller than any child it measures.
LAUNCHER = """
import os, sys, time
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
        os.execv(sys.argv[1], sys.argv[1:])
    except BaseException as exc:
        print(f"cannot run {sys.argv[1]}: {exc}", file=sys.stderr)
    os._exit(127)
_, status, usage = os.wait4(pid, 0)
print(time.perf_counter() - started, usage.ru_maxrss, os.waitstatus_to_exitcode(status))
"""


def timed(argv: list[str], cwd: Path, measure: Measure, expect: int = 0) -> None:
    """Run ``argv`` once, adding its wall time and peak memory (max RSS) to ``measure``."""
    completed = subprocess.run(
        [sys.executable, "-I", "-S", "-c", LAUNCHER, *argv],
        cwd=cwd, env=ENVIRONMENT, capture_output=True, text=True,
    )
    try:
        elapsed, peak_kib, status = completed.stdout.split()
    except ValueError:
        raise SystemExit(f"bench: the launcher failed:\n{completed.stderr}") from None
    if int(status) != expect:
        raise SystemExit(f"bench: {' '.join(argv)} exited {status}:\n{completed.stderr}")
    measure.seconds.append(float(elapsed))
    measure.peak_kib.append(int(peak_kib))


def write_project(root: Path, count: int, store: str) -> None:
    """``store``: sqlite, file, or sql (the SQLite store, with .sql migrations doing the same
    DDL as the sqlite project's .py ones)."""
    root.mkdir(parents=True)
    conf = 'VERSION_FILE = "version.txt"\n' if store == "file" else 'DATABASE = "app.db"\n'
    (root / "conf.py").write_text('MIGRATIONS_DIR = "migrations"\n' + conf)
    folder = root / "migrations"
    folder.mkdir()
    for version in range(1, count + 1):
        if store == "sql":
            (folder / f"{version:05d}_create_t{version}.sql").write_text(
                f"-- Create table t{version}.\n-- migrate:up\nCREATE TABLE t{version} (x INTEGER);\n"
                f"-- migrate:down\nDROP TABLE t{version};\n")
            continue
        if store == "sqlite":
            body = (
                f"def up(context):\n    context.execute('CREATE TABLE t{version} (x INTEGER)')\n\n\n"
                f"def down(context):\n    context.execute('DROP TABLE t{version}')\n"
            )
        else:
            body = "def up(context):\n    pass\n\n\ndef down(context):\n    pass\n"
        (folder / f"{version:05d}_create_t{version}.py").write_text(
            f'"""Create table t{version}."""\n\nversion = {version}\n\n\n{body}'
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10,100,1000,5000,10000",
                        help="comma-separated numbers of migrations (default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measure (default: 3)")
    parser.add_argument("--stores", default="sqlite,file,sql",
                        help="among sqlite, file and sql (.sql migrations on SQLite); "
                             "default: %(default)s")
    parser.add_argument("--markdown", type=Path, help="also write the tables as Markdown here")
    parser.add_argument("--verify-up-to", type=int, default=1000,
                        help="measure verify --all up to this N only (default: %(default)s)")
    parser.add_argument(
        "--servers", action="store_true",
        help="also the parts on database servers: bench/network.py (PostgreSQL through a 2 ms "
             "proxy, MariaDB; N = 100, 1000) and bench/fleet.py (500 SQLite targets, 100 "
             "PostgreSQL databases); needs the servers and the test extra's drivers")
    args = parser.parse_args()
    # Byte-compile link_migration as pip does when it installs a package: the children then
    # load it the way an installed tool loads, even where PYTHONDONTWRITEBYTECODE is set.
    compileall.compile_dir(str(REPO / "link_migration"), quiet=1)
    sizes = [int(n) for n in args.sizes.split(",")]
    stores = args.stores.split(",")
    python = sys.executable
    tool = [python, "-m", "link_migration"]
    work = Path(tempfile.mkdtemp(prefix="link-migration-bench-"))
    rows: list[tuple[str, str, int, Measure, str, float]] = []
    floors: dict[str, Measure] = {}
    try:
        for name, argv in (
            ("python -c pass", [python, "-c", "pass"]),
            ("import sqlite3, argparse", [python, "-c", "import sqlite3, argparse"]),
        ):
            floors[name] = Measure()
            for _ in range(max(args.repeat, 5)):
                timed(argv, work, floors[name])
        start_floor = floors["import sqlite3, argparse"].median
        for label, argv in (("--help", tool + ["--help"]), ("--version", tool + ["--version"])):
            measure = Measure()
            for _ in range(max(args.repeat, 5)):
                timed(argv, work, measure)
            rows.append((label, "-", 0, measure, "import floor", measure.median / start_floor))
        for count in sizes:
            loop = {"up": Measure(), "down": Measure()}
            floors[f"sqlite3 loop up, N={count}"] = loop["up"]
            floors[f"sqlite3 loop down, N={count}"] = loop["down"]
            names = ("current (fresh)", "status (fresh)", "apply all", "up, nothing pending",
                     "status (all applied)", "current (all applied)", "roll back all (--to 0)",
                     "verify --all")
            measures = {store: {name: Measure() for name in names} for store in stores}
            # The migrations of the first store's project: the SQLite one, by default.
            floors[f"N migrations imported and kept, N={count}"] = imports = Measure()
            if "sqlite" in stores or "sql" in stores:
                # What any SQLite client pays to read one number from the tool's database once
                # it holds N tables: opening it parses the whole schema.
                floors[f"sqlite3 read of current, N={count}"] = read = Measure()
            for store in stores:
                write_project(work / f"{store}-{count}", count, store)
            # Each round measures the floor loop and then the tool, so that the disk's good and
            # bad minutes (its commit latency drifts) weigh on both sides alike.
            for repeat in range(args.repeat):
                database = work / f"loop-{count}-{repeat}.db"
                loop_script = [python, "-c", SQLITE_LOOP, str(count)]
                timed(loop_script + ["up", str(database)], work, loop["up"])
                timed(loop_script + ["down", str(database)], work, loop["down"])
                timed([python, "-c", IMPORT_ALL, str(work / f"{stores[0]}-{count}" / "migrations")],
                      work, imports)
                for store in stores:
                    root, measure = work / f"{store}-{count}", measures[store]
                    for store_file in ("app.db", "version.txt"):  # fresh, as the loop's is
                        (root / store_file).unlink(missing_ok=True)
                    timed(tool + ["current"], root, measure["current (fresh)"])
                    timed(tool + ["status"], root, measure["status (fresh)"])
                    timed(tool + ["-q"], root, measure["apply all"])
                    timed(tool + ["-q"], root, measure["up, nothing pending"])
                    timed(tool + ["status"], root, measure["status (all applied)"])
                    timed(tool + ["current"], root, measure["current (all applied)"])
                    if store in ("sqlite", "sql") and root == work / f"{stores[0]}-{count}" \
                            or store == "sqlite":
                        timed([python, "-c", SQLITE_READ, str(root / "app.db")], work, read)
                    timed(tool + ["-q", "--to", "0"], root, measure["roll back all (--to 0)"])
                    if store != "file" and count <= args.verify_up_to:  # a database (SPEC 10)
                        timed(tool + ["-q", "verify", "--all"], root, measure["verify --all"])
            for store in stores:
                for name, measure in measures[store].items():
                    if name == "apply all":
                        floor, ratio = "sqlite3 loop up", measure.median / loop["up"].median
                    elif name.startswith("roll back"):
                        floor, ratio = "sqlite3 loop down", measure.median / loop["down"].median
                    elif name == "verify --all":
                        if not measure.seconds:
                            continue
                        once = (measures[store]["apply all"].median
                                + measures[store]["roll back all (--to 0)"].median)
                        floor, ratio = "apply all + roll back all", measure.median / once
                    else:
                        floor, ratio = "import floor", measure.median / start_floor
                    rows.append((name, store, count, measure, floor, ratio))
                shutil.rmtree(work / f"{store}-{count}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report = render(rows, floors, args.repeat)
    if args.servers:
        import fleet
        import network

        report += "\n\n" + network.table([100, 1000], args.repeat, 0.002, mariadb=True)
        report += "\n\n" + fleet.table(500, 20, 100, args.repeat, 0.002)
    print(report)
    if args.markdown:
        args.markdown.write_text(report + "\n")
    return 0


def render(rows: list, floors: dict[str, Measure], repeat: int) -> str:
    machine = (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, SQLite {__import__('sqlite3').sqlite_version}"
    )
    base_peak = floors["python -c pass"].peak_mib
    lines = [
        f"Machine: {machine}. Times are medians of {repeat} rounds (of at least 5 for the start-up "
        "floors, --help and --version); peak memory is the highest of the rounds.",
        "",
        "| floor | median | peak memory |",
        "|---|---:|---:|",
    ]
    for name, measure in floors.items():
        lines.append(f"| {name} | {_seconds(measure.median)} | {measure.peak_mib:.1f} MiB |")
    lines += [
        "",
        "| command | store | N | median | median / N | peak memory (above `python -c pass`) | ratio | to |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, store, count, measure, floor, ratio in rows:
        per = _seconds(measure.median / count) if count else "-"
        lines.append(
            f"| {name} | {store} | {count or '-'} | {_seconds(measure.median)} | {per} | "
            f"{measure.peak_mib - base_peak:+.1f} MiB | {ratio:.2f}x | {floor} |"
        )
    return "\n".join(lines)


def _seconds(value: float) -> str:
    if value < 0.001:
        return f"{value * 1e6:.0f} µs"
    if value < 1:
        return f"{value * 1000:.1f} ms"
    return f"{value:.2f} s"


if __name__ == "__main__":
    raise SystemExit(main())
