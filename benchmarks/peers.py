"""Peers: the same extraction (service_desk tickets) and DuckDB load by the tools users would pick
instead, alternating in one session against one simulator (in a process of its own):

- restsync (this project): `restsync run` in a fresh process like the peers' commands (the goal is
  judged on it), and `dagster.materialize` in this warm process for reference;
- Airbyte's low-code engine: `benchmarks/peers/service_desk_tickets.manifest.yaml` read by PyAirbyte
  (airbyte-cdk's declarative source) into PyAirbyte's DuckDB cache;
- Singer: `tap-rest-api-msdk | target-duckdb`.

Each peer lives in its own venv under `benchmarks/.venvs/<name>`, created on first run (their
dependency pins conflict with this project's). A peer that cannot be installed or run is reported
with its error; the others still run.

    .venv/bin/python benchmarks/peers.py [--records 100000] [--repeat 2] [--latency-ms 0 50]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from _common import (
    ROOT,
    SimulatorProcess,
    duckdb_count,
    materialize_timed,
    table,
    workspace,
)

BENCH = ROOT / "benchmarks"
VENVS = BENCH / ".venvs"
PEERS_DIR = BENCH / "peers"
CLI = "restsync (`restsync run`, fresh process)"
IN_PROCESS = "restsync (dagster materialize in this process)"
OURS = (CLI, IN_PROCESS)


RowCounter = Callable[[], int]  # counts the loaded rows after the timer stopped (peers: a subprocess)


class PeerUnavailable(Exception):
    """A peer could not be installed or run here; the message says why."""


def venv_python(name: str, packages: list[str]) -> Path:
    """The python of `benchmarks/.venvs/<name>`, created and filled with `packages` on first use."""
    folder = VENVS / name
    python = folder / "bin" / "python"
    marker = folder / ".installed"
    if marker.exists() and marker.read_text() == " ".join(packages):
        return python
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(folder)], check=True)
    print(f"installing {' '.join(packages)} into {folder} ...", flush=True)
    done = subprocess.run([str(python), "-m", "pip", "install", "-q", *packages], capture_output=True, text=True)
    if done.returncode != 0:
        errors = [line for line in done.stderr.splitlines() if "is ignored" not in line]
        raise PeerUnavailable(f"pip install {' '.join(packages)} failed: {' / '.join(errors[-3:])[:400]}")
    marker.write_text(" ".join(packages))
    return python


def run_checked(command: list[str] | str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(command, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]
    if done.returncode != 0:
        tail = [line for line in (done.stderr or "").splitlines() if line.strip()][-4:]
        raise PeerUnavailable(f"exit {done.returncode}: {' / '.join(tail)[:500]}")
    return done


def count_rows(python: Path, db_path: Path, schema: str, table_name: str) -> int:
    """Rows in a peer's DuckDB file, read by the peer's own duckdb (file formats differ by version)."""
    code = (
        "import duckdb,sys; c=duckdb.connect(sys.argv[1], read_only=True); "
        f"print(c.execute('SELECT count(*) FROM \"{schema}\".\"{table_name}\"').fetchone()[0])"
    )
    return int(run_checked([str(python), "-c", code, str(db_path)]).stdout.strip())


@dataclass
class Peer:
    name: str
    prepare: Callable[[], object]
    run: Callable[[SimulatorProcess, Path, object], RowCounter]  # the tool's command, timed
    times: list[float] = field(default_factory=list)
    rows: int = 0
    error: Optional[str] = None
    tool: object = None


# --- restsync -------------------------------------------------------------------------------------
def run_restsync(sim: SimulatorProcess, folder: Path, _: object) -> RowCounter:
    materialize_timed("service_desk", ["tickets"])
    return lambda: duckdb_count("service_desk", "tickets")


def run_restsync_cli(sim: SimulatorProcess, folder: Path, _: object) -> RowCounter:
    """`restsync run` in a fresh process, started and timed like the peers' commands."""
    restsync = Path(sys.executable).parent / "restsync"
    run_checked([str(restsync), "run", "service_desk", "--select", "tickets", "--quiet"], cwd=folder, env=dict(os.environ))
    return lambda: duckdb_count("service_desk", "tickets")


# --- Airbyte low-code (PyAirbyte) -----------------------------------------------------------------
def prepare_airbyte() -> Path:
    return venv_python("pyairbyte", ["airbyte"])


def run_airbyte(sim: SimulatorProcess, folder: Path, python: object) -> RowCounter:
    env = sim.env()
    db = folder / "airbyte.duckdb"
    run_checked(
        [str(python), str(PEERS_DIR / "airbyte_run.py"), str(PEERS_DIR / "service_desk_tickets.manifest.yaml"),
         env["SOURCES__SERVICE_DESK__BASE_URL"], env["SOURCES__SERVICE_DESK__API_KEY"], str(db)],
        cwd=folder, env={**os.environ, "AIRBYTE_OFFLINE_MODE": "1", "DO_NOT_TRACK": "1"},
    )
    return lambda: count_rows(Path(str(python)), db, "service_desk", "tickets")


# --- Singer: tap-rest-api-msdk | target-duckdb -----------------------------------------------------
def prepare_singer() -> tuple[Path, Path]:
    return venv_python("singer", ["tap-rest-api-msdk"]), venv_python("target-duckdb", ["target-duckdb"])


