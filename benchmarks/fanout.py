"""Child fan-out: service_desk tickets and their conversations (one request per ticket) at 50 ms
simulator latency; sequential children (child_concurrency 1) against concurrent ones, with
identical rows; then under a simulated rate limit, with and without the client-side request
budget (`client.rate_limit`), against the limit's floor (requests / allowed rate).

    .venv/bin/python benchmarks/fanout.py [--tickets 2000] [--latency-ms 50] [--concurrency 8 32] [--rate 50]
"""

from __future__ import annotations

import argparse
import hashlib
import time
from typing import Optional

from _common import SimulatorProcess, materialize_timed, shipped_api, table, workspace

RESOURCES = ["tickets", "conversations"]


def conversations_digest() -> tuple[int, str]:
    """Row count and a digest of every conversation row (id, parent key, body), order-free."""
    import duckdb

    from restsync_dagster.load.destination import duckdb_path

    with duckdb.connect(str(duckdb_path("service_desk")), read_only=True) as con:
        rows = con.execute('SELECT id, _tickets_id, body FROM service_desk.conversations ORDER BY id').fetchall()
    return len(rows), hashlib.sha256(repr(rows).encode()).hexdigest()[:12]


def crawl(sim: SimulatorProcess, concurrency: int, rate_limit: Optional[float] = None) -> dict[str, object]:
    api = shipped_api("service_desk", child_concurrency=concurrency, rate_limit=rate_limit)
    sim.clear_request_log()
    with workspace(sim.env()):
        started = time.perf_counter()
        try:
            materialize_timed("service_desk", RESOURCES, api=api)
            ok = True
        except Exception as exc:  # noqa: BLE001 - a failed run is a result here
            ok, error = False, f"{type(exc).__name__}"
        seconds = time.perf_counter() - started
        rows, digest = conversations_digest() if ok else (0, error)
    log = sim.request_log
    return {
        "seconds": seconds, "ok": ok, "rows": rows, "digest": digest, "requests": len(log),
        "429": sum(1 for entry in log if entry.get("status") == 429),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickets", type=int, default=2000)
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--rate", type=float, default=50, help="requests per second the rate-limited simulator allows")
    args = parser.parse_args()
    counts = {"service_desk.tickets": args.tickets}
    results: dict[str, dict[str, object]] = {}
    with SimulatorProcess(counts=counts, latency_ms=args.latency_ms) as sim:
        results["sequential (child_concurrency 1)"] = crawl(sim, 1)
        for concurrency in args.concurrency:
            results[f"concurrent (child_concurrency {concurrency})"] = crawl(sim, concurrency)
    with SimulatorProcess(counts=counts, latency_ms=args.latency_ms, rate_limit=args.rate) as sim:
        top = max(args.concurrency)
        results[f"rate limit {args.rate:g}/s, child_concurrency {top}, client.rate_limit {args.rate:g}"] = crawl(sim, top, args.rate)
        time.sleep(2)  # let the simulator's bucket refill
        results[f"rate limit {args.rate:g}/s, child_concurrency {top}, no client budget"] = crawl(sim, top)
    sequential = results["sequential (child_concurrency 1)"]
    rows = []
    for name, r in results.items():
        limited = name.startswith("rate limit")
        floor = int(r["requests"]) / args.rate if limited else None  # type: ignore[arg-type]
        same = "yes" if r["digest"] == sequential["digest"] else "NO"
        if limited:
            versus, goal = f"{float(r['seconds']) / floor:.2f}x floor ({floor:.1f} s)", "no failures, <= 1.2x floor"  # type: ignore[operator]
        elif r is sequential:
            versus, goal = "1x", ""
        else:
            versus, goal = f"{float(sequential['seconds']) / float(r['seconds']):.1f}x faster", ">= 10x, identical rows"  # type: ignore[arg-type]
        rows.append([name, "ok" if r["ok"] else f"FAILED ({r['digest']})", r["requests"], r["429"], f"{r['rows']:,}", same,
                     f"{float(r['seconds']):.1f}", versus, goal])  # type: ignore[arg-type]
    table(
        f"Child fan-out: {args.tickets:,} tickets + conversations, {args.latency_ms:g} ms latency",
        ["run", "result", "requests", "429s", "conversation rows", "same rows", "wall (s)", "vs sequential / floor", "goal"],
        rows,
        "fanout",
    )


if __name__ == "__main__":
    main()
