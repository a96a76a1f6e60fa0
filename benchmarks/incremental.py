"""Incremental vs full: 100k tickets, 1% changed; requests and wall time of the incremental run as
ratios of the full run's, measured in one session against the simulator.

    .venv/bin/python benchmarks/incremental.py [--records 100000] [--changed 0.01] [--latency-ms 0 20 50 100] [--trials 5]

Each latency is a separate simulator: 0 ms is loopback (the run's fixed cost shows most), 20 ms is
a SaaS API in the same region, 50 ms a typical one, 100 ms one across an ocean. Read-ahead fetches up to 4 pages at
once, which a 1,000-page full run uses fully and a 10-page incremental run hardly at all, so at
high latency the time ratio tends to the ratio of round trips, not of requests.

An incremental run of ~0.5 s varies by tens of ms from one run to the next, so each contender's
incremental run is timed `--trials` times, each on its own copy of the folder the full runs left
(same data, same cursors, same upstream changes), and the median is reported.

Before anything changes upstream, the same is done with nothing changed: the floor of an
incremental run (ask for changes, one lookback page, dlt's extract, normalize and load once).
The 1%-changed run's time ratio cannot go below the floor's ratio plus about 1%.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
from pathlib import Path
from typing import Callable

from _common import (
    WORKSPACE_FOLDERS,
    SimulatorProcess,
    materialize_timed,
    plain_dlt_timed,
    table,
    use_folders,
    workspace,
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--changed", type=float, default=0.01)
    parser.add_argument("--latency-ms", type=float, nargs="+", default=[0, 20, 50, 100])
    parser.add_argument("--trials", type=int, default=5)
    args = parser.parse_args()
    rows: list[list[object]] = []
    for latency in args.latency_ms:
        rows += measure(args.records, args.changed, latency, args.trials)
    table(
        f"Incremental merge: {args.records:,} tickets, {args.changed:.0%} changed (incremental: median of {args.trials} trials)",
        ["latency", "tool", "run", "requests", "wall s", "requests ratio", "time ratio", "goal"],
        rows,
        "incremental",
    )


def measure(records: int, changed: float, latency_ms: float, trials: int) -> list[list[object]]:
    """Full runs, then runs with nothing changed upstream, then 1% changed and incremental runs.

    restsync (dagster materialize) and plain dlt (its `rest_api_source` with the same compiled
    config, no orchestration) see the same data and the same changes. Plain dlt's ratio is what dlt
    costs as it comes (a connection per client, no GC tuning): the reference a dlt-based tool is
    measured against, which restsync's single connection per run and frozen heap can go below.

    The run with nothing changed is the floor of an incremental run: what it costs to ask the API
    for changes (one page, the lookback) and run dlt's extract, normalize and load once. An
    incremental run's time ratio cannot go below the floor's ratio plus the changed share.
    """
    counts = {"service_desk.tickets": records}
    with SimulatorProcess(counts=counts, latency_ms=latency_ms) as sim, workspace(sim.env()) as folder:
        # warm-up: imports and first-use costs land on neither contender's timed runs
        materialize_timed("service_desk", ["roles"])
        plain_dlt_timed("service_desk", ["roles"])
        sim.clear_request_log()
        full_time = materialize_timed("service_desk", ["tickets"])
        full_requests = len(sim.request_log)
        sim.clear_request_log()
        plain_full_time = plain_dlt_timed("service_desk", ["tickets"])
        plain_full_requests = len(sim.request_log)
        contenders: dict[str, Callable[[], float]] = {
            "restsync": lambda: materialize_timed("service_desk", ["tickets"]),
            "plain dlt": lambda: plain_dlt_timed("service_desk", ["tickets"]),
        }
        unchanged = _trials(sim, folder, contenders, trials, "unchanged")
        changes = int(records * changed)
        sim.mutate("service_desk", "tickets", updates=changes // 2, inserts=changes - changes // 2)
        incremental = _trials(sim, folder, contenders, trials, "changed")
    latency = f"{latency_ms:g} ms"
    rows: list[list[object]] = []
    for name, full, full_reqs in (("restsync", full_time, full_requests), ("plain dlt", plain_full_time, plain_full_requests)):
        rows.append([latency, name, "full", full_reqs, f"{full:.2f}", "1", "1", ""])
        runs = (("nothing changed (floor)", unchanged[name], ""), (f"{changed:.0%} changed", incremental[name], "<= 3% both"))
        for run, (times, requests), goal in runs:
            median, reqs = statistics.median(times), max(requests)
            ratio = f"{median / full:.2%}"
            if name != "restsync":
                goal = "(reference)"
            rows.append([
                latency, name, run, reqs, f"{median:.2f} ({', '.join(f'{t:.2f}' for t in times)})", f"{reqs / full_reqs:.2%}",
                f"**{ratio}**" if goal.startswith("<=") else ratio, goal,
            ])
    return rows


def _trials(
    sim: SimulatorProcess, folder: Path, contenders: dict[str, Callable[[], float]], trials: int, label: str
) -> dict[str, tuple[list[float], list[int]]]:
    """Each contender's incremental run `trials` times, each on its own copy of `folder`; the
    contenders alternate which goes first. Returns the wall times and request counts."""
    results: dict[str, tuple[list[float], list[int]]] = {name: ([], []) for name in contenders}
    for trial in range(trials):
        order = list(contenders) if trial % 2 == 0 else list(reversed(contenders))
        for name in order:
            _restore(folder, folder / f"{label}-{trial}-{name.replace(' ', '_')}")
            sim.clear_request_log()
            results[name][0].append(contenders[name]())
            results[name][1].append(len(sim.request_log))
    return results


def _restore(folder: Path, target: Path) -> None:
    """Point the workspace at a fresh copy of the folders the full runs left in `folder` (no
    incremental run writes there: each one works on its own copy)."""
    for name in WORKSPACE_FOLDERS:
        shutil.copytree(folder / name, target / name)
    # the copy's dirty pages would otherwise be written out by DuckDB's first fsync, inside the timer
    os.sync()
    use_folders(target)


if __name__ == "__main__":
    main()
