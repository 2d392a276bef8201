#!/usr/bin/env python3
"""Load benchmark for storefront, on PostgreSQL and Redis, with wrk.

    python3 scripts/bench.py                    # 10k and 100k products
    python3 scripts/bench.py --smoke            # CI: 1k products, 2 s per run
    python3 scripts/bench.py --varnish          # only Varnish against the apps
    python3 scripts/bench.py --orders           # only the read mix under orders

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

Compressed responses, on the same server: for each hit URL the bytes of
the body as sent (on the wire, in the Content-Encoding the shop chose)
without Accept-Encoding and to `Accept-Encoding: br, gzip` (a hit, the
second request), and their ratio; the shop answers br for bodies of 1 KB
or more, each form with its own ETag and `Vary: Accept-Encoding`. Then, at
each connection count and URL by URL, wrk with that header against the
shop's hits (hit-br) and against nginx serving the same body (the identity
body, written to a file of its own with a `gzip -9` copy beside it) with
`gzip_static on;` (nginx-gz): what a static site does at best for its
bytes. A compressed hit is held to 0.9x nginx-gz at the same URL and
connection count; the shop's storefront_compressions_total must not move
during the hit-br runs (a hit sends the form made at the fill: it
compresses nothing); and the HTML and JSON bodies of 4 KB or more must be
3x smaller compressed (smaller bodies compress less and are not held to
it). The last two are checked with --smoke too.

With --varnish (and, at 32 connections only, with --smoke) two instances
run behind a Varnish of the script's own, with the project's VCL
(scripts/shoplab/varnish.py): the same anonymous URLs are measured as
Varnish hits and directly against the two instances (one wrk per instance
at once, half the connections each), side by side. A Varnish run counts
only if the URL answers `X-Varnish-Cache: HIT` before it and Varnish
fetched nothing from the apps during it; its speed is reported, not
checked.

With --orders (and, short, with --smoke) a read mix spread over the whole
catalog (ORDER_MIX) runs under wrk while a paced generator places guest
orders through the API at 0, 5 and 20 a second, with stock changes retired
by projection (the default) and naively (CACHE_NAIVE_STOCK_INVALIDATION=
true: every order retires the product and every listing). Each of the six
cells starts from the same stock (500 units for products above 5, the
seed's low-stock ones as they were), an empty cache and every URL read once;
the hit rate comes from the X-Cache of the reads. The targets: at 20
orders/s the projection keeps its hit rate within 3 points of no orders,
and the naive mode loses 20 or more; with --smoke only exactness is
checked (orders answered 201 or 409, reads all 200 with an X-Cache, no
negative stock).

Every figure is also given as a ratio against the ceiling of the same run,
because the machine is shared and noisy, and against nginx serving a static
5 KB file under the same wrk (scripts/shoplab/nginx.py): the outside
reference a page hit is held to (0.9x). The targets are checked at the end;
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
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

from shoplab import ROOT, nginx, orders, varnish
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
# What a browser sends; the shop answers br to it.
BR_GZIP = {"Accept-Encoding": "br, gzip"}
# The shop's counter of bodies compressed (labelled by coding; summed here).
COMPRESSIONS = "storefront_compressions_total"
# The size target holds for bodies of at least this many bytes.
SIZE_TARGET_MIN_BYTES = 4 * 1024
UPDATES = 60
# Instances behind Varnish in the edge comparison.
EDGE_INSTANCES = 2

TARGETS = {
    "hit_vs_ceiling_32": 0.50,  # hits reach half the ceiling's requests/s at 32 connections
    "page_hit_vs_nginx": 0.9,  # HTML page hits reach 0.9x nginx's static 5 KB file, at each connection count
    # Hits with Accept-Encoding: br, gzip reach 0.9x nginx gzip_static sending the same body, at each
    # connection count.
    "compressed_hit_vs_nginx_gz": 0.9,
    "compressions_during_hits": 0,
    "size_reduction": 3.0,  # identity/compressed bytes, HTML and JSON bodies of SIZE_TARGET_MIN_BYTES or more
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
    return (await _read_response_headers(reader))[0]


async def _read_response_headers(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    """Status and headers (names lower-cased); the body is read and dropped."""
    status = int((await reader.readline()).split()[1])
    length, chunked = 0, False
    headers: dict[str, str] = {}
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
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
    return status, headers


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
    reference = nginx.Nginx()
    env = dict(env, REDIS_URL=redis.url, CACHE_KEY_PREFIX="bench", STOREFRONT_BENCH_ROUTES="true")
    result: dict = {"products": size, "seed_s": round(seed_s, 2), "runs": []}
    try:
        server = Server(binary, env, cache=True)
        result["ready_s"] = round(server.ready_s, 3)
        status, _, body = server.get("/api/products/?search=laptop")
        slug = json.loads(body)["results"][0]["slug"]
        urls = [u.replace("{slug}", slug) for u in HIT_URLS]

        sizes, etags, identity = {}, {}, {}
        for url in urls:
            server.get(url)
            status, headers, body = server.get(url)
            if status != 200 or headers.get("x-cache") != "HIT":
                fail(f"{url} answered {status} {headers.get('x-cache')} on its second request, not a cache hit")
            sizes[url], etags[url], identity[url] = len(body), headers["etag"], (body, headers)
        ceiling_bytes = int(statistics.median(sizes.values()))
        ceiling = f"/__bench/ceiling?bytes={ceiling_bytes}"
        result["body_bytes"] = sizes

        # Compressed: the bytes sent to Accept-Encoding: br, gzip, and the
        # same identity body precompressed for nginx, one file per URL.
        result["bytes"], gz_paths = {}, {}
        for i, url in enumerate(urls):
            body, headers = identity[url]
            sent = compressed_bytes(server, url, body, headers)
            gz_paths[url], sent["nginx_gz"] = reference.add_gzip_page(f"page-{i}.{page_extension(url, headers)}", body)
            result["bytes"][url] = sent
            say(f"  bytes: identity {sent['identity']:>7,}  br, gzip {sent['br_gzip']:>7,} ({sent['coding']}, "
                f"{sent['ratio']:.2f}x)  nginx .gz {sent['nginx_gz']:>7,}  {url}")
        result["compressions_exported"] = metric_exported(server, COMPRESSIONS)

        def record(kind: str, url: str, c: int, figures: dict) -> None:
            figures.update(kind=kind, url=url, connections=c)
            result["runs"].append(figures)
            say(f"  {kind:9} c={c:<3} {figures['rps']:>9.0f} req/s  p50 {figures['p50_ms']:.2f} ms  "
                f"p99 {figures['p99_ms']:.2f} ms  {url}")

        # One unrecorded second per URL first: steady state, not warm-up.
        for url in [ceiling, *urls]:
            wrk(server.port, url, 8, 1)
        wrk(reference.port, nginx.FILE_PATH, 8, 1)
        for url in urls:
            wrk(server.port, url, 8, 1, BR_GZIP)
            wrk(reference.port, gz_paths[url], 8, 1, BR_GZIP)
        for c in args.connections:
            # The references before and after the group: the machine drifts.
            record("nginx", nginx.FILE_PATH, c, wrk(reference.port, nginx.FILE_PATH, c, args.duration))
            record("ceiling", ceiling, c, wrk(server.port, ceiling, c, args.duration))
            for url in urls:
                record("hit", url, c, wrk(server.port, url, c, args.duration))
            for url in REVALIDATE_URLS:
                record("304", url, c, wrk(server.port, url, c, args.duration, {"If-None-Match": etags[url]}))
            # Compressed, side by side: the shop's hit, then nginx with the
            # same body precompressed (its `url` the shop's, `path` nginx's).
            for url in urls:
                record("hit-br", url, c, wrk_compressed_hits(server, url, c, args.duration))
                nginx_gz = wrk(reference.port, gz_paths[url], c, args.duration, BR_GZIP)
                record("nginx-gz", url, c, dict(nginx_gz, path=gz_paths[url]))
            record("ceiling", ceiling, c, wrk(server.port, ceiling, c, args.duration))
            record("nginx", nginx.FILE_PATH, c, wrk(reference.port, nginx.FILE_PATH, c, args.duration))

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
        reference.stop()
        redis.stop()
    return result


def compressed_bytes(server: Server, url: str, body: bytes, headers: dict) -> dict:
    """The bytes of `url`'s identity body (given, with its headers) and of
    the body sent to Accept-Encoding: br, gzip, asked twice so that it is a
    hit; as sent: http.client decodes no Content-Encoding."""
    server.get(url, BR_GZIP)
    status, sent_headers, sent = server.get(url, BR_GZIP)
    if status != 200 or sent_headers.get("x-cache") != "HIT":
        fail(f"{url} with Accept-Encoding: br, gzip answered {status} {sent_headers.get('x-cache')} on its second "
             "request, not a cache hit")
    return {
        "identity": len(body),
        "br_gzip": len(sent),
        "coding": sent_headers.get("content-encoding", "identity"),
        "ratio": round(len(body) / max(1, len(sent)), 3),
        "content_type": headers.get("content-type", ""),
        "vary": sent_headers.get("vary", ""),
        "own_etag": sent_headers.get("etag") != headers.get("etag"),
    }


def page_extension(url: str, headers: dict) -> str:
    """The extension nginx gives the right Content-Type by: the shop's type."""
    ctype = headers.get("content-type", "")
    if ctype.startswith("text/html"):
        return "html"
    if ctype.startswith("application/json"):
        return "json"
    fail(f"{url} answered Content-Type {ctype!r}, neither HTML nor JSON")


