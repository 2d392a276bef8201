#!/usr/bin/env python3
"""Load benchmark for storefront, on PostgreSQL and Redis, with wrk.

    python3 scripts/bench.py                    # 10k and 100k products
    python3 scripts/bench.py --smoke            # CI: 1k products, 2 s per run
    python3 scripts/bench.py --varnish          # only Varnish against the apps

For each catalog size it seeds a fresh PostgreSQL database, starts the
release server against its own Redis (started here on a free port, so the
Redis figures are the server's alone) and measures, at 8 and 32 connections:
the ceiling route (same middleware, constant body, no Redis, no database),
cache hits, 304 revalidations, signed-in cache hits of the pages (at 32
connections: the same fragments, plus the user row read per request and
the layout rendered for the user), cache hits without the in-process layer
(one Redis round trip each) and, with CACHE_ENABLED=false, the database and
render path. Then the cost of one product update's invalidation with
few and many cached entries, a cold key under 200 concurrent requests, the
time from process start to the first 200, and the server's RSS.

With --varnish (and, at 32 connections only, with --smoke) two instances
run behind a Varnish of the script's own, with the project's VCL
(scripts/shoplab/varnish.py): the same anonymous URLs are measured as
Varnish hits and directly against the two instances (one wrk per instance
at once, half the connections each), side by side. A Varnish run counts
only if the URL answers `X-Varnish-Cache: HIT` before it and Varnish
fetched nothing from the apps during it; its speed is reported, not
checked.

Every figure is also given as a ratio against the ceiling of the same run,
because the machine is shared and noisy. The targets are checked at the end;
a missed target makes the exit status 1 (with --smoke, only the targets that
do not depend on speed: exactness of the cache, not its throughput).

Results: results/bench-<time>.json and .md (git-ignored), and the markdown
table on stdout.

STOREFRONT_BIN=<path to a storefront binary> skips the cargo build and uses
that binary (for a machine where the release build is made elsewhere, or is
being changed while the benchmark runs); a relative path is taken from the
directory the script was started in.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

from shoplab import ROOT, varnish
from shoplab.proc import fail, run, say
from shoplab.services import Redis, Server, build, http_request, preflight, prepare_database

# The URLs the issue names; {slug} is a product found by the search.
HIT_URLS = [
    "/products?q=laptop&page=2",
    "/categories",
    "/products/{slug}",
    "/api/products/?search=laptop&page=2",
    "/api/categories/",
    "/api/products/?category__id=1&ordering=price",
]
SEARCH_URLS = ["/products?q=laptop&page=2", "/api/products/?search=laptop&page=2"]
# 304s: one page and one API body.
REVALIDATE_URLS = ["/products?q=laptop&page=2", "/api/products/?search=laptop&page=2"]
COLD_URL = "/api/products/?search=lamp&ordering=-price&page_size=17"
COLD_CONCURRENCY = 200
UPDATES = 60
# Instances behind Varnish in the edge comparison.
EDGE_INSTANCES = 2

TARGETS = {
    "hit_vs_ceiling_32": 0.50,  # hits reach half the ceiling's requests/s at 32 connections
    "hit_p99_ms_32": 5.0,
    "hit_vs_bypass_search": 20.0,
    "bypass_search_p50_ms_8": 20.0,  # on 100k products
    "bypass_search_p99_ms_8": 60.0,
    "invalidation_growth": 1.2,
    "cold_fills": 1,
    "rss_mb": 150.0,
    "ready_s": 1.0,
}


# --------------------------------------------------------------------- wrk


def wrk_command(port: int, path: str, connections: int, duration: int, headers: dict | None = None,
                threads: int = 2) -> list[str]:
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "5s"]
    for k, v in (headers or {}).items():
        cmd += ["-H", f"{k}: {v}"]
    return cmd + [f"http://127.0.0.1:{port}{path}"]


def wrk(port: int, path: str, connections: int, duration: int, headers: dict | None = None) -> dict:
    return wrk_figures(run(wrk_command(port, path, connections, duration, headers)))


def wrk_spread(ports: list[int], path: str, connections: int, duration: int) -> dict:
    """One wrk per port at the same time, each with one thread and its share
    of the connections: requests/s and errors are summed, p50 is the mean
    and p99 the highest of the runs (percentiles of separate runs do not
    combine exactly; the highest is an upper bound)."""
    share = max(1, connections // len(ports))
    procs = [subprocess.Popen(wrk_command(port, path, share, duration, threads=1), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for port in ports]
    figures = []
    for proc in procs:
        out, err = proc.communicate()
        if proc.returncode != 0:
            fail(f"wrk failed ({proc.returncode}): {err.strip()[-500:]}")
        figures.append(wrk_figures(out))
    return {
        "rps": sum(f["rps"] for f in figures),
        "requests": sum(f["requests"] for f in figures),
        "p50_ms": statistics.mean(f["p50_ms"] for f in figures),
        "p99_ms": max(f["p99_ms"] for f in figures),
        "non_2xx_3xx": sum(f["non_2xx_3xx"] for f in figures),
        "socket_errors": sum(f["socket_errors"] for f in figures),
    }


def wrk_figures(out: str) -> dict:
    """Requests/s, p50 and p99 (ms) and the errors from wrk's output."""
    unit = {"us": 0.001, "ms": 1.0, "s": 1000.0}

    def latency(pct: str) -> float:
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if not m:
            fail(f"no {pct}% latency in wrk's output:\n{out}")
        return float(m.group(1)) * unit[m.group(2)]

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    done = re.search(r"(\d+) requests in", out)
    return {
        "rps": float(rps.group(1)) if rps else 0.0,
        "requests": int(done.group(1)) if done else 0,
        "p50_ms": latency("50"),
        "p99_ms": latency("99"),
        "non_2xx_3xx": int(bad.group(1)) if bad else 0,
        "socket_errors": sum(int(g) for g in errors.groups()) if errors else 0,
    }


