#!/usr/bin/env python3
"""Soak: mixed traffic at a fixed rate on two instances, through a Redis crash.

    python3 scripts/soak.py                  # 5 minutes at 200 requests/s
    python3 scripts/soak.py --duration 60    # CI
    python3 scripts/soak.py --varnish        # three instances behind Varnish

Two release servers share one PostgreSQL database (2,000 products), one cache
Redis and one session Redis, all started here. Traffic arrives on a fixed
schedule (open loop: a late answer does not slow the next request, and its
latency counts from when it was due): anonymous browsing of pages and the
API, search, shoppers who log in, fill a cart and log out, and admin price
edits through the API. At 40% of the run the cache Redis is killed
(SIGKILL), and at 55% started again, empty.

Every response that shows the price of a product being edited is checked
against the latest edit acknowledged before the request was sent: prices
only go up, so a lower one is a stale read.

Buyers place guest orders (`POST /api/orders/`, one or two products, one or
two units each) on 8 products with small stock (2 to 12 units), on the
instances in turn, and the admin cancels some of the placed orders
(restocking them), so the products sell out, come back and change bands
all run long. Every availability a read shows of them (the product page's
"In stock (N available)" or "Out of stock", a listing card's band, the
API's `stock`, presence in the in-stock list of their category; through
Varnish too) is checked, when the run is over, against the bounds that the
changes acknowledged before the read began set (StockLedger): a read that
overlaps an order or a cancellation may show either side of it. Then no
stock may be negative (in the database, and in every API read), and per
product the units sold and not cancelled, as acknowledged and as the
database's orders hold them, must equal the initial stock minus the final. The report gives the total
requests, errors (anything but the expected status), stale reads, p99 and
the cache hit rate per window, RSS of each instance after warm-up (every
read once, then the full mix for a tenth of the run, 5 to 60 s) and at the
end, and Redis memory. Before the run, the same reads against a third
instance with the cache off give the uncached p99 that the outage is
compared with.

Exit status 1 when a check fails: any error (an order answered anything
but 201 or 409, a cancellation anything but 200), any stale read, any
availability the acknowledged stock does not allow, negative stock, units
sold that do not add up, RSS growth beyond 20%, caching not back after the
outage, and (not with --ci, since a
shared CI machine cannot promise speed) an outage p99 above the uncached
reference. Results: results/soak-<time>.json and .md (git-ignored).

With --varnish, three instances run behind one Varnish of the script's own
with the project's VCL (scripts/shoplab/varnish.py), and purge it after
each write (VARNISH_PURGE_URLS). Browsing, search and the shoppers go
through Varnish; the admin's edits go to the instances directly, one after
the other. The cache Redis is killed and restarted as above: purges must
land while Redis is away too. The same price check applies to every read
through Varnish, hits included. On top of the checks above: Varnish answers
at least a third of the anonymous reads itself (X-Varnish-Cache: HIT), no
anonymous read shows a signed-in visitor's page, and "caching resumed"
means that the responses Varnish fetches come from the app's Redis again
(no BYPASS) in the last window, since Varnish's hits hide the app's own hit
rate.

The binary is built with cargo unless STOREFRONT_BIN names one (see
scripts/bench.py).
"""

from __future__ import annotations

import argparse
import atexit
import bisect
import datetime as dt
import http.client
import json
import os
import random
import re
import shutil
import sys
import tempfile
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from shoplab import ROOT, orders, proc, services, varnish

PRODUCTS = 2000
SHOPPERS = 6
PASSWORD = "soak-password-1234"
EDITED = 12  # products whose price the admin keeps changing
WINDOW_S = 5.0
KILL_AT, RESTART_AT = 0.40, 0.55
# After Redis dies, the breaker needs a moment; p99 is compared from then on.
SETTLE_S = 3.0
RSS_GROWTH = 1.20
# The longest warm-up with the full mix before RSS is first taken.
WARM_MIX_MAX_S = 60.0
# With --varnish: instances behind it, and the share of anonymous reads it
# must answer itself. Every edit purges all lists, twice a second at the
# default rate, so this is far from all, but must be far from none.
EDGE_INSTANCES = 3
EDGE_HIT_FLOOR = 0.33

# Buyers: products with small stock, so that they sell out and their
# bands change, each the second newest of its category (the first is an
# edited one), so that its category's first page (and the in-stock one)
# always lists it. Buyers' orders and the admin's cancellations go to the
# instances themselves, one after the other.
STOCKED = 8
STOCK_START = [2, 3, 4, 5, 6, 7, 9, 12]
LOW_STOCK = 5  # "Only N left" up to this many, "In stock" above

CARD = re.compile(r'<a href="/products/([^"]+)"><span class="product-name">.*?</span></a>\s*'
                  r'<span class="product-category">.*?</span>\s*<span class="price">\$([\d.,]+)</span>', re.S)
DETAIL = re.compile(r'<p class="price">\$([\d.,]+)</p>')
PRODUCT_CARD = re.compile(r'<li class="product-card">\s*<a href="/products/([^"]+)">.*?'
                          r'<span class="stock (?:in|out)">([^<]*)</span>', re.S)
DETAIL_STOCK = re.compile(r'<p class="stock (?:in|out)">([^<]*)</p>')
CSRF = re.compile(r'name="csrf" value="([^"]*)"')
# The layout's mark of a signed-in visitor.
SIGNED_IN = b'class="signed-in"'


def say(msg: str) -> None:
    print(f"soak: {msg}", file=sys.stderr, flush=True)


def cents(price: str) -> int:
    """Cents of `1,058.99` (a page's price) or `1058.99` (the API's)."""
    units, _, frac = price.replace(",", "").partition(".")
    return int(units) * 100 + int((frac + "00")[:2])


# ------------------------------------------------------------------- HTTP