def metric_exported(server: Server, name: str) -> bool:
    """Whether the metrics listener lists `name` at all (a counter appears
    there once it first counts; before that Server.metric reads 0)."""
    text = http_request(server.metrics_port, "/metrics")[2].decode()
    return any(line.startswith(name) and line[len(name):len(name) + 1] in (" ", "{") for line in text.splitlines())


def wrk_compressed_hits(server: Server, url: str, connections: int, duration: int) -> dict:
    """wrk with Accept-Encoding: br, gzip, and the bodies the shop
    compressed meanwhile (COMPRESSIONS, every coding summed by
    Server.metric)."""
    before = server.metric(COMPRESSIONS)
    figures = wrk(server.port, url, connections, duration, BR_GZIP)
    figures["compressions"] = int(server.metric(COMPRESSIONS) - before)
    return figures


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


# ------------------------------------------------------------------ orders

# The read mix of the order comparison: the kinds of URL of HIT_URLS (search
# pages and API searches, the category list, product pages and API details,
# API category listings by price) spread over the whole catalog, plus the
# category pages and the in-stock listings a shopper filters to, so that
# each entry is read at a rate a shop's would be rather than thousands of
# times a second. Shares of the reads, by kind:
ORDER_MIX = {
    "product": 0.50,  # /products/{slug} and /api/products/{id}/, every active product
    "category": 0.25,  # /categories/{slug}?page=1..3, /api/products/?category__id=..&ordering=price&page=1..3
    "search": 0.15,  # /products?q=..&page=1..2, /api/products/?search=..&page=1..2, 20 terms
    "in-stock": 0.05,  # /categories/{slug}?in_stock=1, /api/products/?category__id=..&in_stock=true
    "index": 0.05,  # /, /categories, /api/categories/
}
ORDER_RATES = [0, 5, 20]  # orders per second
ORDER_MODES = {"projection": {}, "naive": {"CACHE_NAIVE_STOCK_INVALIDATION": "true"}}
# Products with more than LOW_STOCK units get HIGH_STOCK before every run,
# so an order rarely changes what a listing shows of them; the seed's
# low-stock (1-5) and sold-out products keep their stock, and the orders
# take from the low ones too, selling them out as a shop's would.
HIGH_STOCK = 500
LOW_STOCK = 5
ORDER_CONNECTIONS = 8
ORDER_MIX_LENGTH = 50_000
# The goals, in points of hit rate (0 to 100).
ORDER_GOALS = {"projection_loss_at_20": 3.0, "naive_loss_at_20": 20.0}