# ------------------------------------------------------ async HTTP for bulk


async def _read_response(reader: asyncio.StreamReader) -> int:
    status = int((await reader.readline()).split()[1])
    length, chunked = 0, False
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        if name.lower() == "content-length":
            length = int(value)
        elif name.lower() == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
    if chunked:
        while (size := int((await reader.readline()).strip(), 16)) > 0:
            await reader.readexactly(size + 2)
        await reader.readline()
    else:
        await reader.readexactly(length)
    return status


async def _fetch_all(port: int, paths: list[str], connections: int) -> dict[int, int]:
    """GETs every path over `connections` keep-alive connections."""
    statuses: dict[int, int] = {}
    queue = iter(paths)

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for path in queue:
            writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
            status = await _read_response(reader)
            statuses[status] = statuses.get(status, 0) + 1
        writer.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    return statuses


async def _burst(port: int, path: str, n: int) -> dict[int, int]:
    """Opens n connections first, then sends one request on each at once."""
    conns = [await asyncio.open_connection("127.0.0.1", port) for _ in range(n)]
    request = f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
    for _, writer in conns:
        writer.write(request)
    await asyncio.gather(*(writer.drain() for _, writer in conns))
    statuses: dict[int, int] = {}
    for status in await asyncio.gather(*(_read_response(reader) for reader, _ in conns)):
        statuses[status] = statuses.get(status, 0) + 1
    for _, writer in conns:
        writer.close()
    return statuses


# --------------------------------------------------------------- one size