class Client:
    """Keep-alive connections per thread and port. A request that finds its
    reused connection closed by the server (idle timeout) is sent again on a
    new one, as browsers do; any other failure is an error."""

    def __init__(self) -> None:
        self.local = threading.local()

    def request(self, port: int, method: str, path: str, headers: dict | None = None,
                body: str | None = None) -> tuple[int, list[tuple[str, str]], bytes]:
        conns = self.local.__dict__.setdefault("conns", {})
        for attempt in range(2):
            reused = port in conns
            conn = conns.get(port) or http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conns[port] = conn
            try:
                conn.request(method, path, body=body, headers=headers or {})
                r = conn.getresponse()
                data = r.read()
                if r.will_close:
                    conn.close()
                    conns.pop(port, None)
                return r.status, r.getheaders(), data
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                conn.close()
                conns.pop(port, None)
                if not reused or attempt == 1:
                    raise
        raise AssertionError("unreachable")


# ------------------------------------------------------------- the catalog


@dataclass
class Catalog:
    products: list[dict]
    categories: list[dict]
    terms: list[str]
    edited: dict[int, dict]  # id -> product
    by_slug: dict[str, int]
    stocked: dict[int, dict] = field(default_factory=dict)  # id -> product, for buyers

    @staticmethod
    def load(server: services.Server, stocked_ids: list[int] = ()) -> "Catalog":
        def api(path: str) -> dict:
            status, _, body = server.get(path)
            if status != 200:
                proc.fail(f"GET {path} answered {status}")
            return json.loads(body)

        categories = api("/api/categories/?page_size=100")["results"]
        products = []
        for page in range(1, 4):
            products += api(f"/api/products/?page_size=100&page={page}")["results"]
        words = sorted({w.lower() for p in products for w in p["name"].split() if len(w) > 3})
        terms = random.Random(7).sample(words, min(20, len(words)))
        # Edited products: the first of each category's first page, where
        # category pages and listings show them too.
        edited = {}
        for c in categories:
            first = api(f"/api/products/?category__id={c['id']}")["results"]
            if first and len(edited) < EDITED:
                edited[first[0]["id"]] = first[0]
        stocked = {pid: api(f"/api/products/{pid}/") for pid in stocked_ids}
        by_slug = {p["slug"]: p["id"] for p in products + list(edited.values()) + list(stocked.values())}
        return Catalog(products, categories, terms, edited, by_slug, stocked)

    def read_urls(self) -> list[str]:
        """The anonymous reads: a finite set, so a warm-up can visit them all."""
        urls = ["/", "/categories", "/api/categories/"]
        for p in self.products + list(self.edited.values()):
            urls += [f"/products/{p['slug']}", f"/api/products/{p['id']}/"]
        for c in self.categories:
            for page in (1, 2):
                urls += [f"/categories/{c['slug']}?page={page}",
                         f"/api/products/?category__id={c['id']}&page={page}"]
        for t in map(urllib.parse.quote, self.terms):
            for page in (1, 2):
                urls += [f"/products?q={t}&page={page}", f"/api/products/?search={t}&page={page}"]
        for p in self.edited.values():
            urls += [f"/api/products/?search={urllib.parse.quote(p['name'])}"]
        return urls + self.stocked_urls()

    def stocked_urls(self) -> list[str]:
        """Reads that show a stocked product's availability: its page, its
        API detail, its category's first page and API list, both also
        filtered to products in stock, and a search for its name."""
        urls = []
        for p in self.stocked.values():
            slug = next(c["slug"] for c in self.categories if c["id"] == p["category"]["id"])
            cid = p["category"]["id"]
            urls += [f"/products/{p['slug']}", f"/api/products/{p['id']}/", f"/categories/{slug}?page=1",
                     f"/categories/{slug}?in_stock=1&page=1", f"/api/products/?category__id={cid}&page=1",
                     f"/api/products/?category__id={cid}&in_stock=true&page=1",
                     f"/api/products/?search={urllib.parse.quote(p['name'])}"]
        return urls

    def stock_in(self, path: str, body: bytes) -> tuple[list[tuple[int, int, int, str]], list[str]]:
        """What a response shows of the stocked products' stock, each as the
        range of counts it allows (low, high, as shown), and any negative
        stock an API response shows, of any product."""
        shown: list[tuple[int, int, int, str]] = []
        negative: list[str] = []
        listed: set[int] = set()
        if path.startswith("/api/"):
            data = json.loads(body)
            for item in data.get("results", [data]):
                if not isinstance(item, dict) or "stock" not in item:
                    continue
                if not isinstance(item["stock"], int) or item["stock"] < 0:
                    negative.append(f"product {item.get('id')} with stock {item['stock']!r}")
                    continue
                listed.add(item.get("id"))
                if item.get("id") in self.stocked:
                    shown.append((item["id"], item["stock"], item["stock"], f"stock {item['stock']}"))
        else:
            html = body.decode("utf-8", "replace")
            for slug, text in PRODUCT_CARD.findall(html):
                pid = self.by_slug.get(slug)
                listed.add(pid)
                if pid in self.stocked:
                    shown.append((pid, *band_range(text), f"card {text!r}"))
            if path.startswith("/products/"):
                pid = self.by_slug.get(path.split("?")[0].removeprefix("/products/"))
                m = DETAIL_STOCK.search(html)
                if pid in self.stocked and m:
                    shown.append((pid, *detail_range(m.group(1)), f"page {m.group(1)!r}"))
        # The first page of a category filtered to products in stock holds
        # its stocked product exactly when that is in stock (it is the
        # category's second newest): there, absence shows "sold out".
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
        if query.get("in_stock", [""])[0] in ("1", "true") and query.get("page", ["1"])[0] == "1":
            for pid, p in self.stocked.items():
                own = (str(p["category"]["id"]) in query.get("category__id", [])
                       or path.startswith(f"/categories/{self.category_slug(p)}?"))
                if own:
                    shown.append((pid, 1, MANY, "in the in-stock list") if pid in listed
                                 else (pid, 0, 0, "absent from the in-stock list"))
        return shown, negative

    def category_slug(self, p: dict) -> str:
        return next(c["slug"] for c in self.categories if c["id"] == p["category"]["id"])

    def edited_urls(self) -> list[str]:
        """Reads that show an edited product's price."""
        urls = []
        for p in self.edited.values():
            slug = next(c["slug"] for c in self.categories if c["id"] == p["category"]["id"])
            urls += [f"/products/{p['slug']}", f"/api/products/{p['id']}/", f"/categories/{slug}?page=1",
                     f"/api/products/?category__id={p['category']['id']}&page=1",
                     f"/api/products/?search={urllib.parse.quote(p['name'])}"]
        return urls

    def prices_in(self, path: str, body: bytes) -> dict[int, int]:
        """Edited products' prices (in cents) shown by a response."""
        seen: dict[int, int] = {}
        if path.startswith("/api/"):
            data = json.loads(body)
            for item in data.get("results", [data]):
                if isinstance(item, dict) and item.get("id") in self.edited:
                    seen[item["id"]] = cents(item["price"])
            return seen
        html = body.decode("utf-8", "replace")
        for slug, price in CARD.findall(html):
            if self.by_slug.get(slug) in self.edited:
                seen[self.by_slug[slug]] = cents(price)
        if path.startswith("/products/"):
            pid = self.by_slug.get(path.split("?")[0].removeprefix("/products/"))
            m = DETAIL.search(html)
            if pid in self.edited and m:
                seen[pid] = cents(m.group(1))
        return seen