# wrk reads the mix from a file, every thread from its own place in it,
# and counts the X-Cache of each response; done() adds up the threads.
MIX_LUA = r"""
local threads = {}
local count = 0
function setup(thread)
  count = count + 1
  thread:set("tid", count)
  table.insert(threads, thread)
end
function init(args)
  paths = {}
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
  at = (tid * 7919) % #paths
  hit, miss, bypass, none, bad = 0, 0, 0, 0, 0
end
function request()
  at = at % #paths + 1
  return wrk.format("GET", paths[at])
end
function response(status, headers, body)
  if status ~= 200 then bad = bad + 1 end
  local x = headers["x-cache"] or headers["X-Cache"]
  if x == "HIT" then hit = hit + 1
  elseif x == "MISS" then miss = miss + 1
  elseif x == "BYPASS" then bypass = bypass + 1
  else none = none + 1 end
end
function done(summary, latency, requests)
  local t = {hit = 0, miss = 0, bypass = 0, none = 0, bad = 0}
  for _, thread in ipairs(threads) do
    for k, v in pairs(t) do t[k] = v + thread:get(k) end
  end
  io.write(string.format("x-cache: hit=%d miss=%d bypass=%d none=%d bad=%d\n",
    t.hit, t.miss, t.bypass, t.none, t.bad))
end
"""


