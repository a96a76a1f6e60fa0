"""Incremental vs full: 100k tickets, 1% changed; requests and wall time of the incremental run as
ratios of the full run's, measured in one session against the simulator.

    .venv/bin/python benchmarks/incremental.py [--records 100000] [--changed 0.01] [--latency-ms 0 20]

Each latency is a separate simulator: 0 ms is loopback (the run's fixed cost shows most), 20 ms is
closer to a SaaS API in the same region.
"""

from __future__ import annotations

import argparse

from _common import materialize_timed, table, workspace

from restsync_dagster.simulator import Simulator


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--changed", type=float, default=0.01)
    parser.add_argument("--latency-ms", type=float, nargs="+", default=[0, 20])
    args = parser.parse_args()
    rows: list[list[object]] = []
    for latency in args.latency_ms:
        rows += measure(args.records, args.changed, latency)
    table(
        f"Incremental merge: {args.records:,} tickets, {args.changed:.0%} changed",
        ["latency", "run", "requests", "wall s", "requests ratio", "time ratio", "goal"],
        rows,
        "incremental",
    )


def measure(records: int, changed: float, latency_ms: float) -> list[list[object]]:
    """A full run, then 1% changed upstream, then an incremental run, on a fresh simulator and folder."""
    counts = {"service_desk.tickets": records}
    with Simulator(port=0, login_port=0, counts=counts, latency_ms=latency_ms) as sim, workspace(sim.env()):
        full_time = materialize_timed("service_desk", ["tickets"])
        full_requests = len(sim.request_log)
        changes = int(records * changed)
        sim.mutate("service_desk", "tickets", updates=changes // 2, inserts=changes - changes // 2)
        sim.clear_request_log()
        incremental_time = materialize_timed("service_desk", ["tickets"])
        incremental_requests = len(sim.request_log)
    return [
        [f"{latency_ms:g} ms", "full", full_requests, f"{full_time:.2f}", "1", "1", ""],
        [f"{latency_ms:g} ms", "incremental", incremental_requests, f"{incremental_time:.2f}",
         f"{incremental_requests / full_requests:.2%}", f"{incremental_time / full_time:.2%}", "<= 3% both"],
    ]


if __name__ == "__main__":
    main()