MANY = 2**31  # "In stock": more than LOW_STOCK, however many


def band_range(text: str) -> tuple[int, int]:
    """The counts a listing card's band allows."""
    if text == "In stock":
        return LOW_STOCK + 1, MANY
    if text == "Sold out":
        return 0, 0
    m = re.fullmatch(r"Only (\d+) left", text)
    if not m:
        raise ValueError(f"a listing card shows {text!r}")
    return int(m.group(1)), int(m.group(1))


def detail_range(text: str) -> tuple[int, int]:
    """The counts a product page allows."""
    if text == "Out of stock":
        return 0, 0
    m = re.fullmatch(r"In stock \((\d+) available\)", text)
    if not m:
        raise ValueError(f"a product page shows {text!r}")
    return int(m.group(1)), int(m.group(1))


@dataclass
class StockLedger:
    """Buyers' orders and the admin's cancellations as the client saw them,
    and what every read showed of the stocked products; checked at the end,
    when every answer is in.

    Each change happened at some moment between its request being sent and
    its answer arriving. A read that began at `start` and ended at `end`
    must show a count between
      low  = initial − every order sent before `end` (placed, or unanswered)
                     + every cancellation acknowledged before `start`
      high = initial − every order acknowledged before `start`
                     + every cancellation sent before `end` (done, or unanswered):
    changes acknowledged before it began must show; changes in flight may."""
    initial: dict[int, int]
    lock: threading.Lock = field(default_factory=threading.Lock)
    attempts: list[orders.Attempt] = field(default_factory=list)
    reads: list[tuple[int, int, int, str, float, float, str]] = field(default_factory=list)
    negative: list[str] = field(default_factory=list)
    initial_slug: dict[int, str] = field(default_factory=dict)
    # Placed orders not cancelled yet, for the admin to cancel.
    pending: list[orders.Attempt] = field(default_factory=list)

    def attempt(self, a: orders.Attempt) -> None:
        with self.lock:
            self.attempts.append(a)
            if a.kind == "order" and a.acked:
                self.pending.append(a)

    def take_pending(self, rng: random.Random) -> orders.Attempt | None:
        with self.lock:
            return self.pending.pop(rng.randrange(len(self.pending))) if self.pending else None

    def saw(self, shown: list[tuple[int, int, int, str]], negative: list[str], start: float, end: float,
            where: str) -> None:
        with self.lock:
            self.reads += [(pid, lo, hi, text, start, end, where) for pid, lo, hi, text in shown]
            self.negative += [f"{where}: {n}" for n in negative]

    def verify(self, begun: float) -> list[str]:
        """Every read against the bounds; a message per inconsistent one."""
        # Per product and direction, the changes' quantities by send time
        # and by acknowledgement time (never, if unanswered), for prefix sums.
        def prefix(points: list[tuple[float, int]]) -> tuple[list[float], list[int]]:
            points.sort()
            times, sums, total = [], [0], 0
            for t, q in points:
                times.append(t)
                total += q
                sums.append(total)
            return times, sums

        def upto(index: tuple[list[float], list[int]], t: float) -> int:
            return index[1][bisect.bisect_left(index[0], t)]

        unanswered = {id(a) for a in self.attempts if a.status <= 0 or a.status >= 500}
        by: dict[tuple[int, str, str], list[tuple[float, int]]] = {}
        for a in self.attempts:
            if not (a.acked or id(a) in unanswered):
                continue  # refused (409, 4xx): nothing changed
            for pid, q in a.lines:
                by.setdefault((pid, a.kind, "sent"), []).append((a.sent, q))
                if a.acked:
                    by.setdefault((pid, a.kind, "acked"), []).append((a.done, q))
        index = {k: prefix(v) for k, v in by.items()}
        empty: tuple[list[float], list[int]] = ([], [0])
        last_ack: dict[int, list[tuple[float, orders.Attempt]]] = {}
        for a in sorted((a for a in self.attempts if a.acked), key=lambda a: a.done):
            for pid, _ in a.lines:
                last_ack.setdefault(pid, []).append((a.done, a))
        problems = []
        for pid, lo, hi, text, start, end, where in self.reads:
            get = lambda kind, when: index.get((pid, kind, when), empty)
            low = (self.initial[pid] - upto(get("order", "sent"), end) + upto(get("cancel", "acked"), start))
            high = (self.initial[pid] - upto(get("order", "acked"), start) + upto(get("cancel", "sent"), end))
            if hi < low or lo > high:
                acks = last_ack.get(pid, [])
                i = bisect.bisect_left([t for t, _ in acks], start)
                before = (f"; the last change acknowledged before it: {acks[i - 1][1].kind} "
                          f"{acks[i - 1][1].number} {acks[i - 1][1].lines}, "
                          f"{(start - acks[i - 1][0]) * 1000:.1f} ms before") if i else ""
                allowed = f"{low}" if low == high else f"{low} to {high}"
                problems.append(f"{where} at {start - begun:.2f} s: product {pid} "
                                f"({self.initial_slug.get(pid, '?')}) shown as {text}, but what was acknowledged "
                                f"before the request allows {allowed} available{before}")
        return problems


