#!/usr/bin/env python3
"""Uncached search latency at 100k products, on PostgreSQL and SQLite.

    STOREFRONT_BIN=<release binary> python3 scripts/search_bench.py
    STOREFRONT_BIN=... python3 scripts/search_bench.py --products 10000 --duration 5

For each database it seeds a fresh catalog (`storefront seed --categories 20
--products N --seed 7`, as scripts/bench.py does), starts the server with
the cache off (CACHE_ENABLED=false: every request is answered from the
database and rendered) and runs wrk at 8 connections over SEARCHES in turn
(each connection takes the next URL), then reports p50 and p99, and the
CPU time per request of the server and of PostgreSQL's processes. The same
URLs serve before and after a change to search, so two binaries compare.

Results go to stdout as a markdown table, and to
results/search-bench-<time>.json (git-ignored).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from shoplab import ROOT  # noqa: E402
from shoplab.proc import run, say  # noqa: E402
from shoplab.services import Server, build, preflight  # noqa: E402

# Shoppers' searches: plain words, plurals, several words, typos, nothing
# found, a later page; and the API's search beside them.
SEARCHES = [
    "/products?q=laptop&page=2",
    "/products?q=lamps",
    "/products?q=desk+lamp",
    "/products?q=leather+backpack",
    "/products?q=cast+iron+skillet",
    "/products?q=hedphones",
    "/products?q=laptp",
    "/products?q=xylophone",
    "/products?q=black&in_stock=1",
    "/api/products/?search=laptop&page=2",
]

CONNECTIONS = 8

LUA = """
local paths = {%s}
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i %% #paths) + 1])
end
"""


def wrk_figures(out: str) -> dict:
    """Requests/s, p50 and p99 (ms) and non-2xx answers from wrk --latency."""
    unit = {"us": 0.001, "ms": 1.0, "s": 1000.0}

    def latency(pct: str) -> float:
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if not m:
            raise SystemExit(f"no {pct}% latency in wrk's output:\n{out}")
        return float(m.group(1)) * unit[m.group(2)]

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(rps.group(1)) if rps else 0.0,
        "p50_ms": latency("50"),
        "p99_ms": latency("99"),
        "non_2xx_3xx": int(bad.group(1)) if bad else 0,
    }


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of one process so far; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def postgres_cpu_seconds() -> float:
    """CPU time of every PostgreSQL process on this machine so far (a
    backend that exits during the run takes its share with it; the
    server's pool keeps its connections open)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    total += cpu_seconds(int(entry.name))
            except OSError:
                pass
    return total


def seed(binary: Path, env: dict, products: int) -> None:
    run([str(binary), "migrate"], env=env)
    run([str(binary), "seed", "--categories", "20", "--products", str(products), "--seed", "7"], env=env)


def measure(binary: Path, env: dict, duration: int, script: Path) -> dict:
    server = Server(binary, env, cache=False)
    try:
        for path in SEARCHES:
            status = server.get(path)[0]
            if status != 200:
                raise SystemExit(f"GET {path} answered {status}")
        # Where the CPU goes, per request: the server's and PostgreSQL's
        # (zero for SQLite, which runs inside the server).
        server_cpu, postgres_cpu = cpu_seconds(server.proc.pid), postgres_cpu_seconds()
        out = run(["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{duration}s", "--latency", "--timeout", "5s",
                   "-s", str(script), f"http://127.0.0.1:{server.port}"])
        server_cpu, postgres_cpu = cpu_seconds(server.proc.pid) - server_cpu, postgres_cpu_seconds() - postgres_cpu
        figures = wrk_figures(out)
        requests = max(figures["rps"] * duration, 1.0)
        figures["server_cpu_ms"] = server_cpu * 1000 / requests
        figures["postgres_cpu_ms"] = postgres_cpu * 1000 / requests
        return figures
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--duration", type=int, default=15, help="seconds of wrk per database")
    parser.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432"))
    parser.add_argument("--only", choices=["postgres", "sqlite"])
    args = parser.parse_args()
    preflight(args.pg_url)
    binary = build()
    base = dict(os.environ, RUST_LOG="warn", STOREFRONT_PASSWORD="bench-password-1234")
    results = {"products": args.products, "connections": CONNECTIONS, "searches": SEARCHES, "runs": {}}

    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "searches.lua"
        script.write_text(LUA % ", ".join(json.dumps(p) for p in SEARCHES))
        if args.only in (None, "postgres"):
            name = f"storefront_search_bench_{args.products}"
            psql = ["psql", "-X", "-q", "-d", args.pg_url.rstrip("/") + "/postgres", "-c"]
            run(psql + [f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"])
            run(psql + [f"CREATE DATABASE {name}"])
            env = dict(base, DATABASE_URL=f"{args.pg_url.rstrip('/')}/{name}")
            say(f"postgres: seeding {args.products} products")
            seed(binary, env, args.products)
            say("postgres: measuring")
            results["runs"]["postgres"] = measure(binary, env, args.duration, script)
            run(psql + [f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"])
        if args.only in (None, "sqlite"):
            env = dict(base, DATABASE_URL=f"sqlite://{tmp}/shop.db?mode=rwc")
            say(f"sqlite: seeding {args.products} products")
            seed(binary, env, args.products)
            say("sqlite: measuring")
            results["runs"]["sqlite"] = measure(binary, env, args.duration, script)

    print(f"\n{args.products} products, cache off, wrk {CONNECTIONS} connections over {len(SEARCHES)} searches\n")
    print("| database | requests/s | p50 ms | p99 ms | non-2xx | server CPU ms/req | PostgreSQL CPU ms/req |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for db, f in results["runs"].items():
        print(f"| {db} | {f['rps']:.0f} | {f['p50_ms']:.2f} | {f['p99_ms']:.2f} | {f['non_2xx_3xx']} "
              f"| {f['server_cpu_ms']:.2f} | {f['postgres_cpu_ms']:.2f} |")
    out_dir = ROOT / "results"
    out_dir.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    (out_dir / f"search-bench-{stamp}.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
