"""Years of history in windows: service_desk tickets over three years, one run vs monthly windows at once, on Postgres.

    .venv/bin/python benchmarks/backfill.py [--tickets 1000000] [--quick] [--latency-ms 100]
                                            [--parallelism 1 4 8] [--rate-limit 60] [--kill-at 0.5]

`--quick` is 100k tickets (a CI-sized check). The simulator (its own process, `--history-days 1095`:
2023-01-01 to 2025-12-31) answers every request after `--latency-ms`. A real PostgreSQL server is
started for the run (the tests' `initdb` helper); every contender loads a fresh database, in a fresh
process of its own (`--worker`), its time measured inside that process around the work alone:

- (a) one run: the live `tickets` asset materialized once (`updated_since` 2000-01-01, paged to the end);
- (b) a backfill of monthly windows `[start, end)` (`updated_since` + `updated_before`), N at once:
  each window is `orchestration.history.load_window` (load/history.py `window_pipeline`: its own
  pipeline and staging dataset; `load_lock` around dlt's load step), windows in threads of one
  process, so they share the API's one request budget (`client.rate_limit`, http/ratelimit.py);
- rate limit: the simulator limits requests/s (429 beyond) and the config's `client.rate_limit`
  says the same: 1 and N windows at once, their 429s counted;
- kill -9: the N-at-once backfill is killed once `--kill-at` of its windows are done and launched
  again; it skips the windows done (a file of done window keys, as Dagster's materialized partitions
  are for `restsync backfill`) and repeats those in flight. Requests repeated = requests of both
  launches minus those of the clean run, as a share of the clean run's.

Rows exact: count(*) and count(distinct id) of the tickets table equal the tickets served. The
windows run through the history assets' own loader rather than `restsync backfill`, which runs
its windows one after another in one process (parallelism is the Dagster backfill's).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

from _common import ROOT, SimulatorProcess, ratio, table

API = "service_desk"
HISTORY_DAYS = 1095  # 2023-01-01 .. 2025-12-31
FIRST = datetime(2023, 1, 1, tzinfo=timezone.utc)
LAST = datetime(2026, 1, 1, tzinfo=timezone.utc)


def months() -> list[tuple[datetime, datetime]]:
    out, current = [], FIRST
    while current < LAST:
        following = current.replace(year=current.year + current.month // 12, month=current.month % 12 + 1)
        out.append((current, following))
        current = following
    return out


def tickets_only(rate_limit: float, parallelism: int = 1) -> Any:
    """service_desk with tickets alone (no conversations: one request per ticket), monthly backfill block."""
    from restsync_dagster.config.backfill_config import BackfillConfig
    from restsync_dagster.config.loading import load_api_config

    api = load_api_config(ROOT / "configs" / f"{API}.yaml")
    tickets = api.resource("tickets")
    tickets = tickets.model_copy(update={"backfill": BackfillConfig(start="2023-01-01", window="monthly", end_param="updated_before", parallelism=parallelism)})
    updates: dict[str, Any] = {"resources": [tickets]}
    if rate_limit:
        updates["client"] = api.client.model_copy(update={"rate_limit": rate_limit})
    return api.model_copy(update=updates)


# --- the workers (fresh processes) -------------------------------------------------------------


class _Log:
    def info(self, *_: Any) -> None: ...

    def warning(self, message: str) -> None:
        print(message, file=sys.stderr)

    debug = info


class _Context:
    log = _Log()


def worker_one(rate_limit: float) -> dict[str, Any]:
    from _common import materialize_timed

    return {"seconds": materialize_timed(API, ["tickets"], api=tickets_only(rate_limit))}


def worker_windows(parallelism: int, rate_limit: float, done_file: Path) -> dict[str, Any]:
    from concurrent.futures import ThreadPoolExecutor

    from restsync_dagster.orchestration.history import load_window

    api = tickets_only(rate_limit, parallelism)
    done = set(done_file.read_text().split()) if done_file.exists() else set()
    todo = [(s, e) for s, e in months() if f"{s:%Y-%m-%d}" not in done]

    def one(window: tuple[datetime, datetime]) -> None:
        start, end = window
        key = f"{start:%Y-%m-%d}"
        for _ in load_window(_Context(), api, "tickets", ["tickets"], start, end, key):
            pass
        with done_file.open("a") as handle:  # appends of a line are atomic enough for the harness
            handle.write(key + "\n")

    started = time.perf_counter()
    with ThreadPoolExecutor(parallelism) as pool:
        list(pool.map(one, todo))
    return {"seconds": time.perf_counter() - started, "windows": len(todo)}


def worker_main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker", choices=["one", "windows"])
    parser.add_argument("--parallelism", type=int, default=1)
    parser.add_argument("--rate-limit", type=float, default=0)
    parser.add_argument("--done-file", type=Path)
    args = parser.parse_args(argv)
    import logging

    logging.getLogger("dagster").setLevel(logging.WARNING)
    result = worker_one(args.rate_limit) if args.worker == "one" else worker_windows(args.parallelism, args.rate_limit, args.done_file)
    print("RESULT " + json.dumps(result), flush=True)


# --- the harness -------------------------------------------------------------------------------


class Contender:
    """One contender in a fresh process on a fresh database and dlt folder."""

    def __init__(self, server: Any, sim: SimulatorProcess, folder: Path, label: str, argv: list[str]) -> None:
        self.dsn = server.create_database()
        self.dlt_dir = folder / label.replace(" ", "_")
        self.label, self.argv, self.sim = label, argv, sim
        self.env = {**os.environ, **sim.env(), "RESTSYNC_DESTINATION": "postgres", "DESTINATION__POSTGRES__CREDENTIALS": self.dsn,
                    "DLT_DATA_DIR": str(self.dlt_dir), "RESTSYNC_DUCKDB_DIR": str(self.dlt_dir / "data")}

    def start(self, extra: list[str] = ()) -> subprocess.Popen[str]:  # type: ignore[assignment]
        return subprocess.Popen([sys.executable, __file__, *self.argv, *extra], env=self.env, cwd=str(self.dlt_dir.parent),
                                stdout=subprocess.PIPE, text=True, start_new_session=True)

    @staticmethod
    def result(process: subprocess.Popen[str]) -> dict[str, Any]:
        out, _ = process.communicate()
        lines = [line for line in out.splitlines() if line.startswith("RESULT ")]
        if process.returncode != 0 or not lines:
            raise RuntimeError(f"worker failed ({process.returncode}): {out[-2000:]}")
        return dict(json.loads(lines[-1][len("RESULT "):]))

    def run(self) -> dict[str, Any]:
        self.sim.clear_request_log()
        result = self.result(self.start())
        result.update(requests_of(self.sim))
        result.update(rows_of(self.dsn))
        return result


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
    done_file = contender.dlt_dir.parent / f"{contender.dlt_dir.name}.done"
    contender.dlt_dir.mkdir(parents=True, exist_ok=True)
    contender.sim.clear_request_log()
    process = contender.start(["--done-file", str(done_file)])
    total = len(months())
    while process.poll() is None:
        done = len(done_file.read_text().split()) if done_file.exists() else 0
        if done >= kill_at * total:
            os.killpg(process.pid, signal.SIGKILL)  # kill -9, the worker and anything it started
            break
        time.sleep(0.05)
    process.wait()
    done_before = len(done_file.read_text().split()) if done_file.exists() else 0
    result = Contender.result(contender.start(["--done-file", str(done_file)]))
    result.update(requests_of(contender.sim))
    result.update(rows_of(contender.dsn))
    result["done_at_kill"] = done_before
    return result


def main() -> None:
    if "--worker" in sys.argv:
        worker_main(sys.argv[1:])
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="100k tickets")
    parser.add_argument("--latency-ms", type=float, default=100)
    parser.add_argument("--parallelism", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--rate-limit", type=float, default=60, help="requests/s of the simulator and client.rate_limit (0: none)")
    parser.add_argument("--kill-at", type=float, default=0.5)
    args = parser.parse_args()
    tickets = 100_000 if args.quick else args.tickets

    sys.path.insert(0, str(ROOT))
    from restsync_dagster_tests.support.postgres_server import start_server

    server = start_server()
    rows: list[list[object]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="restsync-bench-backfill-") as tmp:
            folder = Path(tmp)
            extra = ["--history-days", str(HISTORY_DAYS)]
            with SimulatorProcess({f"{API}.tickets": tickets}, latency_ms=args.latency_ms, extra=extra) as sim:
                base = Contender(server, sim, folder, "one run", ["--worker", "one"]).run()
                rows.append(row("(a) one run", base, base, tickets))
                print(rows[-1], flush=True)
                for n in args.parallelism:
                    label = f"windows {n}"
                    contender = Contender(server, sim, folder, label, ["--worker", "windows", "--parallelism", str(n)])
                    contender.argv += ["--done-file", str(folder / f"{label.replace(' ', '_')}.done")]
                    rows.append(row(f"(b) monthly windows, {n} at once", contender.run(), base, tickets))
                    print(rows[-1], flush=True)
                n = max(args.parallelism)
                killed = killed_and_relaunched(Contender(server, sim, folder, "killed", ["--worker", "windows", "--parallelism", str(n)]), args.kill_at)
                clean = next(r for r in rows if r[0] == f"(b) monthly windows, {n} at once")
                repeated = killed["requests"] - int(str(clean[4]).replace(",", ""))
                rows.append([f"(b) {n} at once, kill -9 after {killed['done_at_kill']} of {len(months())} windows, relaunched", "-", "-",
                             f"{killed['rows']:,} / {killed['distinct']:,}", f"{killed['requests']:,}", killed["429s"],
                             f"{repeated:,} repeated = {repeated / int(str(clean[4]).replace(',', '')):.1%} of the clean run"])
                print(rows[-1], flush=True)
            if args.rate_limit:
                with SimulatorProcess({f"{API}.tickets": tickets}, latency_ms=args.latency_ms, rate_limit=args.rate_limit, extra=extra) as sim:
                    limited_one: Optional[dict[str, Any]] = None
                    for n in sorted({1, max(args.parallelism)}):
                        label = f"limited {n}"
                        contender = Contender(server, sim, folder, label,
                                              ["--worker", "windows", "--parallelism", str(n), "--rate-limit", str(args.rate_limit),
                                               "--done-file", str(folder / f"{label.replace(' ', '_')}.done")])
                        result = contender.run()
                        limited_one = limited_one or result
                        floor = result["requests"] / args.rate_limit
                        rows.append(row(f"(b) {n} at once, rate limit {args.rate_limit:g}/s (floor {floor:.0f} s)", result, base, tickets))
                        print(rows[-1], flush=True)
    finally:
        server.stop()
    table(
        f"Backfill: {tickets:,} service_desk tickets over 3 years (2023-2025), {args.latency_ms:g} ms per request, Postgres",
        ["run", "wall s", "ratio to (a)", "rows / distinct ids", "requests", "429s", "rows exact"],
        rows,
        "backfill",
    )


def row(label: str, result: dict[str, Any], base: dict[str, Any], tickets: int) -> list[object]:
    exact = result["rows"] == result["distinct"] == tickets and not result.get("window_staging_left")
    return [label, f"{result['seconds']:.1f}", ratio(result["seconds"], base["seconds"]), f"{result['rows']:,} / {result['distinct']:,}",
            f"{result['requests']:,}", result["429s"], "yes" if exact else f"**no** (staging left: {result.get('window_staging_left')})"]


if __name__ == "__main__":
    main()