def singer_tap_config(base_url: str, api_key: str) -> dict[str, object]:
    """tap-rest-api-msdk for the tickets list: page numbers from 1, until a page has no record."""
    return {
        "api_url": base_url,
        "auth_method": "basic",
        "username": api_key,
        "password": "X",
        "pagination_request_style": "page_number_paginator",
        "pagination_response_style": "page",
        "pagination_initial_offset": 1,
        "next_page_token_path": "$.data[0].id",  # more pages while the last one had a record
        "streams": [
            {
                "name": "tickets",
                "path": "/v1/tickets",
                "params": {"per_page": 100},
                "records_path": "$.data[*]",
                "primary_keys": ["id"],
                "schema": str(PEERS_DIR / "tickets.schema.json"),
            }
        ],
    }


def run_singer(sim: SimulatorProcess, folder: Path, tools: object) -> RowCounter:
    tap_python, target_python = tools  # type: ignore[misc]
    env = sim.env()
    db = folder / "singer.duckdb"
    tap_config, target_config = folder / "tap.json", folder / "target.json"
    tap_config.write_text(json.dumps(singer_tap_config(env["SOURCES__SERVICE_DESK__BASE_URL"], env["SOURCES__SERVICE_DESK__API_KEY"])))
    target_config.write_text(json.dumps({"path": str(db), "default_target_schema": "service_desk"}))
    tap = Path(tap_python).parent / "tap-rest-api-msdk"
    target = Path(target_python).parent / "target-duckdb"
    run_checked(f"set -o pipefail; '{tap}' --config '{tap_config}' | '{target}' --config '{target_config}' > /dev/null",
                shell=True, executable="/bin/bash", cwd=folder)
    return lambda: count_rows(Path(target_python), db, "service_desk", "tickets")


def make_peers() -> list[Peer]:
    peers = [
        Peer(CLI, lambda: None, run_restsync_cli),
        Peer(IN_PROCESS, lambda: None, run_restsync),
        Peer("Airbyte low-code (PyAirbyte, DuckDB cache)", prepare_airbyte, run_airbyte),
        Peer("Singer (tap-rest-api-msdk | target-duckdb)", prepare_singer, run_singer),
    ]
    for peer in peers:
        try:
            peer.tool = peer.prepare()
        except (PeerUnavailable, subprocess.CalledProcessError) as exc:
            peer.error = f"install: {exc}"
    return peers


def race(peers: list[Peer], records: int, repeat: int, latency_ms: float) -> None:
    """Every peer `repeat` times against one simulator, alternating the order (A, B, then B, A)."""
    with SimulatorProcess(counts={"service_desk.tickets": records}, latency_ms=latency_ms) as sim:
        for attempt in range(repeat):
            for peer in peers if attempt % 2 == 0 else list(reversed(peers)):
                if peer.error:
                    continue
                with workspace(sim.env()) as folder:
                    started = time.perf_counter()
                    try:
                        count = peer.run(sim, folder, peer.tool)
                        elapsed = time.perf_counter() - started
                        rows = count()
                    except PeerUnavailable as exc:
                        peer.error = f"run: {exc}"
                        print(f"{peer.name}: {peer.error}", flush=True)
                        continue
                    peer.times.append(elapsed)
                    peer.rows = rows
                print(f"{latency_ms:g} ms, {peer.name}: {peer.times[-1]:.2f} s, {rows:,} rows", flush=True)


def table_rows(peers: list[Peer], records: int, latency_ms: float) -> list[list[object]]:
    speed = {p.name: p.rows / min(p.times) for p in peers if p.times}
    fastest_peer = max((v for k, v in speed.items() if k not in OURS), default=0.0)
    rows: list[list[object]] = []
    for peer in peers:
        if not peer.times:
            rows.append([f"{latency_ms:g} ms", peer.name, "-", "-", "-", "-", "", f"not run: {peer.error}"])
            continue
        best = min(peer.times)
        if peer.name in OURS:
            versus = f"**{speed[peer.name] / fastest_peer:.2f}x** the fastest peer" if fastest_peer else ""
            goal = ">= 1.5x" if peer.name == CLI else "(warm process: for reference)"
        else:
            versus, goal = f"restsync CLI {speed.get(CLI, 0.0) / speed[peer.name]:.2f}x faster", ""
        if peer.rows != records:
            goal = f"loaded {peer.rows:,} of {records:,} records"
        rows.append([f"{latency_ms:g} ms", peer.name, f"{peer.rows:,}", ", ".join(f"{t:.1f}" for t in peer.times), f"{best:.2f}",
                     f"{speed[peer.name]:,.0f}", versus, goal])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--latency-ms", type=float, nargs="+", default=[0, 50],
                        help="per-request latency of the simulator; each value is a separate race")
    args = parser.parse_args()
    rows: list[list[object]] = []
    for latency in args.latency_ms:
        peers = make_peers()
        race(peers, args.records, args.repeat, latency)
        rows += table_rows(peers, args.records, latency)
    table(
        f"Peers: service_desk tickets ({args.records:,} records) into DuckDB, best of {args.repeat}",
        ["latency", "tool", "rows", "runs (s)", "best (s)", "records/s", "speed", "goal / note"],
        rows,
        "peers",
    )


if __name__ == "__main__":
    main()
