"""Varnish for the benchmark and the soak: a varnishd of their own on a free
loopback port, with the project's VCL (deploy/varnish/storefront.vcl) in
front of one app instance or a round-robin over several.

The VCL declares one backend, `app`, for an app on port 3000, and picks no
backend itself (Varnish then uses the only one declared). For one instance
only that port changes, as in the Rust tests. For several, a variant is
written at run time: one backend per instance, a `directors.round_robin()`
over them built in vcl_init, and a vcl_recv placed before the project's own
(subroutines of one name run in the order they appear) that sets
`req.backend_hint`. Everything else is the project's VCL, unchanged.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import ROOT
from .proc import free_port

VCL = ROOT / "deploy" / "varnish" / "storefront.vcl"
# The VCL's backend block, as written for a single app on port 3000.
BACKEND = re.compile(r"^backend app \{\n.*?^\}\n", re.M | re.S)
PORT = '.port = "3000";'


def fail(msg: str) -> None:
    print(f"varnish: {msg}", file=sys.stderr)
    sys.exit(2)


def preflight() -> None:
    """varnishd (Debian's varnish), with the xkey vmod (varnish-modules),
    installed when missing, as the benchmark does with wrk."""
    if shutil.which("varnishd") and shutil.which("varnishstat"):
        return
    print("varnish: installing varnish and varnish-modules (Debian packages)", file=sys.stderr, flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True)
    done = subprocess.run(["apt-get", "install", "-y", "-qq", "varnish", "varnish-modules"], env=env,
                          capture_output=True, text=True)
    if done.returncode != 0 or not shutil.which("varnishd"):
        fail(f"could not install varnish: {done.stderr.strip()[-500:]}")


def vcl_for(ports: list[int]) -> str:
    """The project's VCL with its backend replaced by the apps on `ports`."""
    text = VCL.read_text()
    blocks = BACKEND.findall(text)
    if len(blocks) != 1 or PORT not in blocks[0]:
        fail(f"{VCL.relative_to(ROOT)} no longer declares one `backend app` on port 3000; "
             "update scripts/shoplab/varnish.py")
    if "backend_hint" in text or "vcl_init" in text:
        fail(f"{VCL.relative_to(ROOT)} now chooses its backend itself; update scripts/shoplab/varnish.py")
    if len(ports) == 1:
        return text.replace(PORT, f'.port = "{ports[0]}";')
    backends = "".join(f'backend app{n} {{\n    .host = "127.0.0.1";\n    .port = "{port}";\n}}\n\n'
                       for n, port in enumerate(ports, 1))
    init = "sub vcl_init {\n    new apps = directors.round_robin();\n" + "".join(
        f"    apps.add_backend(app{n});\n" for n in range(1, len(ports) + 1)) + "}\n\n"
    recv = ("# Runs before the vcl_recv below: every request, purges included,\n"
            "# gets a backend, which only a fetch uses.\n"
            "sub vcl_recv {\n    set req.backend_hint = apps.backend();\n}\n")
    text = BACKEND.sub(lambda _: backends + init + recv, text)
    if "import xkey;" not in text:
        fail(f"{VCL.relative_to(ROOT)} no longer imports xkey; update scripts/shoplab/varnish.py")
    return text.replace("import xkey;", "import xkey;\nimport directors;", 1)


class Varnish:
    """A varnishd on a free loopback port. The port is chosen at once, so
    the apps can be told where to purge (VARNISH_PURGE_URLS) before they
    start; `start` then puts Varnish in front of them."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="storefront-varnish-"))
        self.proc: subprocess.Popen | None = None
        atexit.register(self.stop)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, backend_ports: list[int], storage_mb: int = 256) -> None:
        vcl = self.dir / "storefront.vcl"
        vcl.write_text(vcl_for(backend_ports))
        with open(self.dir / "varnishd.log", "w") as log:
            self.proc = subprocess.Popen(
                ["varnishd", "-F", "-j", "none", "-a", f"127.0.0.1:{self.port}", "-n", str(self.dir / "work"),
                 "-f", str(vcl), "-s", f"malloc,{storage_mb}m", "-l", "2m",
                 # One small pool on a 2-core machine; no grace for
                 # responses without stale-while-revalidate, and no restart
                 # of a crashed child (a crash must show, not be hidden).
                 "-p", "thread_pools=1", "-p", "thread_pool_min=50", "-p", "default_grace=0",
                 "-p", "auto_restart=off"],
                stdout=subprocess.DEVNULL, stderr=log)
        # The VCL is compiled with the C compiler first: allow some seconds.
        started = time.monotonic()
        while True:
            if self.proc.poll() is not None:
                hint = " (is varnish-modules installed?)" if "xkey" in self.log() else ""
                fail(f"varnishd exited ({self.proc.returncode}){hint}: {self.log()[-1500:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                pass
            if time.monotonic() - started > 30:
                fail(f"varnishd is not listening after 30 s: {self.log()[-1500:]}")
            time.sleep(0.05)

    def log(self) -> str:
        path = self.dir / "varnishd.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def counters(self) -> dict[str, int]:
        """Varnish's own counts: client requests, hits, misses, passes and
        fetches from the apps. Worker threads add theirs to the totals in
        batches, so the counts are read until they stop moving (at most 3 s)."""
        last = self.read_counters()
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            time.sleep(0.2)
            now = self.read_counters()
            if now == last:
                break
            last = now
        return last

    def read_counters(self) -> dict[str, int]:
        done = subprocess.run(["varnishstat", "-n", str(self.dir / "work"), "-1", "-j",
                               "-f", "MAIN.client_req", "-f", "MAIN.cache_hit", "-f", "MAIN.cache_miss",
                               "-f", "MAIN.s_pass", "-f", "MAIN.backend_req"],
                              capture_output=True, text=True)
        if done.returncode != 0:
            fail(f"varnishstat: {done.stderr.strip()}")
        data = json.loads(done.stdout)
        # varnishstat 7 nests the counters; 6 put them at the top level.
        found = data.get("counters", data)
        return {name.removeprefix("MAIN."): int(found[name]["value"]) for name in found if name.startswith("MAIN.")}

    def stop(self) -> None:
        """SIGTERM, so the manager stops its worker too; SIGKILL after 5 s.
        Then the work directory goes."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