def order_catalog(db_url: str) -> tuple[dict[str, list[str]], list[int]]:
    """The read mix's URLs by kind, and the products orders take from
    (active, in stock): every product a reader may look at."""
    products = orders.psql(db_url, "SELECT id, slug, stock FROM products WHERE is_active ORDER BY id")
    categories = orders.psql(db_url, "SELECT id, slug FROM categories ORDER BY id")
    names = orders.psql(db_url, "SELECT name FROM products WHERE is_active ORDER BY id LIMIT 2000")
    words = sorted({w.lower() for (n,) in names for w in n.split() if len(w) > 3 and w.isalpha()})
    terms = ["laptop"] + [w for w in random.Random(7).sample(words, min(40, len(words))) if w != "laptop"][:19]
    urls: dict[str, list[str]] = {
        "product": [u for pid, slug, _ in products for u in (f"/products/{slug}", f"/api/products/{pid}/")],
        "category": [u for cid, slug in categories for page in (1, 2, 3)
                     for u in (f"/categories/{slug}?page={page}",
                               f"/api/products/?category__id={cid}&ordering=price&page={page}")],
        "search": [u for t in terms for page in (1, 2)
                   for u in (f"/products?q={t}&page={page}", f"/api/products/?search={t}&page={page}")],
        "in-stock": [u for cid, slug in categories
                     for u in (f"/categories/{slug}?in_stock=1", f"/api/products/?category__id={cid}&in_stock=true")],
        "index": ["/", "/categories", "/api/categories/"],
    }
    return urls, [int(pid) for pid, _, stock in products if int(stock) > 0]


def mix_paths(urls: dict[str, list[str]]) -> list[str]:
    """ORDER_MIX_LENGTH reads drawn from the mix, the same every run."""
    rng = random.Random(11)
    kinds = list(ORDER_MIX)
    weights = [ORDER_MIX[k] for k in kinds]
    return [rng.choice(urls[kind]) for kind in rng.choices(kinds, weights, k=ORDER_MIX_LENGTH)]


async def _warm(port: int, paths: list[str], connections: int) -> dict[str, tuple[int, str]]:
    """GETs every path once: its status and X-Cache."""
    seen: dict[str, tuple[int, str]] = {}
    queue = iter(paths)

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for path in queue:
            writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
            status, headers = await _read_response_headers(reader)
            seen[path] = (status, headers.get("x-cache", ""))
        writer.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    return seen


def order_send(port: int, method: str, path: str, headers: dict, body: str | None) -> tuple[int, bytes]:
    status, _, data = http_request(port, path, headers, method, body)
    return status, data


def order_run(binary: Path, env: dict, redis: Redis, db_url: str, mode: str, rate: float, mix_file: Path,
              distinct: list[str], pool: list[int], args: argparse.Namespace) -> dict:
    """One cell of the comparison: the stock as seeded, an empty cache, every
    URL of the mix read once, then the mix under wrk while orders arrive at
    `rate` a second."""
    orders.psql(db_url, "UPDATE products p SET stock = s.stock FROM bench_stock s "
                        "WHERE p.id = s.id AND p.stock <> s.stock")
    redis.cli("FLUSHALL")
    server = Server(binary, dict(env, **ORDER_MODES[mode]), cache=True)
    try:
        seen = asyncio.run(_warm(server.port, distinct, 16))
        bad = {p: s for p, s in seen.items() if s[0] != 200}
        if bad:
            fail(f"warming the order mix: {len(bad)} URLs did not answer 200, e.g. {next(iter(bad.items()))}")
        rng_lock = threading.Lock()
        # The same orders in both modes.
        rng = random.Random(int(rate))
        attempts: list[orders.Attempt] = []

        def place(_: int) -> None:
            with rng_lock:
                products = rng.sample(pool, 2 if rng.random() < 0.2 else 1)
                lines = [(pid, rng.choice((1, 1, 2))) for pid in products]
            attempts.append(orders.place(order_send, server.port, lines))

        pacer = orders.Pacer(rate, place)
        cmd = wrk_command(server.port, "/", ORDER_CONNECTIONS, args.duration)
        cmd[-1:-1] = ["-s", str(mix_file.with_suffix(".lua"))]
        cmd += ["--", str(mix_file)]
        pacer.start()
        started = time.monotonic()
        out = run(cmd)
        pacer.stop()
        elapsed = time.monotonic() - started
        figures = wrk_figures(out)
        m = re.search(r"x-cache: hit=(\d+) miss=(\d+) bypass=(\d+) none=(\d+) bad=(\d+)", out)
        if not m:
            fail(f"no X-Cache counts in wrk's output:\n{out}")
        hit, miss, bypass, none, bad_reads = map(int, m.groups())
        statuses: dict[int, int] = {}
        for a in attempts:
            statuses[a.status] = statuses.get(a.status, 0) + 1
        placed = [a for a in attempts if a.status == 201]
        latencies = sorted((a.done - a.sent) * 1000 for a in attempts)
        figures.update(
            mode=mode, rate=rate, hit=hit, miss=miss, bypass=bypass, no_header=none, bad_reads=bad_reads,
            hit_rate=round(100 * hit / max(1, hit + miss + bypass + none), 2),
            orders_sent=len(attempts), orders_per_s=round(len(attempts) / elapsed, 2),
            order_statuses={str(k): v for k, v in sorted(statuses.items())},
            order_p99_ms=round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 1) if latencies else 0,
            order_samples=[a.note for a in attempts if a.status not in (201, 409)][:5],
            units_sold=sum(q for a in placed for _, q in a.lines),
            late_ms_max=round(1000 * max(pacer.late, default=0.0), 1),
        )
        say(f"  {mode:10} {rate:>4.0f} orders/s ({figures['orders_per_s']} sent/s, {figures['order_statuses']}): "
            f"hit rate {figures['hit_rate']:.2f}%  {figures['rps']:,.0f} reads/s  p99 {figures['p99_ms']:.2f} ms")
        return figures
    finally:
        server.stop()