# ---------------------------------------------------------------- the run


@dataclass
class Outcome:
    due: float  # seconds since the run began
    latency_ms: float
    kind: str
    ok: bool
    cache: str = ""
    note: str = ""
    edge: str = ""  # X-Varnish-Cache, through Varnish


@dataclass
class Ledger:
    """Acknowledged edits, and what the readers saw."""
    lock: threading.Lock = field(default_factory=threading.Lock)
    acked: dict[int, list[tuple[float, int]]] = field(default_factory=dict)  # id -> [(ack time, cents)]
    checked: int = 0
    stale: list[str] = field(default_factory=list)

    def ack(self, pid: int, value: int) -> None:
        with self.lock:
            self.acked.setdefault(pid, []).append((time.monotonic(), value))

    def check(self, sent: float, seen: dict[int, int], where: str) -> None:
        with self.lock:
            for pid, value in seen.items():
                self.checked += 1
                required, at = max(((v, t) for t, v in self.acked.get(pid, []) if t < sent), default=(0, sent))
                if value < required:
                    self.stale.append(f"{where}: product {pid} at {value / 100:.2f}, but {required / 100:.2f} "
                                      f"was acknowledged {(sent - at) * 1000:.1f} ms before the request")


class Shopper:
    """Logs in, adds to the cart, looks at it, logs out, and again; one step
    per turn, and one turn at a time."""

    STEPS = ["login_form", "login", "product", "add", "cart", "logout"]

    def __init__(self, email: str, port: int, catalog: Catalog) -> None:
        self.email, self.port, self.catalog = email, port, catalog
        self.busy = threading.Lock()
        self.step = 0
        self.cookies: dict[str, str] = {}
        self.csrf = ""
        self.product: dict = {}

    def turn(self, client: Client) -> tuple[str, int, bool, str]:
        """One step: (kind, status, ok, note)."""
        name = self.STEPS[self.step]
        self.step = (self.step + 1) % len(self.STEPS)
        form = None
        if name == "login_form":
            self.cookies.clear()
            method, path, expect = "GET", "/login", 200
        elif name == "login":
            method, path, expect = "POST", "/login", 303
            form = {"email": self.email, "password": PASSWORD, "csrf": self.csrf}
        elif name == "product":
            # Well stocked: the buyers sell the scarce products out, and a
            # cart add of a sold-out one is rightly refused (409).
            self.product = random.choice([p for p in self.catalog.products if p["stock"] > 20])
            method, path, expect = "GET", f"/products/{self.product['slug']}", 200
        elif name == "add":
            method, path, expect = "POST", "/cart/add", 303
            form = {"csrf": self.csrf, "product_id": str(self.product["id"]), "quantity": "1"}
        elif name == "cart":
            method, path, expect = "GET", "/cart", 200
        else:
            method, path, expect = "POST", "/logout", 303
            form = {"csrf": self.csrf}
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} if self.cookies else {}
        body = None
        if form is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            body = urllib.parse.urlencode(form)
        status, response_headers, data = client.request(self.port, method, path, headers, body)
        for k, v in response_headers:
            if k.lower() == "set-cookie":
                name_value = v.split(";", 1)[0]
                key, _, value = name_value.partition("=")
                self.cookies[key] = value
        if m := CSRF.search(data.decode("utf-8", "replace")):
            self.csrf = m.group(1)
        ok = status == expect
        if not ok:
            self.step = 0  # start over with a fresh session
        return f"shop:{name}", status, ok, f"{method} {path} -> {status}"