def bench_size(binary: Path, pg_url: str, size: int, args: argparse.Namespace) -> dict:
    say(f"{size} products: seeding a fresh database")
    env, seed_s, token = prepare_database(binary, pg_url, size)
    redis = Redis()
    env = dict(env, REDIS_URL=redis.url, CACHE_KEY_PREFIX="bench", STOREFRONT_BENCH_ROUTES="true")
    result: dict = {"products": size, "seed_s": round(seed_s, 2), "runs": []}
    try:
        server = Server(binary, env, cache=True)
        result["ready_s"] = round(server.ready_s, 3)
        status, _, body = server.get("/api/products/?search=laptop")
        slug = json.loads(body)["results"][0]["slug"]
        urls = [u.replace("{slug}", slug) for u in HIT_URLS]

        sizes, etags = {}, {}
        for url in urls:
            server.get(url)
            status, headers, body = server.get(url)
            if status != 200 or headers.get("x-cache") != "HIT":
                fail(f"{url} answered {status} {headers.get('x-cache')} on its second request, not a cache hit")
            sizes[url], etags[url] = len(body), headers["etag"]
        ceiling_bytes = int(statistics.median(sizes.values()))
        ceiling = f"/__bench/ceiling?bytes={ceiling_bytes}"
        result["body_bytes"] = sizes

        def record(kind: str, url: str, c: int, figures: dict) -> None:
            figures.update(kind=kind, url=url, connections=c)
            result["runs"].append(figures)
            say(f"  {kind:9} c={c:<3} {figures['rps']:>9.0f} req/s  p50 {figures['p50_ms']:.2f} ms  "
                f"p99 {figures['p99_ms']:.2f} ms  {url}")

        # One unrecorded second per URL first: steady state, not warm-up.
        for url in [ceiling, *urls]:
            wrk(server.port, url, 8, 1)
        for c in args.connections:
            # The ceiling before and after the group: the machine drifts.
            record("ceiling", ceiling, c, wrk(server.port, ceiling, c, args.duration))
            for url in urls:
                record("hit", url, c, wrk(server.port, url, c, args.duration))
            for url in REVALIDATE_URLS:
                record("304", url, c, wrk(server.port, url, c, args.duration, {"If-None-Match": etags[url]}))
            record("ceiling", ceiling, c, wrk(server.port, ceiling, c, args.duration))

        # Signed-in hits: the same cached fragments, plus the user row that
        # decides who the visitor is (a primary-key read per request) and
        # the layout rendered for them. Pages only: the API has no sessions.
        cookie = {"Cookie": sign_in(server, "bench@example.com", "bench-password-1234")}
        for url in [u for u in urls if not u.startswith("/api/")]:
            status, headers, body = server.get(url, cookie)
            if status != 200 or headers.get("x-cache") != "HIT" or b"bench@example.com" not in body:
                fail(f"{url} signed in answered {status} {headers.get('x-cache')}, not the user's page from a hit")
            wrk(server.port, url, 8, 1, cookie)
            record("hit-signed-in", url, 32, wrk(server.port, url, 32, args.duration, cookie))

        # A cold key under a burst: how many fills and SQL statements.
        queries, fills = server.metric("storefront_db_queries_total"), server.metric("storefront_cache_fill_seconds_count")
        statuses = asyncio.run(_burst(server.port, COLD_URL, COLD_CONCURRENCY))
        result["cold"] = {
            "url": COLD_URL,
            "requests": COLD_CONCURRENCY,
            "statuses": statuses,
            "fills": int(server.metric("storefront_cache_fill_seconds_count") - fills),
            "queries": int(server.metric("storefront_db_queries_total") - queries),
        }
        say(f"  cold key: {result['cold']}")

        result["invalidation"] = measure_invalidation(server, redis, token, size)
        result["rss_mb"] = round(server.rss_mb(), 1)
        server.stop()

        say("  hits without the in-process layer (CACHE_LOCAL_MAX_MB=0): one Redis round trip each")
        remote = Server(binary, env, cache=True, local=False)
        for url in urls:
            remote.get(url)
            wrk(remote.port, url, 8, 1)
        # At the targets' connection count only, to keep the run short.
        record("ceiling", ceiling, 32, wrk(remote.port, ceiling, 32, args.duration))
        for url in urls:
            record("hit-redis", url, 32, wrk(remote.port, url, 32, args.duration))
        remote.stop()

        say("  cache bypassed (CACHE_ENABLED=false)")
        bypass = Server(binary, env, cache=False)
        for url in urls:
            wrk(bypass.port, url, 8, 1)
        for c in args.connections:
            for url in urls:
                record("bypass", url, c, wrk(bypass.port, url, c, args.duration))
        bypass.stop()
    finally:
        redis.stop()
    return result


