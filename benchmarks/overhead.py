"""Orchestration overhead: restsync materializing service_desk `tickets` vs plain dlt
`rest_api_source` with the same compiled config, alternating in one process against one simulator
(in a process of its own), after one small warm-up run of each; the best run of each counts.

"plain dlt" loads into the same DuckDB destination with restsync's dlt settings (parquet load
files, restsync_dagster/load/tuning.py); "plain dlt, dlt defaults" is what a user gets from dlt out of
the box (INSERT VALUES load files, gzipped intermediate files), run in a process of its own.

    .venv/bin/python benchmarks/overhead.py [--records 200000] [--repeat 2]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from _common import (
    SimulatorProcess,
    duckdb_count,
    materialize_timed,
    plain_dlt_timed,
    ratio,
    table,
    workspace,
)

PLAIN, DEFAULTS, RESTSYNC = "plain dlt", "plain dlt, dlt defaults", "restsync"


def run(kind: str) -> tuple[float, int]:
    if kind == RESTSYNC:
        seconds = materialize_timed("service_desk", ["tickets"])
        return seconds, duckdb_count("service_desk", "tickets")
    if kind == DEFAULTS:  # a fresh process: restsync's dlt settings are process-wide once applied
        done = subprocess.run([sys.executable, __file__, "--worker-defaults"], env=dict(os.environ), capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(done.stderr[-2000:])
        return float(done.stdout.strip().splitlines()[-1]), duckdb_count("service_desk", "tickets", plain=True)
    seconds = plain_dlt_timed("service_desk", ["tickets"])
    return seconds, duckdb_count("service_desk", "tickets", plain=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--skip-defaults", action="store_true", help="leave out the slow dlt-defaults run")
    parser.add_argument("--worker-defaults", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker_defaults:
        print(plain_dlt_timed("service_desk", ["tickets"], dlt_defaults=True))
        return
    kinds = [PLAIN, RESTSYNC] + ([] if args.skip_defaults else [DEFAULTS])
    times: dict[str, list[float]] = {kind: [] for kind in kinds}
    rows: dict[str, int] = {}
    with SimulatorProcess(counts={"service_desk.tickets": 1000}) as warm:
        for kind in (PLAIN, RESTSYNC):  # first runs in a process pay one-off imports and set-up
            with workspace(warm.env()):
                run(kind)
    with SimulatorProcess(counts={"service_desk.tickets": args.records}) as sim:
        for attempt in range(args.repeat):
            order = [PLAIN, RESTSYNC] if attempt % 2 == 0 else [RESTSYNC, PLAIN]
            if attempt == 0 and DEFAULTS in kinds:
                order.append(DEFAULTS)
            for kind in order:
                with workspace(sim.env()):
                    seconds, rows[kind] = run(kind)
                times[kind].append(seconds)
                print(f"{kind}: {seconds:.2f} s, {rows[kind]:,} rows", flush=True)
    base = min(times[PLAIN])
    # runs of one round are adjacent in time: their ratio suffers least from the machine's noise
    paired = sorted(r / p for r, p in zip(times[RESTSYNC], times[PLAIN]))
    median = paired[len(paired) // 2] if len(paired) % 2 else sum(paired[len(paired) // 2 - 1 : len(paired) // 2 + 1]) / 2
    table(
        f"Orchestration overhead: service_desk tickets, {args.records:,} records, best of {args.repeat}",
        ["pipeline", "rows", "runs (s)", "best (s)", "records/s", "best vs plain dlt", "same-round ratios (median)", "goal"],
        [
            [kind, f"{rows[kind]:,}", ", ".join(f"{t:.1f}" for t in runs), f"{min(runs):.2f}",
             f"{rows[kind] / min(runs):,.0f}", ratio(min(runs), base),
             f"{', '.join(f'{r:.2f}' for r in paired)} ({median:.2f}x)" if kind == RESTSYNC else "",
             "<= 1.1x" if kind == RESTSYNC else ""]
            for kind, runs in times.items()
        ],
        "overhead",
    )


if __name__ == "__main__":
    main()