def bench_orders(binary: Path, pg_url: str, size: int, args: argparse.Namespace) -> dict:
    """The read mix at 0, 5 and 20 orders a second, with stock changes
    retired by projection and naively (every listing on every order)."""
    say(f"orders and the cache, {size} products: seeding a fresh database")
    env, _, _ = prepare_database(binary, pg_url, size, name=f"storefront_bench_orders_{size}")
    db_url = env["DATABASE_URL"]
    orders.psql(db_url, f"UPDATE products SET stock = {HIGH_STOCK} WHERE stock > {LOW_STOCK}; "
                        "DROP TABLE IF EXISTS bench_stock; CREATE TABLE bench_stock AS SELECT id, stock FROM products")
    urls, pool = order_catalog(db_url)
    stock = orders.stock_levels(db_url)
    low = sum(1 for pid in pool if stock[pid] <= LOW_STOCK)
    redis = Redis()
    workdir = Path(tempfile.mkdtemp(prefix="storefront-bench-orders-"))
    # The confirmations go to .eml files in the run's own directory, not the checkout's data/.
    env = dict(env, REDIS_URL=redis.url, CACHE_KEY_PREFIX="bench", STOREFRONT_BENCH_ROUTES="true",
               MAIL_DIR=str(workdir / "mail"))
    result: dict = {"products": size, "connections": ORDER_CONNECTIONS, "mix": ORDER_MIX,
                    "high_stock": HIGH_STOCK, "orderable": len(pool), "low_stock": low,
                    "sold_out": sum(1 for s in stock.values() if s == 0), "runs": [], "ceiling": []}
    try:
        # Pages past a short search's last answer 404: not part of the mix.
        probe = Server(binary, env, cache=True)
        distinct = sorted({u for kind in urls.values() for u in kind})
        seen = asyncio.run(_warm(probe.port, distinct, 16))
        missing = {p for p, (status, _) in seen.items() if status == 404}
        if any(s[0] not in (200, 404) for s in seen.values()):
            fail(f"the order mix answered {sorted({s[0] for s in seen.values()})}")
        uncached = sorted(p for p, (status, x) in seen.items() if status == 200 and not x)
        if uncached:
            fail(f"the order mix holds URLs the cache does not serve (no X-Cache): {uncached[:5]}")
        urls = {kind: [u for u in found if u not in missing] for kind, found in urls.items()}
        distinct = [u for u in distinct if u not in missing]
        mix_file = workdir / "mix.txt"
        mix_file.write_text("\n".join(mix_paths(urls)) + "\n")
        mix_file.with_suffix(".lua").write_text(MIX_LUA)
        result["distinct_urls"] = {kind: len(found) for kind, found in urls.items()}
        say(f"  {len(distinct)} distinct URLs, {len(pool)} products to order ({low} with 1-{LOW_STOCK} units)")
        # The reference: the ceiling route under the same wrk, before and after.
        ceiling = "/__bench/ceiling?bytes=8000"
        wrk(probe.port, ceiling, ORDER_CONNECTIONS, 1)
        result["ceiling"].append(wrk(probe.port, ceiling, ORDER_CONNECTIONS, args.duration))
        probe.stop()
        for rate in ORDER_RATES:
            for mode in ORDER_MODES:
                result["runs"].append(order_run(binary, env, redis, db_url, mode, rate, mix_file, distinct, pool,
                                                args))
        probe = Server(binary, env, cache=True)
        wrk(probe.port, ceiling, ORDER_CONNECTIONS, 1)
        result["ceiling"].append(wrk(probe.port, ceiling, ORDER_CONNECTIONS, args.duration))
        probe.stop()
        final = orders.stock_levels(db_url)
        result["negative_stock"] = {pid: s for pid, s in final.items() if s < 0}
    finally:
        redis.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return result