class Run:
    """Reads go to `ports` (the instances, or Varnish); edits to
    `edit_ports`, the instances themselves."""

    def __init__(self, client: Client, ports: list[int], catalog: Catalog, ledger: Ledger,
                 shoppers: list[Shopper], token: str, edit_ports: list[int] | None = None,
                 edge: bool = False, stock: StockLedger | None = None) -> None:
        self.client, self.ports, self.catalog, self.ledger = client, ports, catalog, ledger
        self.stock = stock or StockLedger({})
        self.shoppers, self.token = shoppers, token
        self.edit_ports = edit_ports or ports
        self.edge = edge
        self.reads = catalog.read_urls()
        self.searches = [u for u in self.reads if "q=" in u or "search=" in u]
        self.edited_reads = catalog.edited_urls()
        self.stocked_reads = catalog.stocked_urls()
        self.buys = 0
        self.outcomes: list[Outcome] = []
        self.lock = threading.Lock()
        self.begun = 0.0
        self.price_step = 0
        self.rng = random.Random(11)

    def record(self, outcome: Outcome) -> None:
        with self.lock:
            self.outcomes.append(outcome)

    def read(self, path: str, port: int, due: float, kind: str) -> None:
        sent = time.monotonic()
        try:
            status, headers, body = self.client.request(port, "GET", path)
        except OSError as e:
            self.record(Outcome(due, (time.monotonic() - self.begun - due) * 1000, kind, False,
                                note=f"GET {path}: {e}"))
            return
        latency = (time.monotonic() - self.begun - due) * 1000
        found = {k.lower(): v for k, v in headers}
        cache, edge = found.get("x-cache", ""), found.get("x-varnish-cache", "")
        where = f"GET {path} on :{port}"
        if self.edge:
            where += f" (Varnish {edge}, age {found.get('age', '?')} s, app {cache})"
        ok, note = status == 200, f"GET {path} -> {status}"
        if ok:
            self.ledger.check(sent, self.catalog.prices_in(path, body), where)
            try:
                shown, negative = self.catalog.stock_in(path, body)
            except ValueError as e:
                ok, note = False, f"{where}: {e}"
            else:
                self.stock.saw(shown, negative, sent, time.monotonic(), where)
        if ok and self.edge and SIGNED_IN in body:
            ok, note = False, f"{where}: a signed-in visitor's page, shown to an anonymous reader"
        self.record(Outcome(due, latency, kind, ok, cache, note, edge))

    def edit(self, due: float) -> None:
        pid = list(self.catalog.edited)[self.price_step % len(self.catalog.edited)]
        with self.lock:
            self.price_step += 1
            value = 500_000 + self.price_step  # cents; every edit is higher than the last
        port = self.edit_ports[self.price_step % len(self.edit_ports)]
        body = json.dumps({"price": f"{value // 100}.{value % 100:02d}"})
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        try:
            status, _, _ = self.client.request(port, "PATCH", f"/api/products/{pid}/", headers, body)
        except OSError as e:
            status = 0
            note = str(e)
        else:
            note = f"PATCH product {pid} on :{port} -> {status}"
        if status == 200:
            self.ledger.ack(pid, value)
        self.record(Outcome(due, (time.monotonic() - self.begun - due) * 1000, "admin:edit", status == 200,
                            note=note))

    def send(self, port: int, method: str, path: str, headers: dict, body: str | None) -> tuple[int, bytes]:
        status, _, data = self.client.request(port, method, path, headers, body)
        return status, data

    def buy(self, due: float) -> None:
        """A guest's order of one or two stocked products, on the instances
        in turn: placed (201) or refused for short stock (409)."""
        with self.lock:
            self.buys += 1
            n = self.buys
            products = self.rng.sample(list(self.catalog.stocked), 2 if self.rng.random() < 0.25 else 1)
            lines = sorted((pid, self.rng.choice((1, 1, 2))) for pid in products)
        attempt = orders.place(self.send, self.edit_ports[n % len(self.edit_ports)], lines)
        self.stock.attempt(attempt)
        self.record(Outcome(due, (time.monotonic() - self.begun - due) * 1000, "buy", attempt.status in (201, 409),
                            note=attempt.note))

    def cancel(self, due: float) -> None:
        """The admin cancels a placed order, which restocks its lines."""
        with self.lock:
            order = self.stock.take_pending(self.rng)
            port = self.edit_ports[self.rng.randrange(len(self.edit_ports))]
        if order is None:
            return
        attempt = orders.cancel(self.send, port, self.token, order)
        self.stock.attempt(attempt)
        self.record(Outcome(due, (time.monotonic() - self.begun - due) * 1000, "admin:cancel", attempt.acked,
                            note=attempt.note))

    def shop(self, due: float) -> None:
        free = [s for s in self.shoppers if s.busy.acquire(blocking=False)]
        if not free:
            return self.read(self.rng.choice(self.reads), self.rng.choice(self.ports), due, "browse")
        shopper, rest = free[0], free[1:]
        for s in rest:
            s.busy.release()
        try:
            kind, _, ok, note = shopper.turn(self.client)
        except OSError as e:
            kind, ok, note = "shop", False, str(e)
        finally:
            shopper.busy.release()
        self.record(Outcome(due, (time.monotonic() - self.begun - due) * 1000, kind, ok, note=note))

    def job(self, n: int, due: float) -> None:
        roll = self.rng.random()
        port = self.ports[n % len(self.ports)]
        if n % 100 == 0:
            self.edit(due)
        elif n % 20 == 10 and self.catalog.stocked:
            self.buy(due)
        elif n % 50 == 25 and self.catalog.stocked:
            self.cancel(due)
        elif roll < 0.10:
            self.shop(due)
        elif roll < 0.20:
            self.read(self.rng.choice(self.searches), port, due, "search")
        elif roll < 0.35:
            self.read(self.rng.choice(self.edited_reads), port, due, "browse")
        elif roll < 0.55 and self.stocked_reads:
            self.read(self.rng.choice(self.stocked_reads), port, due, "browse")
        else:
            self.read(self.rng.choice(self.reads), port, due, "browse")

    def drive(self, rate: float, seconds: float, events: list[tuple[float, callable]] = ()) -> None:
        """Sends rate × seconds jobs on schedule; runs `events` at their times."""
        pending = sorted(events, key=lambda e: e[0])
        with ThreadPoolExecutor(max_workers=96) as pool:
            self.begun = time.monotonic()
            n = 0
            while (due := n / rate) < seconds:
                while pending and pending[0][0] <= due:
                    pool.submit(pending.pop(0)[1])
                delay = self.begun + due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                pool.submit(self.job, n, due)
                n += 1


# ------------------------------------------------------------- reporting