def sign_in(server: Server, email: str, password: str) -> str:
    """Signs in through the login form; returns the session cookie to send."""
    status, _, body = server.get("/login")
    csrf = re.search(rb'name="csrf" value="([^"]+)"', body)
    if status != 200 or not csrf:
        fail(f"the login form answered {status} without a token")
    form = urllib.parse.urlencode({"email": email, "password": password, "csrf": csrf.group(1).decode()})
    status, headers, _ = server.get("/login", {"Content-Type": "application/x-www-form-urlencoded"}, "POST", form)
    cookie = headers.get("set-cookie", "").split(";")[0]
    if status != 303 or not cookie.startswith("storefront_session="):
        fail(f"signing in answered {status} {cookie!r}")
    return cookie


def measure_invalidation(server: Server, redis: Redis, token: str, size: int) -> dict:
    """Times product updates (API PATCH) with few, then many, cached entries."""
    few, many = (1000, min(size, 100_000)) if size >= 10_000 else (size // 10, size)
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    figures = {}
    filled = 0
    for entries in (few, many):
        paths = [f"/api/products/{i}/" for i in range(filled + 1, entries + 1)]
        started = time.monotonic()
        statuses = asyncio.run(_fetch_all(server.port, paths, 16))
        # Inactive products answer 404 and are not cached.
        if set(statuses) - {200, 404}:
            fail(f"filling the cache with product details answered {statuses}")
        filled = entries
        fill_s = time.monotonic() - started
        keys = int(redis.cli("DBSIZE"))
        times, commands = [], []
        for n in range(UPDATES):
            before = redis.commands()
            t0 = time.perf_counter()
            status, _, body = server.get(f"/api/products/{size // 2}/", auth, "PATCH",
                                         json.dumps({"price": f"{100 + n % 7}.{n % 100:02}"}))
            times.append((time.perf_counter() - t0) * 1000)
            if status != 200:
                fail(f"PATCH answered {status}: {body[:200]!r}")
            commands.append(redis.commands() - before)
        figures[str(entries)] = {
            "entries_filled": entries,
            "redis_keys": keys,
            "fill_s": round(fill_s, 2),
            "update_p50_ms": round(statistics.median(times), 3),
            "redis_commands_per_update": statistics.median(commands),
        }
        say(f"  invalidation with {keys} keys in Redis: {figures[str(entries)]}")
    small, large = figures[str(few)], figures[str(many)]
    figures["growth"] = round(large["update_p50_ms"] / small["update_p50_ms"], 3)
    figures["command_growth"] = large["redis_commands_per_update"] - small["redis_commands_per_update"]
    return figures


def bench_edge(binary: Path, pg_url: str, size: int, args: argparse.Namespace, connections: list[int]) -> dict:
    """The anonymous URLs through Varnish (hits) and directly against the
    instances behind it (their own cache hits), run after run."""
    say(f"Varnish in front of {EDGE_INSTANCES} instances, {size} products: seeding a fresh database")
    env, _, _ = prepare_database(binary, pg_url, size, name=f"storefront_bench_edge_{size}")
    redis = Redis()
    env = dict(env, REDIS_URL=redis.url, CACHE_KEY_PREFIX="bench")
    edge = varnish.Varnish()
    servers: list[Server] = []
    result: dict = {"products": size, "instances": EDGE_INSTANCES, "runs": []}
    try:
        servers = [Server(binary, env, cache=True) for _ in range(EDGE_INSTANCES)]
        ports = [s.port for s in servers]
        edge.start(ports)
        status, _, body = servers[0].get("/api/products/?search=laptop")
        slug = json.loads(body)["results"][0]["slug"]
        urls = [u.replace("{slug}", slug) for u in HIT_URLS]

        def edge_hit(url: str) -> None:
            status, headers, _ = http_request(edge.port, url)
            if status != 200 or headers.get("x-varnish-cache") != "HIT":
                fail(f"{url} through Varnish answered {status} {headers.get('x-varnish-cache')}, not a Varnish hit")

        for url in urls:
            for server in servers:
                server.get(url)
                status, headers, _ = server.get(url)
                if status != 200 or headers.get("x-cache") != "HIT":
                    fail(f"{url} answered {status} {headers.get('x-cache')} on its second request, not a cache hit")
            http_request(edge.port, url)
            edge_hit(url)
            # One unrecorded second each way first: steady state, not warm-up.
            wrk(edge.port, url, 8, 1)
            wrk_spread(ports, url, 8, 1)

        for c in connections:
            for url in urls:
                edge_hit(url)
                before = edge.counters()
                through = wrk(edge.port, url, c, args.duration)
                after = edge.counters()
                # Every request of the run answered from Varnish's cache:
                # nothing fetched from the apps, nothing passed.
                through.update(kind="varnish", url=url, connections=c,
                               fetches=after["backend_req"] - before["backend_req"],
                               varnish_hits=after["cache_hit"] - before["cache_hit"])
                direct = wrk_spread(ports, url, c, args.duration)
                direct.update(kind="direct", url=url, connections=c)
                result["runs"] += [through, direct]
                say(f"  c={c:<3} Varnish {through['rps']:>9.0f} req/s  p50 {through['p50_ms']:.2f} ms  "
                    f"p99 {through['p99_ms']:.2f} ms ({through['fetches']} fetches) | direct "
                    f"{direct['rps']:>9.0f} req/s  p50 {direct['p50_ms']:.2f} ms  p99 {direct['p99_ms']:.2f} ms  {url}")
    finally:
        for server in servers:
            server.stop()
        edge.stop()
        redis.stop()
    return result


# ------------------------------------------------------------------ report


def ceiling_rps(runs: list[dict], connections: int) -> float:
    """The mean of the ceiling runs at this connection count."""
    return statistics.mean(x["rps"] for x in runs if x["kind"] == "ceiling" and x["connections"] == connections)


def check_targets(results: list[dict], edge: dict | None, smoke: bool) -> list[dict]:
    checks = []

    def check(name: str, value: float, limit: float, ok: bool, speed: bool, products: int) -> None:
        checks.append({"target": name, "products": products, "value": round(value, 3), "limit": limit,
                       "ok": ok, "enforced": not (smoke and speed)})

    for r in results:
        n = r["products"]
        runs = r["runs"]
        by = {(x["kind"], x["url"], x["connections"]): x for x in runs}
        ceil32 = ceiling_rps(runs, 32)
        for x in runs:
            if x["kind"] == "hit" and x["connections"] == 32:
                ratio = x["rps"] / ceil32
                check(f"hit/ceiling req/s at 32, {x['url']}", ratio, TARGETS["hit_vs_ceiling_32"],
                      ratio >= TARGETS["hit_vs_ceiling_32"], True, n)
                check(f"hit p99 ms at 32, {x['url']}", x["p99_ms"], TARGETS["hit_p99_ms_32"],
                      x["p99_ms"] <= TARGETS["hit_p99_ms_32"], True, n)
        for x in runs:
            if x["kind"] == "hit" and x["connections"] == 32 and any(x["url"] == u for u in SEARCH_URLS):
                b = by[("bypass", x["url"], 32)]
                ratio = x["rps"] / b["rps"]
                check(f"hit/bypass req/s at 32, {x['url']}", ratio, TARGETS["hit_vs_bypass_search"],
                      ratio >= TARGETS["hit_vs_bypass_search"], True, n)
        if n >= 100_000:
            for u in SEARCH_URLS:
                b = by[("bypass", u, 8)]
                check(f"bypass p50 ms at 8, {u}", b["p50_ms"], TARGETS["bypass_search_p50_ms_8"],
                      b["p50_ms"] <= TARGETS["bypass_search_p50_ms_8"], True, n)
                check(f"bypass p99 ms at 8, {u}", b["p99_ms"], TARGETS["bypass_search_p99_ms_8"],
                      b["p99_ms"] <= TARGETS["bypass_search_p99_ms_8"], True, n)
            check("RSS MB after the run", r["rss_mb"], TARGETS["rss_mb"], r["rss_mb"] <= TARGETS["rss_mb"], True, n)
        inv = r["invalidation"]
        check("invalidation time, many/few entries", inv["growth"], TARGETS["invalidation_growth"],
              inv["growth"] <= TARGETS["invalidation_growth"], True, n)
        check("Redis commands per update, many minus few entries", inv["command_growth"], 0,
              inv["command_growth"] == 0, False, n)
        cold = r["cold"]
        check("fills for 200 requests on a cold key", cold["fills"], TARGETS["cold_fills"],
              cold["fills"] == TARGETS["cold_fills"] and set(cold["statuses"]) == {200}, False, n)
        check("seconds from start to first 200", r["ready_s"], TARGETS["ready_s"], r["ready_s"] <= TARGETS["ready_s"],
              True, n)
        for x in runs:
            if x["non_2xx_3xx"] or x["socket_errors"]:
                check(f"errors under load, {x['kind']} {x['url']} c={x['connections']}",
                      x["non_2xx_3xx"] + x["socket_errors"], 0, False, False, n)
    if edge:
        n = edge["products"]
        for x in edge["runs"]:
            if x["kind"] == "varnish":
                # Varnish counts a hit for every request wrk completed (and
                # for any it cut off at the end), and fetched nothing.
                check(f"fetches from the apps during Varnish hits, {x['url']} c={x['connections']}", x["fetches"], 0,
                      x["fetches"] == 0 and x["varnish_hits"] >= x["requests"] > 0, False, n)
            if x["non_2xx_3xx"] or x["socket_errors"]:
                check(f"errors under load, {x['kind']} {x['url']} c={x['connections']}",
                      x["non_2xx_3xx"] + x["socket_errors"], 0, False, False, n)
    return checks


def markdown(report: dict) -> str:
    lines = [f"# storefront benchmark, {report['started']}", "",
             f"Machine: {report['machine']}. Command: `{report['command']}`. "
             f"wrk, 2 threads, {report['duration_s']} s per run (after 1 s unrecorded per URL), on the same "
             "machine." + (" \"vs ceiling\": requests/s over the mean of the ceiling runs at that connection count."
                           if report["results"] else ""), ""]
    for r in report["results"]:
        ceil = {c: ceiling_rps(r["runs"], c) for c in {x["connections"] for x in r["runs"]}}
        lines += [f"## {r['products']:,} products", "",
                  f"Seeded in {r['seed_s']} s; first 200 {r['ready_s']} s after start; "
                  f"RSS {r['rss_mb']} MB after the run.", "",
                  "| kind | URL | conns | req/s | vs ceiling | p50 ms | p99 ms |",
                  "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
        for x in r["runs"]:
            lines.append(f"| {x['kind']} | `{x['url']}` | {x['connections']} | {x['rps']:,.0f} | "
                         f"{x['rps'] / ceil[x['connections']]:.2f} | {x['p50_ms']:.2f} | {x['p99_ms']:.2f} |")
        inv, cold = r["invalidation"], r["cold"]
        lines += ["", "| cached entries | Redis keys | update p50 ms | Redis commands per update |",
                  "| ---: | ---: | ---: | ---: |"]
        for k, v in inv.items():
            if isinstance(v, dict):
                lines.append(f"| {v['entries_filled']:,} | {v['redis_keys']:,} | {v['update_p50_ms']} | "
                             f"{v['redis_commands_per_update']} |")
        lines += ["", f"Cold key `{cold['url']}`, {cold['requests']} concurrent requests: statuses "
                      f"{cold['statuses']}, {cold['fills']} fill(s), {cold['queries']} SQL statement(s).", ""]
    if edge := report.get("edge"):
        lines += [f"## Varnish in front of {edge['instances']} instances, {edge['products']:,} products", "",
                  "The same URLs through Varnish (one wrk, 2 threads; every request a Varnish hit: Varnish "
                  "fetched nothing from the apps during the run) and directly (one wrk per instance at the same "
                  "time, 1 thread and half the connections each: req/s summed, p50 the mean and p99 the highest "
                  "of the two). On one machine, Varnish, the apps and wrk share the cores.", "",
                  "| URL | conns | Varnish req/s | direct req/s | Varnish/direct | Varnish p50 ms | direct p50 ms "
                  "| Varnish p99 ms | direct p99 ms |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        by = {(x["kind"], x["url"], x["connections"]): x for x in edge["runs"]}
        for x in edge["runs"]:
            if x["kind"] != "varnish":
                continue
            d = by[("direct", x["url"], x["connections"])]
            ratio = x["rps"] / d["rps"] if d["rps"] else float("nan")
            lines.append(f"| `{x['url']}` | {x['connections']} | {x['rps']:,.0f} | {d['rps']:,.0f} | {ratio:.2f} | "
                         f"{x['p50_ms']:.2f} | {d['p50_ms']:.2f} | {x['p99_ms']:.2f} | {d['p99_ms']:.2f} |")
        lines.append("")
    lines += ["## Targets", "", "| products | target | value | limit | met |", "| ---: | --- | ---: | ---: | --- |"]
    for c in report["targets"]:
        met = "yes" if c["ok"] else ("**no**" if c["enforced"] else "no (not enforced in smoke)")
        lines.append(f"| {c['products']:,} | {c['target']} | {c['value']} | {c['limit']} | {met} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000", help="catalog sizes, comma-separated")
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--connections", default="8,32")
    parser.add_argument("--smoke", action="store_true",
                        help="CI: 1k products, 2 s runs, exactness targets only; Varnish at 32 connections")
    parser.add_argument("--varnish", action="store_true",
                        help="only Varnish in front of two instances against the instances directly "
                             "(on the first catalog size)")
    parser.add_argument("--postgres", default=os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432"))
    args = parser.parse_args()
    if args.smoke:
        args.sizes, args.duration = "1000", 2
    try:
        sizes = [int(s) for s in args.sizes.split(",")]
        args.connections = [int(c) for c in args.connections.split(",")]
    except ValueError:
        fail("--sizes and --connections take comma-separated whole numbers")
    if 32 not in args.connections:
        fail("--connections must include 32: the targets are set at 32 connections")

    os.chdir(ROOT)
    preflight(args.postgres)
    if args.varnish or args.smoke:
        varnish.preflight()
    binary = build()
    started = dt.datetime.now(dt.timezone.utc)
    results = [] if args.varnish else [bench_size(binary, args.postgres, n, args) for n in sizes]
    edge = None
    if args.varnish or args.smoke:
        edge = bench_edge(binary, args.postgres, sizes[0], args, [32] if args.smoke else args.connections)
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    report = {
        "started": started.strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} cores, {cpu}, {platform.system()} {platform.release()}",
        "command": "python3 scripts/bench.py " + " ".join(sys.argv[1:]),
        "duration_s": args.duration,
        "results": results,
        "edge": edge,
    }
    report["targets"] = check_targets(results, edge, args.smoke)
    out = ROOT / "results"
    out.mkdir(exist_ok=True)
    stem = out / f"bench-{started.strftime('%Y%m%d-%H%M%S')}"
    stem.with_suffix(".json").write_text(json.dumps(report, indent=2))
    text = markdown(report)
    stem.with_suffix(".md").write_text(text)
    print(text)
    missed = [c for c in report["targets"] if c["enforced"] and not c["ok"]]
    say(f"results in {stem.relative_to(ROOT)}.json and .md; {len(missed)} target(s) missed")
    sys.exit(1 if missed else 0)


if __name__ == "__main__":
    main()
