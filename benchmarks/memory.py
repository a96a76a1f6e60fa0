"""Memory: peak RSS of a restsync process loading service_desk tickets (~1 KB each) into DuckDB,
1M records against 100k; each size in a fresh process (its own ru_maxrss), the simulator in
another process serving the records lazily.

    .venv/bin/python benchmarks/memory.py [--sizes 100000 1000000] [--pad-bytes 600]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

from _common import (
    ROOT,
    SimulatorProcess,
    duckdb_count,
    materialize_timed,
    table,
    workspace,
)


def worker() -> None:
    """In the measured process: one materialization, then this process's peak RSS."""
    seconds = materialize_timed("service_desk", ["tickets"])
    rows = duckdb_count("service_desk", "tickets")
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps({"seconds": seconds, "rows": rows, "peak_mb": peak_kib / 1024}))


def measure(records: int, pad_bytes: int) -> dict[str, float]:
    with SimulatorProcess(counts={"service_desk.tickets": records}, extra=["--pad-bytes", str(pad_bytes)]) as sim:
        sample = sim.sample_record_bytes("service_desk", "/v1/tickets")
        with workspace(sim.env()):
            started = time.perf_counter()
            done = subprocess.run(
                [sys.executable, __file__, "--worker"], cwd=ROOT, env=dict(os.environ), capture_output=True, text=True
            )
            wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"worker for {records:,} records failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result.update(wall=wall, record_bytes=sample)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--pad-bytes", type=int, default=600, help="filler per record; 600 makes a ticket ~1 KB of JSON")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker()
    results = {}
    for size in args.sizes:
        results[size] = measure(size, args.pad_bytes)
        print(f"{size:,} records: {results[size]}", flush=True)
    base = results[min(args.sizes)]["peak_mb"]
    table(
        "Memory: peak RSS of the restsync process loading service_desk tickets into DuckDB",
        ["records", "bytes/record (JSON)", "rows loaded", "load (s)", "records/s", "peak RSS (MB)", f"vs {min(args.sizes):,}", "goal"],
        [
            [f"{size:,}", f"{r['record_bytes']:,.0f}", f"{int(r['rows']):,}", f"{r['seconds']:.1f}", f"{r['rows'] / r['seconds']:,.0f}",
             f"{r['peak_mb']:.0f}", f"{r['peak_mb'] / base:.2f}x", "<= 500 MB, <= 1.5x" if size == max(args.sizes) else ""]
            for size, r in results.items()
        ],
        "memory",
    )


if __name__ == "__main__":
    main()