def p99(values: list[float]) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def windows(outcomes: list[Outcome], seconds: float, kill: float, back: float,
            rss: dict[float, list[float]]) -> list[dict]:
    rows = []
    start = 0.0
    while start < seconds:
        inside = [o for o in outcomes if start <= o.due < start + WINDOW_S]
        reads = [o for o in inside if o.kind in ("browse", "search")]
        # A Varnish hit repeats the X-Cache of its fetch: only the app's
        # fresh answers count for its own hit rate.
        cached = [o for o in reads if o.cache and o.edge != "HIT"]
        edged = [o for o in reads if o.edge]
        phase = "before" if start + WINDOW_S <= kill else "outage" if start >= kill and start + WINDOW_S <= back \
            else "after" if start >= back else "change"
        rows.append({
            "from_s": start, "phase": phase, "requests": len(inside), "errors": sum(not o.ok for o in inside),
            "p99_ms": round(p99([o.latency_ms for o in inside]), 1),
            "hit_rate": round(sum(o.cache == "HIT" for o in cached) / len(cached), 3) if cached else 0.0,
            "rss_mb": " / ".join(f"{m:.0f}" for m in rss.get(start, [])),
            "edge_hit_rate": round(sum(o.edge == "HIT" for o in edged) / len(edged), 3) if edged else 0.0,
            "fetched": len(cached), "bypass": sum(o.cache == "BYPASS" for o in cached),
        })
        start += WINDOW_S
    return rows