def order_cell(o: dict, mode: str, rate: float) -> dict:
    return next(x for x in o["runs"] if x["mode"] == mode and x["rate"] == rate)



# ------------------------------------------------------------------ report


def ceiling_rps(runs: list[dict], connections: int) -> float:
    """The mean of the ceiling runs at this connection count."""
    return statistics.mean(x["rps"] for x in runs if x["kind"] == "ceiling" and x["connections"] == connections)


def nginx_rps(runs: list[dict], connections: int) -> float | None:
    """The mean of the nginx runs at this connection count, if there were any."""
    rps = [x["rps"] for x in runs if x["kind"] == "nginx" and x["connections"] == connections]
    return statistics.mean(rps) if rps else None


def size_checked(r: dict) -> list[str]:
    """The URLs the size target holds for: HTML and JSON bodies of
    SIZE_TARGET_MIN_BYTES or more."""
    return [url for url, b in r["bytes"].items() if b["identity"] >= SIZE_TARGET_MIN_BYTES
            and b["content_type"].startswith(("text/html", "application/json"))]


def check_targets(results: list[dict], edge: dict | None, smoke: bool, order_result: dict | None = None) -> list[dict]:
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
            if x["kind"] == "hit" and not x["url"].startswith("/api/"):
                ratio = x["rps"] / nginx_rps(runs, x["connections"])
                check(f"page hit/nginx req/s at {x['connections']}, {x['url']}", ratio, TARGETS["page_hit_vs_nginx"],
                      ratio >= TARGETS["page_hit_vs_nginx"], True, n)
        for x in runs:
            if x["kind"] == "hit-br":
                ref = by[("nginx-gz", x["url"], x["connections"])]
                ratio = x["rps"] / ref["rps"] if ref["rps"] else 0.0
                check(f"compressed hit/nginx gzip_static req/s at {x['connections']}, {x['url']}", ratio,
                      TARGETS["compressed_hit_vs_nginx_gz"], ratio >= TARGETS["compressed_hit_vs_nginx_gz"], True, n)
        # Exactness, enforced in --smoke too: a hit sends the form made at
        # the fill, it compresses nothing.
        compressions = sum(x["compressions"] for x in runs if x["kind"] == "hit-br")
        unexported = "" if r["compressions_exported"] else " (the binary does not export it)"
        check(f"{COMPRESSIONS} added during the compressed hits{unexported}", compressions,
              TARGETS["compressions_during_hits"], compressions == TARGETS["compressions_during_hits"], False, n)
        for url in size_checked(r):
            ratio = r["bytes"][url]["ratio"]
            check(f"size reduction identity/compressed, {url}", ratio, TARGETS["size_reduction"],
                  ratio >= TARGETS["size_reduction"], False, n)
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
    if o := order_result:
        n = o["products"]
        for x in o["runs"]:
            where = f"{x['mode']}, {x['rate']:g} orders/s"
            # Exactness, enforced in --smoke too: every order placed or
            # refused for its stock, every read a 200 with an X-Cache.
            unexpected = {k: v for k, v in x["order_statuses"].items() if k not in ("201", "409")}
            check(f"order answers other than 201 or 409, {where}", sum(unexpected.values()), 0, not unexpected,
                  False, n)
            if x["rate"]:
                check(f"orders placed (201), {where}", x["order_statuses"].get("201", 0), 1,
                      x["order_statuses"].get("201", 0) >= 1, False, n)
            read_errors = x["non_2xx_3xx"] + x["socket_errors"] + x["bad_reads"] + x["no_header"]
            check(f"read errors (non-200, socket, no X-Cache), {where}", read_errors, 0, read_errors == 0, False, n)
            # The generator kept its schedule: the cell is at the rate it names.
            if x["rate"]:
                check(f"orders/s sent, {where}", x["orders_per_s"], 0.9 * x["rate"],
                      x["orders_per_s"] >= 0.9 * x["rate"], True, n)
        check("products with negative stock after the runs", len(o["negative_stock"]), 0, not o["negative_stock"],
              False, n)
        top = max(ORDER_RATES)
        base = {mode: order_cell(o, mode, 0)["hit_rate"] for mode in ORDER_MODES}
        loss = base["projection"] - order_cell(o, "projection", top)["hit_rate"]
        check(f"hit rate points lost at {top} orders/s, projection", loss, ORDER_GOALS["projection_loss_at_20"],
              loss <= ORDER_GOALS["projection_loss_at_20"], True, n)
        loss = base["naive"] - order_cell(o, "naive", top)["hit_rate"]
        check(f"hit rate points lost at {top} orders/s, naive (at least)", loss, ORDER_GOALS["naive_loss_at_20"],
              loss >= ORDER_GOALS["naive_loss_at_20"], True, n)
    return checks


