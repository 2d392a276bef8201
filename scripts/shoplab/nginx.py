"""nginx as the benchmark's outside reference: a static file of a fixed size
served by an nginx of the benchmark's own, on a free loopback port, under
the same wrk and on the same cores as the shop. A cache hit's speed is
reported as a ratio to it, so the figure means the same on a noisy machine.

The configuration is what a static site would run with: the Debian
package's defaults (sendfile, keep-alive, one worker per core), no access
log (the shop keeps none per request either).

For the compressed comparison, `Nginx.add_gzip_page` writes a page's body
under `GZIP_DIR` with a `gzip -9` copy beside it (<name>.gz), which nginx
sends as it is (`gzip_static on;`, `Vary: Accept-Encoding`) to a client
that accepts gzip: precompressed static files, the best an nginx in front of
a site does for its bytes. The files are named by the caller (page-0.html,
page-3.json: the extension gives the Content-Type, text/html with its
charset or application/json, as the shop sends them), never after a URL.

gzip_static is a module nginx is built with or not (`nginx -V` lists
--with-http_gzip_static_module). Debian's nginx-light, which `preflight`
installs, has it on bookworm, where nginx-light is a transitional package
that brings in the `nginx` binary package; `preflight` checks `nginx -V`
either way and stops with a message when the nginx found lacks it.
"""

from __future__ import annotations

import os
import re
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
# Where the precompressed pages are served, with gzip_static.
GZIP_DIR = "/gz/"
# A page's file name: a name of our own and the extension of its type.
PAGE_NAME = re.compile(r"[a-z0-9][a-z0-9-]*\.(html|json)")
PAGE_TYPES = {"html": "text/html; charset=utf-8", "json": "application/json"}


def fail(msg: str) -> None:
    print(f"nginx: {msg}", file=sys.stderr)
    sys.exit(2)


def preflight() -> None:
    """nginx (Debian's nginx-light), installed when missing, as the
    benchmark does with wrk, and built with gzip_static. The package's own
    service is not needed."""
    if not shutil.which("nginx"):
        print("nginx: installing nginx-light (Debian package)", file=sys.stderr, flush=True)
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True)
        done = subprocess.run(["apt-get", "install", "-y", "-qq", "nginx-light"], env=env, capture_output=True,
                              text=True)
        if done.returncode != 0 or not shutil.which("nginx"):
            fail(f"could not install nginx: {done.stderr.strip()[-500:]}")
    if not has_gzip_static():
        fail(f"{shutil.which('nginx')} is built without gzip_static (`nginx -V` lists no "
             "--with-http_gzip_static_module); install a build that has it, Debian's nginx package")


def has_gzip_static() -> bool:
    """Whether the nginx on the PATH has the gzip_static module (nginx -V
    prints its configure arguments on stderr)."""
    done = subprocess.run(["nginx", "-V"], capture_output=True, text=True)
    return "--with-http_gzip_static_module" in done.stdout + done.stderr


class Nginx:
    """An nginx serving one `FILE_BYTES` file at `FILE_PATH`, and the pages
    `add_gzip_page` writes under `GZIP_DIR`."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="storefront-nginx-"))
        # Run as root, nginx's workers drop to its own user, which must read
        # the file inside this otherwise private directory.
        self.dir.chmod(0o755)
        root = self.dir / "www"
        root.mkdir(mode=0o755)
        self.root = root
        (root / GZIP_DIR.strip("/")).mkdir(mode=0o755)
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
        # Precompressed pages: <name>.gz as it is to a client that accepts
        # gzip, with Vary: Accept-Encoding as the shop sends; the charset
        # on text/html as the shop's pages have it.
        location {GZIP_DIR} {{
            gzip_static on;
            gzip_vary on;
            charset utf-8;
        }}
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

    def add_gzip_page(self, name: str, body: bytes) -> tuple[str, int]:
        """Writes `body` as `name` (PAGE_NAME: e.g. page-0.html) under
        GZIP_DIR with a `gzip -9` copy beside it, and checks that nginx sends
        the copy, with the type of the name's extension, to a client that
        accepts br and gzip. Returns the path to request and the bytes of
        the copy."""
        if not PAGE_NAME.fullmatch(name):
            fail(f"{name!r} is not a page name of ours (letters, digits, '-', then .html or .json)")
        path = GZIP_DIR + name
        file = self.root / path.lstrip("/")
        file.write_bytes(body)
        # -n: no name or time stamp in the header; -k: the plain file stays.
        done = subprocess.run(["gzip", "-9", "-n", "-k", "-f", str(file)], capture_output=True, text=True)
        if done.returncode != 0:
            fail(f"gzip -9 {name} failed: {done.stderr.strip()[-500:]}")
        gz = file.with_name(file.name + ".gz").stat().st_size
        want = PAGE_TYPES[name.rsplit(".", 1)[1]]
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}",
                                         headers={"Accept-Encoding": "br, gzip"})
        # urllib does not decode the body: its length is the bytes sent.
        with urllib.request.urlopen(request, timeout=5) as r:
            sent, coding, ctype = len(r.read()), r.headers.get("Content-Encoding"), r.headers.get("Content-Type")
        if coding != "gzip" or sent != gz or ctype != want:
            fail(f"{path} with Accept-Encoding: br, gzip answered {sent} bytes, Content-Encoding {coding}, "
                 f"Content-Type {ctype}; not the {gz} bytes of its .gz as {want}: gzip_static is not in effect")
        return path, gz

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
