"""Years of history in windows: service_desk tickets over three years, one run vs monthly windows at once, on Postgres.

    .venv/bin/python benchmarks/backfill.py [--tickets 1000000] [--quick] [--latency-ms 100]
                                            [--parallelism 1 4 8] [--rate-limit 20] [--kill-at 0.5]

`--quick` is 100k tickets (a CI-sized check). The simulator (its own process, `--history-days 1095`:
2023-01-01 to 2025-12-31) answers every request after `--latency-ms`. A real PostgreSQL server is
started for the run (the tests' `initdb` helper); every contender is the `restsync` command a user
types, in a fresh process, on a fresh database and dlt folder, timed from outside (its start-up
included, the same for every contender):

- (a) one run: `restsync run service_desk --select tickets` (`updated_since` 2000-01-01, paged to the end);
- (b) a backfill of monthly windows `[start, end)` (`updated_since` + `updated_before`), N at once:
  `restsync backfill service_desk tickets --parallel N`, each window its own Dagster run, in N worker
  processes (one window after another in the command's own process for N = 1); each window has its
  own pipeline and staging dataset, and their loads take turns (load/history.py);
- rate limit: the simulator limits requests/s (429 beyond) and the config's `client.rate_limit`
  says the same: 1 and N windows at once, their 429s counted. The N worker processes share the API's
  one budget in the destination database (load/request_budget.py);
- kill -9: the N-at-once backfill, on a Dagster instance of its own (DAGSTER_HOME), is killed once
  `--kill-at` of its windows are loaded and run again: it skips the windows materialized and repeats
  those in flight. Requests repeated = requests of both launches minus those of the clean run, as a
  share of the clean run's.

Rows exact: count(*) and count(distinct id) of the tickets table equal the tickets served, and no
window staging dataset is left.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

import yaml
from _common import ROOT, SimulatorProcess, ratio, table

API = "service_desk"
HISTORY_DAYS = 1095  # 2023-01-01 .. 2025-12-31
FIRST = datetime(2023, 1, 1, tzinfo=timezone.utc)
LAST = datetime(2026, 1, 1, tzinfo=timezone.utc)
WINDOWS = 36  # monthly, 2023-01 .. 2025-12


def tickets_only_config(folder: Path, rate_limit: float, parallelism: int) -> Path:
    """A configs folder: service_desk with tickets alone (no conversations: one request per ticket),
    a monthly backfill block over the three years, and `client.rate_limit` when given."""
    raw = yaml.safe_load((ROOT / "configs" / f"{API}.yaml").read_text())
    raw["resources"] = [r for r in raw["resources"] if "{resources.tickets" not in str(r.get("endpoint", {}).get("path", "")) and r["name"] != "conversations"]
    for resource in raw["resources"]:
        if resource["name"] == "tickets":
            resource["backfill"] = {"start": f"{FIRST:%Y-%m-%d}", "end": f"{LAST:%Y-%m-%d}", "window": "monthly",
                                    "end_param": "updated_before", "parallelism": parallelism}
    if rate_limit:
        raw.setdefault("client", {})["rate_limit"] = rate_limit
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{API}.yaml").write_text(yaml.safe_dump(raw))
    return folder


# --- the harness -------------------------------------------------------------------------------


class Contender:
    """One contender: a `restsync` command in a fresh process on a fresh database and dlt folder."""

    def __init__(self, server: Any, sim: SimulatorProcess, folder: Path, label: str, command: list[str], rate_limit: float = 0,
                 parallelism: int = 8) -> None:
        self.dsn = server.create_database()
        self.folder = folder / label.replace(" ", "_").replace(",", "")
        self.configs = tickets_only_config(self.folder / "configs", rate_limit, parallelism)
        self.command = [sys.executable, "-m", "restsync_dagster.cli.commands", *command, "--configs", str(self.configs)]
        self.label, self.sim = label, sim
        self.env = {**os.environ, **sim.env(), "RESTSYNC_DESTINATION": "postgres", "DESTINATION__POSTGRES__CREDENTIALS": self.dsn,
                    "DLT_DATA_DIR": str(self.folder / "dlt"), "RESTSYNC_DUCKDB_DIR": str(self.folder / "data")}
        self.env.pop("DAGSTER_HOME", None)

    def with_home(self) -> "Contender":
        """The command on a Dagster instance of its own, which remembers the windows materialized."""
        home = self.folder / "dagster_home"
        home.mkdir(parents=True, exist_ok=True)
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        self.env["DAGSTER_HOME"] = str(home)
        return self

    def start(self) -> subprocess.Popen[str]:
        """The command; its stderr (warnings, one line each) to a file, never a pipe nobody reads."""
        with (self.folder / "stderr.log").open("a") as errors:
            return subprocess.Popen(self.command, env=self.env, cwd=str(self.folder), stdout=subprocess.PIPE, stderr=errors,
                                    text=True, start_new_session=True)

    def finish(self, process: subprocess.Popen[str]) -> None:
        out, _ = process.communicate()
        if process.returncode != 0:
            errors = (self.folder / "stderr.log").read_text()
            raise RuntimeError(f"{self.label} failed ({process.returncode}): {out[-1500:]} {errors[-1500:]}")

    def run(self) -> dict[str, Any]:
        self.sim.clear_request_log()
        busy, started = machine_cpu_seconds(), time.perf_counter()
        self.finish(self.start())
        result: dict[str, Any] = {"seconds": time.perf_counter() - started, "cpu": machine_cpu_seconds() - busy}
        result.update(requests_of(self.sim))
        result.update(rows_of(self.dsn))
        return result


def machine_cpu_seconds() -> float:
    """CPU seconds the whole machine has been busy (/proc/stat): restsync, its workers, the simulator,
    Postgres. On N cores no way of running the windows can take less wall time than this over N."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def requests_of(sim: SimulatorProcess) -> dict[str, int]:
    log = [entry for entry in sim.request_log if "/tickets" in str(entry.get("path", ""))]
    return {"requests": len(log), "429s": sum(1 for entry in log if entry.get("status") == 429)}