def order_table(o: dict) -> list[str]:
    """The comparison, side by side: hit rate, points against no orders,
    read p99 and its ratio to no orders, reads/s against the ceiling."""
    ceiling = statistics.mean(c["rps"] for c in o["ceiling"])
    modes = list(ORDER_MODES)
    head = "| orders/s | " + " | ".join(
        f"{m}: hit % | vs 0/s | read p99 ms | p99 vs 0/s | reads/s vs ceiling | orders 201/409" for m in modes) + " |"
    lines = [head, "| ---: | " + " | ".join("---: | ---: | ---: | ---: | ---: | ---:" for _ in modes) + " |"]
    for rate in ORDER_RATES:
        cells = []
        for m in modes:
            x, zero = order_cell(o, m, rate), order_cell(o, m, 0)
            st = x["order_statuses"]
            cells.append(f"{x['hit_rate']:.2f} | {x['hit_rate'] - zero['hit_rate']:+.2f} | {x['p99_ms']:.2f} | "
                         f"{x['p99_ms'] / zero['p99_ms']:.2f} | {x['rps'] / ceiling:.3f} | "
                         f"{st.get('201', 0)}/{st.get('409', 0)}")
        lines.append(f"| {rate} | " + " | ".join(cells) + " |")
    return lines


def own_etag(b: dict) -> str:
    """yes/no for a compressed body, - for one sent as identity."""
    return "-" if b["coding"] == "identity" else ("yes" if b["own_etag"] else "no")


