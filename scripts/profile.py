#!/usr/bin/env python3
"""Instructions per request, under callgrind, for the ceiling route and cache hits.

    python3 scripts/profile.py [--products 10000] [--requests 2000] [URL ...]

Starts the release server under `valgrind --tool=callgrind` (against a seeded
PostgreSQL database and a Redis of its own, as scripts/bench.py does), warms
each URL, then counts the instructions the server runs for N sequential
keep-alive requests to it. Instruction counts do not depend on what else the
machine is doing, so two builds can be compared exactly. Prints instructions
per request and the functions costing the most per request (inclusive); the
callgrind files are kept in results/ for callgrind_annotate or kcachegrind.
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import subprocess
import time
from pathlib import Path

from shoplab import ROOT, proc, services

DEFAULT_URLS = ["/__bench/ceiling?bytes=6624", "/products?q=laptop&page=2", "/api/products/?search=laptop&page=2"]


def requests(port: int, path: str, n: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    for _ in range(n):
        conn.request("GET", path)
        r = conn.getresponse()
        r.read()
        if r.status != 200:
            proc.fail(f"{path} answered {r.status}")
    conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("urls", nargs="*", default=DEFAULT_URLS)
    args = parser.parse_args()
    services.preflight(args.postgres)
    if subprocess.run(["which", "valgrind"], capture_output=True).returncode != 0:
        proc.fail("valgrind is not installed; install it with: apt-get install -y valgrind")
    binary = services.build()
    env, _, _ = services.prepare_database(binary, args.postgres, args.products)
    redis = services.Redis()
    out = ROOT / "results"
    out.mkdir(exist_ok=True)
    stem = out / f"callgrind-{time.strftime('%Y%m%d-%H%M%S')}"
    port = proc.free_port()
    env = dict(env, REDIS_URL=redis.url, CACHE_KEY_PREFIX="profile", STOREFRONT_BENCH_ROUTES="true",
               STOREFRONT_ADDR=f"127.0.0.1:{port}")
    server = subprocess.Popen(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={stem}.%p", str(binary),
         "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                requests(port, "/api/categories/", 1)
                break
            except OSError:
                if time.monotonic() > deadline:
                    proc.fail("the server did not start under valgrind within 120 s")
                time.sleep(0.2)
        status, _, body = services.http_request(port, "/api/products/?search=laptop")
        slug = json.loads(body)["results"][0]["slug"]
        report = []
        for url in [u.replace("{slug}", slug) for u in args.urls]:
            requests(port, url, 50)  # fill, learn the tag versions, warm
            control("-z", server.pid)
            requests(port, url, args.requests)
            dump = control("-d", server.pid)
            files = sorted(out.glob(f"{stem.name}.{server.pid}*"), key=lambda p: p.stat().st_mtime)
            latest = files[-1]
            total = events(latest)
            report.append((url, total / args.requests, latest, dump))
            print(f"{url}: {total / args.requests:,.0f} instructions per request ({latest.name})")
        for url, _, path, _ in report[1:]:
            print(f"\n# {url}: most expensive functions, inclusive, per request")
            annotate = subprocess.run(["callgrind_annotate", "--inclusive=yes", str(path)], capture_output=True,
                                      text=True).stdout
            rows = [line for line in annotate.splitlines() if re.match(r"^\s*[\d,]+ \(", line)]
            for line in rows[:30]:
                count = int(line.split()[0].replace(",", ""))
                name = line.split(")", 1)[1].strip() if ")" in line else line
                print(f"{count / args.requests:>10,.0f}  {name[:140]}")
    finally:
        server.terminate()
        server.wait()
        redis.stop()


def control(flag: str, pid: int, *rest: str) -> str:
    return subprocess.run(["callgrind_control", flag, *rest, str(pid)], capture_output=True, text=True).stdout


def events(path: Path) -> int:
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("summary:") or line.startswith("totals:"):
            return int(line.split()[1])
    proc.fail(f"no totals in {path}")
    return 0


if __name__ == "__main__":
    main()
