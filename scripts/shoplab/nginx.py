"""nginx as the benchmark's outside reference: a static file of a fixed size
served by an nginx of the benchmark's own, on a free loopback port, under
the same wrk and on the same cores as the shop. A cache hit's speed is
reported as a ratio to it, so the figure means the same on a noisy machine.

The configuration is what a static site would run with: the Debian
package's defaults (sendfile, keep-alive, one worker per core), no access
log (the shop keeps none per request either).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from .proc import free_port

# The size of the static file the comparison names.
FILE_BYTES = 5 * 1024
FILE_PATH = "/static-5k.html"


def fail(msg: str) -> None:
    print(f"nginx: {msg}", file=sys.stderr)
    sys.exit(2)


def preflight() -> None:
    """nginx (Debian's nginx-light), installed when missing, as the
    benchmark does with wrk. The package's own service is not needed."""
    if shutil.which("nginx"):
        return
    print("nginx: installing nginx-light (Debian package)", file=sys.stderr, flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True)
    done = subprocess.run(["apt-get", "install", "-y", "-qq", "nginx-light"], env=env, capture_output=True, text=True)
    if done.returncode != 0 or not shutil.which("nginx"):
        fail(f"could not install nginx: {done.stderr.strip()[-500:]}")


class Nginx:
    """An nginx serving one `FILE_BYTES` file at `FILE_PATH`."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="storefront-nginx-"))
        # Run as root, nginx's workers drop to its own user, which must read
        # the file inside this otherwise private directory.
        self.dir.chmod(0o755)
        root = self.dir / "www"
        root.mkdir(mode=0o755)
        # HTML-like text of the exact size, so gzip or MIME sniffing does
        # not make it cheaper than a page.
        line = "<p>storefront reference body</p>\n"
        (root / FILE_PATH.lstrip("/")).write_text((line * (FILE_BYTES // len(line) + 1))[:FILE_BYTES])
        conf = self.dir / "nginx.conf"
        conf.write_text(f"""daemon off;
worker_processes auto;
pid {self.dir}/nginx.pid;
error_log {self.dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    include /etc/nginx/mime.types;
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    client_body_temp_path {self.dir}/body;
    proxy_temp_path {self.dir}/proxy;
    fastcgi_temp_path {self.dir}/fastcgi;
    uwsgi_temp_path {self.dir}/uwsgi;
    scgi_temp_path {self.dir}/scgi;
    server {{
        listen 127.0.0.1:{self.port};
        root {root};
    }}
}}
""")
        self.proc = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(self.dir)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                fail(f"nginx exited: {self.proc.stderr.read().decode(errors='replace').strip()[-500:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{FILE_PATH}", timeout=1) as r:
                    if len(r.read()) == FILE_BYTES:
                        return
            except OSError:
                time.sleep(0.05)
        fail("nginx did not answer within 10 s")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
