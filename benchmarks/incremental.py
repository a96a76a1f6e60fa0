"""Incremental vs full: 100k tickets, 1% changed; requests and wall time of the incremental run as
ratios of the full run's, measured in one session against the simulator.

    .venv/bin/python benchmarks/incremental.py [--records 100000] [--changed 0.01]
"""

from __future__ import annotations

import argparse

from _common import materialize_timed, table, workspace

from restsync_dagster.simulator import Simulator


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--changed", type=float, default=0.01)
    args = parser.parse_args()
    with Simulator(port=0, login_port=0, counts={"service_desk.tickets": args.records}) as sim, workspace(sim.env()):
        full_time = materialize_timed("service_desk", ["tickets"])
        full_requests = len(sim.request_log)
        changes = int(args.records * args.changed)
        sim.mutate("service_desk", "tickets", updates=changes // 2, inserts=changes - changes // 2)
        sim.clear_request_log()
        incremental_time = materialize_timed("service_desk", ["tickets"])
        incremental_requests = len(sim.request_log)
    table(
        f"Incremental merge: {args.records:,} tickets, {args.changed:.0%} changed",
        ["run", "requests", "wall s", "requests ratio", "time ratio", "goal"],
        [
            ["full", full_requests, f"{full_time:.2f}", "1", "1", ""],
            ["incremental", incremental_requests, f"{incremental_time:.2f}",
             f"{incremental_requests / full_requests:.2%}", f"{incremental_time / full_time:.2%}", "<= 3% both"],
        ],
        "incremental",
    )


if __name__ == "__main__":
    main()