def markdown(report: dict) -> str:
    edge = "varnish_hit_rate" in report
    lines = [f"# Soak, {report['when']}", "", f"`{report['command']}`", "",
             "| what | value |", "| --- | --- |"]
    keys = ["duration_s", "rate", "requests", "errors", "reads_checked", "stale_reads", "uncached_p99_ms",
            "outage_p99_ms", "rss_mb", "redis_used_memory_mb", "hit_rate", "orders", "cancellations",
            "availability_checked", "availability_inconsistent", "stock"]
    if edge:
        keys += ["instances", "varnish_hit_rate", "varnish_counters"]
    for k in keys:
        lines.append(f"| {k} | {report[k]} |")
    if edge:
        lines += ["", "hit rate: the app's, over the responses Varnish fetched (a Varnish hit repeats the X-Cache "
                      "of its fetch); BYPASS: fetches the app answered without Redis.", "",
                  "| from s | phase | requests | errors | p99 ms | Varnish hit rate | fetched | hit rate | BYPASS "
                  "| RSS MB |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for w in report["windows"]:
            lines.append(f"| {w['from_s']:.0f} | {w['phase']} | {w['requests']} | {w['errors']} | {w['p99_ms']} "
                         f"| {w['edge_hit_rate']} | {w['fetched']} | {w['hit_rate']} | {w['bypass']} "
                         f"| {w['rss_mb']} |")
    else:
        lines += ["", "| from s | phase | requests | errors | p99 ms | hit rate | RSS MB |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for w in report["windows"]:
            lines.append(f"| {w['from_s']:.0f} | {w['phase']} | {w['requests']} | {w['errors']} | {w['p99_ms']} "
                         f"| {w['hit_rate']} | {w['rss_mb']} |")
    lines += ["", "| check | ok |", "| --- | --- |"]
    lines += [f"| {c['name']}: {c['detail']} | {'yes' if c['ok'] else 'NO'} |" for c in report["checks"]]
    return "\n".join(lines) + "\n"


def stock_report(stock: StockLedger, final: dict[int, int], sold_db: dict[int, int],
                 begun: float) -> tuple[dict, list[tuple[str, str, bool]]]:
    """The buyers' figures and checks: every availability shown against the
    bounds, no negative stock (in the database at the end, in every API
    read), and per product: units sold and not cancelled, as acknowledged
    and as the database's orders hold them, equal to the stock taken."""
    problems = stock.verify(begun)
    placed = [a for a in stock.attempts if a.kind == "order" and a.acked]
    refused = [a for a in stock.attempts if a.kind == "order" and a.status == 409]
    cancels = [a for a in stock.attempts if a.kind == "cancel" and a.acked]
    unanswered = [a for a in stock.attempts if not a.acked and a.status != 409]
    negative_db = {pid: n for pid, n in final.items() if n < 0}
    # An unanswered request may or may not have changed the stock: then
    # only the database's side of the accounting is exact.
    exact = not unanswered
    accounting = []
    for pid, start in stock.initial.items():
        sold = sum(q for a in placed for p, q in a.lines if p == pid)
        restocked = sum(q for a in cancels for p, q in a.lines if p == pid)
        taken = start - final[pid]
        if sold_db[pid] != taken or (exact and sold - restocked != taken):
            accounting.append(f"product {pid} ({stock.initial_slug.get(pid, '?')}): {start} at the start, "
                              f"{final[pid]} at the end, so {taken} taken; {sold} sold in acknowledged orders, "
                              f"{restocked} restocked by acknowledged cancellations, so {sold - restocked}; "
                              f"the database's orders not cancelled hold {sold_db[pid]}")
    figures = {
        "orders": f"{len(placed)} placed, {len(refused)} refused for stock, {len(unanswered)} other",
        "cancellations": len(cancels),
        "availability_checked": len(stock.reads),
        "availability_inconsistent": len(problems),
        "stock": ", ".join(f"{pid}: {n} → {final[pid]}" for pid, n in stock.initial.items()),
        "stock_samples": (problems + stock.negative + accounting)[:10],
    }
    checks = [
        ("availability shown", f"{len(problems)} of {len(stock.reads)} inconsistent with the stock acknowledged "
         "before the request", not problems and len(stock.reads) > 0),
        ("negative stock", f"{len(negative_db)} products in the database, {len(stock.negative)} in API reads",
         not negative_db and not stock.negative),
        ("units sold", f"{len(stock.initial) - len(accounting)} of {len(stock.initial)} products: sold − restocked "
         "= initial − final, acknowledged and in the database" + ("" if exact else
         f" (not exact: {len(unanswered)} order or cancellation requests unanswered)"), not accounting),
        ("buyers", f"{len(placed)} orders placed, {len(cancels)} cancelled", len(placed) > 0 and len(cancels) > 0),
    ]
    return figures, checks


# ------------------------------------------------------------------ main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=300, help="seconds of traffic (default 300)")
    parser.add_argument("--rate", type=float, default=200, help="requests per second, all instances (default 200)")
    parser.add_argument("--ci", action="store_true", help="do not fail on the outage's latency")
    parser.add_argument("--varnish", action="store_true", help=f"{EDGE_INSTANCES} instances behind Varnish")
    parser.add_argument("--pg", default=os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432"))
    args = parser.parse_args()

    services.preflight(args.pg)
    if args.varnish:
        varnish.preflight()
    binary = services.build()
    say(f"seeding {PRODUCTS} products")
    env, _, token = services.prepare_database(binary, args.pg, PRODUCTS, name="storefront_soak")
    for n in range(SHOPPERS):
        proc.run([str(binary), "user", "create", "--email", f"shopper{n}@example.com"],
                 env=dict(env, STOREFRONT_PASSWORD=PASSWORD))
    db_url = env["DATABASE_URL"]
    # The buyers' products, given their small stock before anything is cached.
    stocked_ids = [int(r[0]) for r in orders.psql(
        db_url, "SELECT id FROM (SELECT id, category_id, row_number() OVER (PARTITION BY category_id "
                "ORDER BY created_at DESC, id DESC) AS r FROM products WHERE is_active) t WHERE r = 2 "
                f"ORDER BY category_id LIMIT {STOCKED}")]
    initial = {pid: STOCK_START[i % len(STOCK_START)] for i, pid in enumerate(stocked_ids)}
    if initial:
        orders.psql(db_url, "UPDATE products SET stock = CASE id " + " ".join(
            f"WHEN {pid} THEN {n}" for pid, n in initial.items()) + f" END WHERE id IN ({', '.join(map(str, initial))})")
    stock = StockLedger(initial)
    cache_redis, session_redis = services.Redis(), services.Redis()
    # The buyers' confirmations go to .eml files in a directory of the run's own.
    mail_dir = tempfile.mkdtemp(prefix="storefront-soak-mail-")
    atexit.register(shutil.rmtree, mail_dir, ignore_errors=True)
    env = dict(env, REDIS_URL=cache_redis.url, SESSION_REDIS_URL=session_redis.url, RUST_LOG="warn",
               MAIL_DIR=mail_dir)
    servers: list[services.Server] = []
    # Varnish's port first: the instances are told at start where to purge.
    edge = varnish.Varnish() if args.varnish else None
    app_env = dict(env, VARNISH_PURGE_URLS=edge.url) if edge else env
    try:
        servers = [services.Server(binary, app_env, cache=True) for _ in range(EDGE_INSTANCES if edge else 2)]
        ports = [s.port for s in servers]
        if edge:
            edge.start(ports)
        # Where the readers and shoppers go.
        front = [edge.port] if edge else ports
        catalog = Catalog.load(servers[0], stocked_ids)
        stock.initial_slug = {pid: p["slug"] for pid, p in catalog.stocked.items()}
        soak_begun = time.monotonic()
        client = Client()

        # The uncached reference: the same reads, cache off.
        uncached = services.Server(binary, env, cache=False)
        reference = Run(client, [uncached.port], catalog, Ledger(), [], token)
        reference.job = lambda n, due: reference.read(reference.rng.choice(reference.reads), uncached.port, due,
                                                      "browse")
        say("uncached reference, 5 s")
        reference.drive(args.rate, 5)
        uncached.stop()
        uncached_p99 = p99([o.latency_ms for o in reference.outcomes])

        # Warm-up: every read once on each instance, and each shopper's whole
        # round, so caches, pools and allocator arenas reach their working
        # size before RSS is taken; the run then shows growth, not start-up.
        # Through Varnish, each instance first, then Varnish itself.
        say(f"warming {len(catalog.read_urls())} URLs on {len(servers)} instances" + (" and Varnish" if edge else ""))
        shoppers = [Shopper(f"shopper{n}@example.com", front[n % len(front)], catalog) for n in range(SHOPPERS)]
        run = Run(client, front, catalog, Ledger(), shoppers, token, edit_ports=ports, edge=bool(edge), stock=stock)
        with ThreadPoolExecutor(max_workers=8) as pool:
            missing = {}
            for port in ports + ([edge.port] if edge else []):
                statuses = pool.map(lambda path, port=port: client.request(port, "GET", path)[0], run.reads)
                missing.update({path: status for path, status in zip(run.reads, statuses) if status != 200})

            # Shoppers at once, twice round, so that every password hashing
            # thread has taken its working memory.
            def rounds(shopper: Shopper) -> None:
                for _ in range(2 * len(Shopper.STEPS)):
                    _, _, ok, note = shopper.turn(client)
                    if not ok:
                        proc.fail(f"warm-up: {note}")

            list(pool.map(rounds, shoppers))
        # Pages past the end of a short search answer 404, as they should;
        # the run asks only for pages that exist.
        run.reads = [u for u in run.reads if u not in missing]
        run.searches = [u for u in run.searches if u not in missing]
        # Then the whole mix at the run's rate for a while: open-loop
        # traffic holds more connections, threads and arenas at once than
        # the rounds above, and a 15-minute run showed most of its growth in
        # its first minute without this. Its edits and reads are checked
        # like the run's; its latencies are not reported.
        warm_s = min(WARM_MIX_MAX_S, max(5.0, args.duration / 10))
        say(f"warming with the full mix, {warm_s:.0f} s")
        run.drive(args.rate, warm_s)
        warm_errors = [o for o in run.outcomes if not o.ok]
        if warm_errors:
            proc.fail(f"warm-up: {len(warm_errors)} errors, first: {warm_errors[0].note}")
        run.outcomes = []
        rss_start = [s.rss_mb() for s in servers]

        kill, back = args.duration * KILL_AT, args.duration * RESTART_AT
        redis_memory = {}

        def kill_redis() -> None:
            redis_memory["before_kill"] = int(cache_redis.cli("INFO", "memory").split("used_memory:")[1].split()[0])
            say("killing the cache Redis")
            cache_redis.kill()

        def restart_redis() -> None:
            say("starting the cache Redis again, empty")
            cache_redis.start()

        rss: dict[float, list[float]] = {}

        def sample_rss(at: float) -> None:
            rss[at] = [s.rss_mb() for s in servers]

        events = [(kill, kill_redis), (back, restart_redis)]
        events += [(at, lambda at=at: sample_rss(at)) for at in range(0, int(args.duration), int(WINDOW_S))]
        say(f"{args.duration:.0f} s at {args.rate:.0f} requests/s")
        run.drive(args.rate, args.duration, events)
        rss_end = [s.rss_mb() for s in servers]
        redis_memory["end"] = int(cache_redis.cli("INFO", "memory").split("used_memory:")[1].split()[0])
        edge_counters = edge.counters() if edge else {}
        final_stock = orders.stock_levels(db_url)
        sold_db = orders.sold_in_database(db_url, list(initial))
    finally:
        for s in servers:
            s.stop()
        if edge:
            edge.stop()
        cache_redis.stop()
        session_redis.stop()

    outcomes = run.outcomes
    rows = windows(outcomes, args.duration, kill, back, rss)
    outage = [o.latency_ms for o in outcomes if kill + SETTLE_S <= o.due < back and o.kind in ("browse", "search")]
    errors = [o for o in outcomes if not o.ok]
    tail = [w for w in rows if w["phase"] == "after"][-2:]
    # The first window is the pool's start; edits keep the rate below 1.
    before_hits = [w["hit_rate"] for w in rows if w["phase"] == "before"][1:]
    usual = sum(before_hits) / len(before_hits) if before_hits else 0.0
    reads = [o for o in outcomes if o.cache and o.edge != "HIT"]
    report = {
        "when": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python3 scripts/soak.py " + " ".join(sys.argv[1:]),
        "duration_s": args.duration, "rate": args.rate, "requests": len(outcomes), "errors": len(errors),
        "error_samples": [o.note for o in errors[:10]],
        "reads_checked": run.ledger.checked, "stale_reads": len(run.ledger.stale),
        "stale_samples": run.ledger.stale[:10],
        "uncached_p99_ms": round(uncached_p99, 1), "outage_p99_ms": round(p99(outage), 1),
        "rss_mb": " / ".join(f"{a:.1f} → {b:.1f}" for a, b in zip(rss_start, rss_end)),
        "redis_used_memory_mb": " / ".join(f"{k} {v / 2**20:.1f}" for k, v in redis_memory.items()),
        "hit_rate": round(sum(o.cache == "HIT" for o in reads) / len(reads), 3) if reads else 0.0,
        "windows": rows,
    }
    checks = [
        ("errors", f"{len(errors)} of {len(outcomes)}", not errors),
        ("stale reads", f"{len(run.ledger.stale)} of {run.ledger.checked} prices checked", not run.ledger.stale),
        ("RSS growth", report["rss_mb"] + " MB", all(b <= a * RSS_GROWTH for a, b in zip(rss_start, rss_end))),
    ]
    if edge:
        anonymous = [o for o in outcomes if o.kind in ("browse", "search") and o.edge]
        edge_rate = sum(o.edge == "HIT" for o in anonymous) / len(anonymous) if anonymous else 0.0
        report.update(instances=len(servers), varnish_hit_rate=round(edge_rate, 3), varnish_counters=edge_counters)
        last = tail[-1] if tail else {"fetched": 0, "bypass": 0}
        checks += [
            ("Varnish hit rate", f"{edge_rate:.3f} of {len(anonymous)} anonymous reads, at least {EDGE_HIT_FLOOR}",
             edge_rate >= EDGE_HIT_FLOOR),
            ("caching resumed", f"{last['bypass']} of the {last['fetched']} fetches in the last window answered "
             "without Redis (BYPASS)", last["fetched"] > 0 and last["bypass"] == 0),
        ]
    else:
        checks.append(("caching resumed", f"hit rate {tail[-1]['hit_rate'] if tail else 'none'} in the last window, "
                       f"{usual:.3f} before the outage", bool(tail) and tail[-1]["hit_rate"] >= 0.8 * usual))
    if not args.ci:
        limit = max(2 * uncached_p99, uncached_p99 + 25)
        checks.append(("outage p99", f"{report['outage_p99_ms']} ms against {limit:.1f} ms", p99(outage) <= limit))
    buying, buy_checks = stock_report(stock, final_stock, sold_db, soak_begun)
    report.update(buying)
    checks += buy_checks
    report["checks"] = [{"name": n, "detail": d, "ok": ok} for n, d, ok in checks]

    out = ROOT / "results"
    out.mkdir(exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    (out / f"soak-{stamp}.json").write_text(json.dumps(report, indent=2))
    text = markdown(report)
    (out / f"soak-{stamp}.md").write_text(text)
    print(text)
    for sample in report["error_samples"] + report["stale_samples"] + report["stock_samples"]:
        say(sample)
    failed = [c for c in report["checks"] if not c["ok"]]
    for c in failed:
        say(f"FAILED {c['name']}: {c['detail']}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
