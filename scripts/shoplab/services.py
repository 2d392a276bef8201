"""The services a run starts: PostgreSQL checked and a database seeded, a
Redis of the run's own, the release binary built and started."""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

from . import ROOT
from .proc import fail, free_port, run, say

# Where the script was started: STOREFRONT_BIN may be relative to it.
STARTED_IN = Path.cwd()


def preflight(pg_url: str) -> None:
    if subprocess.run(["pg_isready", "-d", pg_url, "-q"]).returncode != 0:
        fail(
            "PostgreSQL is not reachable at "
            f"{pg_url}; start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
        )
    if shutil.which("redis-server") is None:
        fail("redis-server is not installed; install it with: apt-get install -y redis-server")
    if shutil.which("wrk") is None:
        say("installing wrk (Debian package)")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True)
        run(["apt-get", "install", "-y", "-qq", "wrk"], env=env)


class Redis:
    """A redis-server of the benchmark's own, configured like the cache in
    docker-compose.yml (LRU, no persistence)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.start()

    def start(self) -> None:
        """Starts (or, after `kill`, restarts empty) on the same port."""
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--maxmemory", "2gb", "--maxmemory-policy", "allkeys-lru"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(200):
            if self.cli("PING", check=False) == "PONG":
                return
            time.sleep(0.02)
        fail("the benchmark's redis-server did not start")

    def kill(self) -> None:
        """SIGKILL: a crash, its data gone."""
        self.proc.kill()
        self.proc.wait()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def cli(self, *args: str, check: bool = True) -> str:
        done = subprocess.run(["redis-cli", "-p", str(self.port), *args], capture_output=True, text=True)
        if check and done.returncode != 0:
            fail(f"redis-cli {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout.strip()

    def commands(self) -> int:
        """Commands served so far, not counting our own INFO calls."""
        total = 0
        for line in self.cli("INFO", "commandstats").splitlines():
            m = re.match(r"cmdstat_(\w+):calls=(\d+)", line)
            if m and m.group(1) not in ("info", "dbsize", "ping"):
                total += int(m.group(2))
        return total

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait()



class Server:
    def __init__(self, binary: Path, env: dict, cache: bool, local: bool = True) -> None:
        self.port = free_port()
        # /metrics is served only on a listener of its own.
        self.metrics_port = free_port()
        self.env = dict(env, STOREFRONT_ADDR=f"127.0.0.1:{self.port}", METRICS_ADDR=f"127.0.0.1:{self.metrics_port}",
                        CACHE_ENABLED="true" if cache else "false")
        if not local:
            self.env["CACHE_LOCAL_MAX_MB"] = "0"
        started = time.monotonic()
        self.proc = subprocess.Popen([str(binary), "serve"], env=self.env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        while True:
            if self.proc.poll() is not None:
                fail(f"the server exited: {self.proc.stderr.read().strip()[-500:]}")
            try:
                if self.get("/api/categories/")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() - started > 30:
                fail("the server did not answer 200 within 30 s")
            time.sleep(0.002)
        self.ready_s = time.monotonic() - started

    def get(self, path: str, headers: dict | None = None, method: str = "GET",
            body: str | None = None) -> tuple[int, dict, bytes]:
        return http_request(self.port, path, headers, method, body)

    def metric(self, name: str) -> float:
        text = http_request(self.metrics_port, "/metrics")[2].decode()
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith(name) and (line[len(name)] in " {"))

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def http_request(port: int, path: str, headers: dict | None = None, method: str = "GET",
                 body: str | None = None) -> tuple[int, dict, bytes]:
    """One request on a connection of its own: status, headers (lower-cased), body."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()

def prepare_database(binary: Path, pg_url: str, size: int, name: str = "") -> tuple[dict, float, str]:
    name = name or f"storefront_bench_{size}"
    psql = ["psql", "-X", "-q", "-d", pg_url.rstrip("/") + "/postgres", "-c"]
    run(psql + [f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"])
    run(psql + [f"CREATE DATABASE {name}"])
    env = dict(os.environ, DATABASE_URL=f"{pg_url.rstrip('/')}/{name}", RUST_LOG="warn",
               STOREFRONT_PASSWORD="bench-password-1234")
    run([str(binary), "migrate"], env=env)
    started = time.monotonic()
    run([str(binary), "seed", "--categories", "20", "--products", str(size), "--seed", "7"], env=env)
    seed_s = time.monotonic() - started
    run([str(binary), "user", "create", "--email", "bench@example.com", "--admin"], env=env)
    out = run([str(binary), "token", "create", "--email", "bench@example.com"], env=env)
    token = next(line.strip() for line in out.splitlines() if line.strip().startswith("sft_"))
    return env, seed_s, token


def build() -> Path:
    if given := os.environ.get("STOREFRONT_BIN"):
        binary = (STARTED_IN / given).resolve()
        if not (binary.is_file() and os.access(binary, os.X_OK)):
            fail(f"STOREFRONT_BIN={given}: no executable there")
        say(f"using {given} (STOREFRONT_BIN), not building")
        return binary
    say("building the release binary")
    done = subprocess.run(["cargo", "build", "--release", "--locked", "--bin", "storefront"], cwd=ROOT)
    if done.returncode != 0:
        fail("cargo build --release failed")
    meta = json.loads(run(["cargo", "metadata", "--format-version", "1", "--no-deps"]))
    return Path(meta["target_directory"]) / "release" / "storefront"

