"""Orders for the benchmark and the soak: placing one through the API as a
guest, cancelling one as an admin, an order generator paced at a fixed rate,
and the stock as the database holds it.

Requests go through a `send(port, method, path, headers, body)` the caller
gives, returning `(status, body)`: the benchmark opens a connection per
request, the soak keeps them alive per thread.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

from .proc import fail

Send = Callable[[int, str, str, dict, "str | None"], "tuple[int, bytes]"]

SHIPPING = {"name": "Load Test", "line1": "1 Harness Street", "city": "Lyon", "postal_code": "69001",
            "country": "FR"}


def order_body(lines: list[tuple[int, int]], email: str = "buyer@example.com") -> str:
    """The JSON of `POST /api/orders/` for (product id, quantity) lines."""
    return json.dumps({"email": email, "shipping": SHIPPING,
                       "lines": [{"product_id": pid, "quantity": q} for pid, q in lines]})


@dataclass
class Attempt:
    """One order or cancellation as the client saw it. `acked` is None when
    no answer came (the change may or may not have happened)."""
    kind: str  # "order" or "cancel"
    lines: list[tuple[int, int]]
    port: int
    sent: float  # time.monotonic() when sent
    done: float  # when the answer (or the failure) came
    status: int  # 0: no answer
    number: str = ""
    note: str = ""

    @property
    def acked(self) -> bool:
        return (self.kind == "order" and self.status == 201) or (self.kind == "cancel" and self.status == 200)


def place(send: Send, port: int, lines: list[tuple[int, int]]) -> Attempt:
    """Places a guest order (no credentials, so no CSRF header is needed)."""
    sent = time.monotonic()
    try:
        status, body = send(port, "POST", "/api/orders/", {"Content-Type": "application/json"}, order_body(lines))
    except OSError as e:
        return Attempt("order", lines, port, sent, time.monotonic(), 0, note=f"POST /api/orders/ on :{port}: {e}")
    done = time.monotonic()
    number = ""
    if status == 201:
        try:
            number = json.loads(body)["number"]
        except (ValueError, KeyError, TypeError):
            status = -201  # a 201 without an order is not one
    return Attempt("order", lines, port, sent, done, status, number,
                   f"POST /api/orders/ {lines} on :{port} -> {status}: {body[:160]!r}")


def cancel(send: Send, port: int, token: str, order: Attempt) -> Attempt:
    """Cancels a placed order as the admin, which restocks its lines."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    path = f"/api/orders/{order.number}/"
    sent = time.monotonic()
    try:
        status, body = send(port, "PATCH", path, headers, json.dumps({"status": "cancelled"}))
    except OSError as e:
        return Attempt("cancel", order.lines, port, sent, time.monotonic(), 0, order.number,
                       f"PATCH {path} on :{port}: {e}")
    done = time.monotonic()
    if status == 200:
        try:
            if json.loads(body)["status"] != "cancelled":
                status = -200
        except (ValueError, KeyError, TypeError):
            status = -200
    return Attempt("cancel", order.lines, port, sent, done, status, order.number,
                   f"PATCH {path} cancelled on :{port} -> {status}: {body[:160]!r}")


@dataclass
class Pacer:
    """Calls `job(n)` `rate` times a second on a pool of threads, on a fixed
    schedule (open loop: a slow answer does not delay the next call), from
    `start` until `stop`. `late` keeps how far behind schedule calls began."""
    rate: float
    job: Callable[[int], None]
    workers: int = 8
    late: list[float] = field(default_factory=list)
    sent: int = 0

    def start(self) -> None:
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        if self.rate <= 0:
            return
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            begun = time.monotonic()
            n = 0
            while not self.stopping.is_set():
                delay = begun + n / self.rate - time.monotonic()
                if delay > 0 and self.stopping.wait(delay):
                    break
                self.late.append(max(0.0, -delay))
                pool.submit(self.job, n)
                n += 1
                self.sent = n

    def stop(self) -> None:
        """Stops scheduling and waits for the calls under way."""
        self.stopping.set()
        self.thread.join()


# ------------------------------------------------------------ the database


def psql(db_url: str, sql: str) -> list[list[str]]:
    """Runs SQL against the database; rows of the last statement, as text."""
    done = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-d", db_url,
                           "-c", sql], capture_output=True, text=True)
    if done.returncode != 0:
        fail(f"psql: {done.stderr.strip()[-500:]}")
    return [line.split("\t") for line in done.stdout.splitlines() if line]


def stock_levels(db_url: str) -> dict[int, int]:
    """Every product's stock, by id."""
    return {int(i): int(s) for i, s in psql(db_url, "SELECT id, stock FROM products")}


def sold_in_database(db_url: str, ids: list[int]) -> dict[int, int]:
    """Units of each product on orders that are not cancelled, as the
    database records them."""
    if not ids:
        return {}
    rows = psql(db_url, "SELECT l.product_id, COALESCE(SUM(l.quantity), 0) FROM order_lines l "
                        "JOIN orders o ON o.id = l.order_id WHERE o.status <> 'cancelled' "
                        f"AND l.product_id IN ({', '.join(map(str, ids))}) GROUP BY l.product_id")
    sold = {pid: 0 for pid in ids}
    sold.update({int(p): int(q) for p, q in rows})
    return sold