def compressed_section(r: dict) -> list[str]:
    """Bytes as sent, and the compressed hits against nginx gzip_static."""
    lines = ["### Compressed responses", "",
             "Bytes of the body as sent (on the wire, not decoded): without Accept-Encoding (identity) and to "
             "`Accept-Encoding: br, gzip` (its second request, a hit), in the Content-Encoding the shop sent. "
             "nginx .gz: the same identity body after `gzip -9`, as nginx's gzip_static sends it. Own ETag: the "
             "compressed response's ETag differs from the identity one's. In the table of all runs above, an "
             "nginx-gz row names the shop's URL whose body nginx sent.", "",
             "| URL | identity bytes | br, gzip bytes | coding | identity/compressed | nginx .gz bytes | Vary | "
             "own ETag |",
             "| --- | ---: | ---: | --- | ---: | ---: | --- | --- |"]
    for url, b in r["bytes"].items():
        lines.append(f"| `{url}` | {b['identity']:,} | {b['br_gzip']:,} | {b['coding']} | {b['ratio']:.2f} | "
                     f"{b['nginx_gz']:,} | {b['vary'] or '-'} | {own_etag(b)} |")
    checked = size_checked(r)
    skipped = [url for url in r["bytes"] if url not in checked]
    lines += ["", f"Size target (identity/compressed >= {TARGETS['size_reduction']}, HTML and JSON bodies of "
                  f"{SIZE_TARGET_MIN_BYTES:,} bytes or more) checked for: "
                  + (", ".join(f"`{u}`" for u in checked) or "none")
              + ("; not checked: " + ", ".join(f"`{u}` ({r['bytes'][u]['identity']:,} bytes)" for u in skipped)
                 if skipped else "") + ".", ""]
    by = {(x["kind"], x["url"], x["connections"]): x for x in r["runs"]}
    total = sum(x["compressions"] for x in r["runs"] if x["kind"] == "hit-br")
    lines += ["wrk with `Accept-Encoding: br, gzip`, URL by URL, one run after the other: the shop's hits (hit-br) "
              "and nginx sending the same body precompressed (nginx-gz, `gzip_static on;`). Compressions: "
              f"{COMPRESSIONS} after the run minus before, all codings.", "",
              "| URL | conns | hit-br req/s | nginx-gz req/s | hit-br/nginx-gz | hit-br p99 ms | nginx-gz p99 ms | "
              "compressions |",
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for x in r["runs"]:
        if x["kind"] != "hit-br":
            continue
        g = by[("nginx-gz", x["url"], x["connections"])]
        ratio = f"{x['rps'] / g['rps']:.2f}" if g["rps"] else "-"
        lines.append(f"| `{x['url']}` | {x['connections']} | {x['rps']:,.0f} | {g['rps']:,.0f} | {ratio} | "
                     f"{x['p99_ms']:.2f} | {g['p99_ms']:.2f} | {x['compressions']} |")
    lines += ["", f"{COMPRESSIONS} during all hit-br runs: {total:+d}"
                  + ("" if r["compressions_exported"] else " (this binary does not export the counter)") + ".", ""]
    return lines


def markdown(report: dict) -> str:
    lines = [f"# storefront benchmark, {report['started']}", "",
             f"Machine: {report['machine']}. Command: `{report['command']}`. "
             f"wrk, 2 threads, {report['duration_s']} s per run (after 1 s unrecorded per URL), on the same "
             "machine." + (" \"vs ceiling\": requests/s over the mean of the ceiling runs at that connection count."
                           " \"vs nginx\": requests/s over the mean of the nginx runs (a static 5 KB file) at "
                           "that connection count, under the same wrk." if report["results"] else ""), ""]
    for r in report["results"]:
        ceil = {c: ceiling_rps(r["runs"], c) for c in {x["connections"] for x in r["runs"]}}
        lines += [f"## {r['products']:,} products", "",
                  f"Seeded in {r['seed_s']} s; first 200 {r['ready_s']} s after start; "
                  f"RSS {r['rss_mb']} MB after the run.", "",
                  "| kind | URL | conns | req/s | vs ceiling | vs nginx | p50 ms | p99 ms |",
                  "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for x in r["runs"]:
            ref = nginx_rps(r["runs"], x["connections"])
            vs_nginx = f"{x['rps'] / ref:.2f}" if ref else "-"
            lines.append(f"| {x['kind']} | `{x['url']}` | {x['connections']} | {x['rps']:,.0f} | "
                         f"{x['rps'] / ceil[x['connections']]:.2f} | {vs_nginx} | {x['p50_ms']:.2f} | "
                         f"{x['p99_ms']:.2f} |")
        inv, cold = r["invalidation"], r["cold"]
        lines += ["", "| cached entries | Redis keys | update p50 ms | Redis commands per update |",
                  "| ---: | ---: | ---: | ---: |"]
        for k, v in inv.items():
            if isinstance(v, dict):
                lines.append(f"| {v['entries_filled']:,} | {v['redis_keys']:,} | {v['update_p50_ms']} | "
                             f"{v['redis_commands_per_update']} |")
        lines += ["", f"Cold key `{cold['url']}`, {cold['requests']} concurrent requests: statuses "
                      f"{cold['statuses']}, {cold['fills']} fill(s), {cold['queries']} SQL statement(s).", ""]
        lines += compressed_section(r)
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
    if o := report.get("orders"):
        ceiling = statistics.mean(c["rps"] for c in o["ceiling"])
        lines += [f"## Orders and the cache, {o['products']:,} products", "",
                  f"The read mix (shares by kind: {', '.join(f'{k} {v:.0%}' for k, v in o['mix'].items())}; "
                  f"{sum(o['distinct_urls'].values()):,} distinct URLs) under wrk, {o['connections']} connections, "
                  f"{report['duration_s']} s per cell, while guest orders arrive through the API at a fixed rate "
                  f"(1 or 2 products, 1 or 2 units each) on {o['orderable']:,} products in stock: stock "
                  f"{o['high_stock']} above {LOW_STOCK} units, the seed's {o['low_stock']} products with "
                  f"1-{LOW_STOCK} units as they were ({o['sold_out']} sold out are not ordered). Every cell starts "
                  "from the same stock, an empty cache and each URL read once. Naive: "
                  "CACHE_NAIVE_STOCK_INVALIDATION=true, every order retires the product and every listing. "
                  f"\"vs ceiling\": reads/s over the ceiling route's {ceiling:,.0f} req/s under the same wrk "
                  "(mean of a run before and after).", ""]
        lines += order_table(o)
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
    parser.add_argument("--orders", action="store_true",
                        help="only the read mix at 0, 5 and 20 orders/s, stock changes retired by projection and "
                             "naively (on the first catalog size)")
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
    if not (args.varnish or args.orders):
        nginx.preflight()
    if (args.varnish or args.smoke) and not args.orders:
        varnish.preflight()
    binary = build()
    started = dt.datetime.now(dt.timezone.utc)
    only = args.varnish or args.orders
    results = [] if only else [bench_size(binary, args.postgres, n, args) for n in sizes]
    edge = None
    if args.varnish or (args.smoke and not args.orders):
        edge = bench_edge(binary, args.postgres, sizes[0], args, [32] if args.smoke else args.connections)
    order_result = None
    if args.orders or (args.smoke and not args.varnish):
        order_result = bench_orders(binary, args.postgres, sizes[0], args)
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    report = {
        "started": started.strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} cores, {cpu}, {platform.system()} {platform.release()}",
        "command": "python3 scripts/bench.py " + " ".join(sys.argv[1:]),
        "duration_s": args.duration,
        "results": results,
        "edge": edge,
        "orders": order_result,
    }
    report["targets"] = check_targets(results, edge, args.smoke, order_result)
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
