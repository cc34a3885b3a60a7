"""Benchmarks on database servers (issue 17): what a network round trip costs each command.

    .venv/bin/python bench/network.py                    # PostgreSQL through a 2 ms proxy
    .venv/bin/python bench/network.py --sizes 100,1000 --delay 2 --mariadb

It starts its own throwaway servers, as the suite does (tests/servers.py), and needs the test
extra's drivers (psycopg, PyMySQL). PostgreSQL is reached through latency_proxy.py, which holds
each chunk ``--delay`` ms each way and counts round trips; MariaDB directly. Measured in the
same run, each a fresh process:

- apply and roll back N migrations (each one CREATE TABLE / DROP TABLE, as .sql files), against
  a plain driver loop doing the same statements with one commit per migration, as a careful
  hand-written script does (BEGIN, the statement, COMMIT);
- status, current, check and a nothing-to-do run with N applied, against the floor of
  `python -c "import psycopg; psycopg.connect(...)"`;
- the round trips of each, per migration where it grows with N.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from latency_proxy import LatencyProxy  # noqa: E402
from run import REPO, Measure, timed  # noqa: E402

sys.path.insert(0, str(REPO / "tests"))
import servers  # noqa: E402  (the suite's throwaway servers)

LOOP = """
import sys
count, action = int(sys.argv[1]), sys.argv[2]
{connect}
connection = get_connection()
cursor = connection.cursor()
for version in (range(1, count + 1) if action == "up" else range(count, 0, -1)):
    cursor.execute(f"CREATE TABLE t{{version}} (x INTEGER)" if action == "up"
                   else f"DROP TABLE t{{version}}")
    connection.commit()
connection.close()
"""


def write_project(root: Path, count: int, connect: str) -> None:
    (root / "migrations").mkdir(parents=True)
    (root / "conf.py").write_text('MIGRATIONS_DIR = "migrations"\n' + connect)
    for version in range(1, count + 1):
        (root / "migrations" / f"{version:05d}_t{version}.sql").write_text(
            f"-- migrate:up\nCREATE TABLE t{version} (x INTEGER);\n"
            f"-- migrate:down\nDROP TABLE t{version};\n")


def measure(kind: str, sizes: list[int], repeat: int, delay: float) -> list[str]:
    driver = "psycopg" if kind == "postgresql" else "pymysql"
    server = servers.start(kind)
    proxy = LatencyProxy(server.host, server.port, delay).start() if delay else None
    rows: list[str] = []
    created = []
    work = Path(tempfile.mkdtemp(prefix="link-migration-network-bench-"))
    try:
        python = sys.executable
        tool = [python, "-m", "link_migration"]
        for count in sizes:
            database = servers.create_database(server, driver)
            created.append(database)
            connect = database.connect_code
            if proxy is not None:
                connect = connect.replace(f"port={server.port!r}", f"port={proxy.port!r}")
            root = work / f"{kind}-{count}"
            write_project(root, count, connect)
            floor_connect = Measure()
            loop = {"up": Measure(), "down": Measure()}
            names = ("apply all", "up, nothing pending", "status", "current", "check",
                     "roll back all (--to 0)")
            tool_measures = {name: Measure() for name in names}
            trips: dict[str, int] = {}

            def run(name: str, argv: list[str], into: Measure, expect: int = 0) -> None:
                if proxy is not None:
                    proxy.reset()
                timed(argv, root, into, expect)
                if proxy is not None:
                    trips[name] = proxy.reset()

            for _ in range(repeat):
                run("import and connect", [python, "-c", connect + "get_connection().close()"],
                    floor_connect)
                run("loop up", [python, "-c", LOOP.format(connect=connect), str(count), "up"],
                    loop["up"])
                run("loop down", [python, "-c", LOOP.format(connect=connect), str(count),
                                  "down"], loop["down"])
                run("apply all", tool + ["-q"], tool_measures["apply all"])
                run("up, nothing pending", tool + ["-q"], tool_measures["up, nothing pending"])
                run("status", tool + ["status"], tool_measures["status"])
                run("current", tool + ["current"], tool_measures["current"])
                run("check", tool + ["check"], tool_measures["check"])
                run("roll back all (--to 0)", tool + ["-q", "--to", "0"],
                    tool_measures["roll back all (--to 0)"])
            where = f"{kind}" + (f" through a {delay * 1000:g} ms proxy" if proxy else "")
            rows.append(f"| floor: import and connect | {where} | {count} | "
                        f"{_ms(floor_connect.median)} | | {trips.get('import and connect', '-')} |")
            rows.append(f"| floor: driver loop up | {where} | {count} | {_ms(loop['up'].median)} "
                        f"| | {_per(trips.get('loop up'), count)} |")
            rows.append(f"| floor: driver loop down | {where} | {count} | "
                        f"{_ms(loop['down'].median)} | | {_per(trips.get('loop down'), count)} |")
            for name, value in tool_measures.items():
                if name == "apply all":
                    ratio, per = value.median / loop["up"].median, _per(trips.get(name), count)
                elif name.startswith("roll back"):
                    ratio, per = value.median / loop["down"].median, _per(trips.get(name), count)
                else:
                    ratio, per = value.median / floor_connect.median, trips.get(name, "-")
                rows.append(f"| {name} | {where} | {count} | {_ms(value.median)} | "
                            f"{ratio:.2f}x | {per} |")
    finally:
        if proxy is not None:
            proxy.stop()
        for database in created:
            servers.drop_database(database, server)
        server.stop()
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    return rows


def _per(trips: int | None, count: int) -> str:
    return "-" if trips is None else f"{trips} ({trips / count:.1f} per migration)"


def _ms(value: float) -> str:
    return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"


def table(sizes: list[int], repeat: int, delay: float, mariadb: bool) -> str:
    """The whole network table, as Markdown (``delay`` in seconds)."""
    import os
    import platform

    rows = measure("postgresql", sizes, repeat, delay)
    if mariadb:
        rows += measure("mariadb", sizes, repeat, 0.0)
    return "\n".join([
        f"Machine: {platform.system()} {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}. Medians of {repeat} rounds; the ratio is to the "
        "driver loop (apply, roll back) or to import and connect (the rest).",
        "",
        "| command | database | N | median | ratio | round trips |",
        "|---|---|---:|---:|---:|---:|",
        *rows,
    ])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100,1000", help="numbers of migrations (100,1000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measure (3)")
    parser.add_argument("--delay", type=float, default=2.0,
                        help="milliseconds the proxy adds each way to PostgreSQL (2; 0: none)")
    parser.add_argument("--mariadb", action="store_true", help="also MariaDB, without a proxy")
    args = parser.parse_args()
    import compileall

    compileall.compile_dir(str(REPO / "link_migration"), quiet=1)
    print(table([int(n) for n in args.sizes.split(",")], args.repeat, args.delay / 1000,
                args.mariadb))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