def rows_of(dsn: str) -> dict[str, int]:
    import psycopg2

    connection = psycopg2.connect(dsn)
    try:
        with connection.cursor() as cursor:
            cursor.execute(f'SELECT count(*), count(DISTINCT id) FROM "{API}".tickets')
            rows, distinct = cursor.fetchone()  # type: ignore[misc]
            cursor.execute("SELECT count(*) FROM information_schema.schemata WHERE schema_name LIKE %s", (f"{API}_staging_%",))
            (staging,) = cursor.fetchone()  # type: ignore[misc]
    finally:
        connection.close()
    return {"rows": int(rows), "distinct": int(distinct), "window_staging_left": int(staging)}


def killed_and_relaunched(contender: Contender, kill_at: float) -> dict[str, Any]:
    """Kill -9 the backfill (the command and its workers) once `kill_at` of the windows loaded; run it again."""
    contender.with_home()
    contender.sim.clear_request_log()
    process = contender.start()
    assert process.stdout is not None
    loaded = 0
    for line in process.stdout:
        if " loaded tickets=" in line:
            loaded += 1
            if loaded >= kill_at * WINDOWS:
                os.killpg(process.pid, signal.SIGKILL)  # kill -9, the command and its worker processes
                break
    process.wait()
    contender.finish(contender.start())
    result = requests_of(contender.sim)
    result.update(rows_of(contender.dsn))
    result["done_at_kill"] = loaded
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="100k tickets")
    parser.add_argument("--latency-ms", type=float, default=100)
    parser.add_argument("--parallelism", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--rate-limit", type=float, default=20, help="requests/s of the simulator and client.rate_limit (0: none); binding: one run alone asks ~22/s")
    parser.add_argument("--kill-at", type=float, default=0.5)
    args = parser.parse_args()
    tickets = 100_000 if args.quick else args.tickets
    most = max(args.parallelism)

    sys.path.insert(0, str(ROOT))
    from restsync_dagster_tests.support.postgres_server import start_server

    def backfill(n: int) -> list[str]:
        return ["backfill", API, "tickets", "--parallel", str(n)]

    server = start_server()
    rows: list[list[object]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="restsync-bench-backfill-") as tmp:
            folder = Path(tmp)
            extra = ["--history-days", str(HISTORY_DAYS)]
            with SimulatorProcess({f"{API}.tickets": tickets}, latency_ms=args.latency_ms, extra=extra) as sim:
                base = Contender(server, sim, folder, "one run", ["run", API, "--select", "tickets", "--quiet"]).run()
                rows.append(row("(a) one run", base, base, tickets))
                print(rows[-1], flush=True)
                clean: Optional[dict[str, Any]] = None
                for n in args.parallelism:
                    clean = Contender(server, sim, folder, f"windows {n}", backfill(n), parallelism=most).run()
                    rows.append(row(f"(b) monthly windows, {n} at once", clean, base, tickets))
                    print(rows[-1], flush=True)
                assert clean is not None  # the last: `most` at once
                killed = killed_and_relaunched(Contender(server, sim, folder, "killed", backfill(most), parallelism=most), args.kill_at)
                repeated = killed["requests"] - clean["requests"]
                exact = killed["rows"] == killed["distinct"] == tickets and not killed["window_staging_left"]
                rows.append([f"(b) {most} at once, kill -9 after {killed['done_at_kill']} of {WINDOWS} windows, run again", "-", "-", "-",
                             f"{killed['rows']:,} / {killed['distinct']:,}", f"{killed['requests']:,}", killed["429s"],
                             f"{'yes' if exact else '**no**'}; {repeated:,} requests repeated = {repeated / clean['requests']:.1%} of the clean run"])
                print(rows[-1], flush=True)
            if args.rate_limit:
                with SimulatorProcess({f"{API}.tickets": tickets}, latency_ms=args.latency_ms, rate_limit=args.rate_limit, extra=extra) as sim:
                    for n in sorted({1, most}):
                        contender = Contender(server, sim, folder, f"limited {n}", backfill(n), rate_limit=args.rate_limit, parallelism=most)
                        result = contender.run()
                        floor = result["requests"] / args.rate_limit
                        rows.append(row(f"(b) {n} at once, rate limit {args.rate_limit:g}/s (floor {floor:.0f} s)", result, base, tickets))
                        print(rows[-1], flush=True)
    finally:
        server.stop()
    table(
        f"Backfill: {tickets:,} service_desk tickets over 3 years (2023-2025), {args.latency_ms:g} ms per request, Postgres",
        ["run", "wall s", "ratio to (a)", "machine CPU (its floor on the cores)", "rows / distinct ids", "requests", "429s", "rows exact"],
        rows,
        "backfill",
    )


def row(label: str, result: dict[str, Any], base: dict[str, Any], tickets: int) -> list[object]:
    exact = result["rows"] == result["distinct"] == tickets and not result.get("window_staging_left")
    cores = os.cpu_count() or 1
    return [label, f"{result['seconds']:.1f}", ratio(result["seconds"], base["seconds"]),
            f"{result['cpu']:.0f} s = {result['cpu'] / cores:.0f} s on {cores} cores", f"{result['rows']:,} / {result['distinct']:,}",
            f"{result['requests']:,}", result["429s"], "yes" if exact else f"**no** (staging left: {result.get('window_staging_left')})"]


if __name__ == "__main__":
    main()
