"""`restsync backfill API RESOURCE [--start D] [--end D]`: a resource's history windows, each its own run.

The windows are the partitions of the resource's history assets (orchestration/history.py), those
overlapping `[start, end)`. Each runs in this process as its own Dagster run on the instance of
DAGSTER_HOME (a temporary one without it), so the UI shows it like a window launched there; a window
already materialized on that instance is skipped unless `--include-materialized`, so running the
command again after a failure or a kill runs only the windows missing (failed, or in flight when it
died). One window failing does not stop the others; the exit code is 1 if any failed.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import datetime, timezone
from typing import Any, Optional

from restsync_dagster.cli.config_files import load_named_api
from restsync_dagster.cli.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from restsync_dagster.config.cursor_values import parse_cursor
from restsync_dagster.config.errors import RestsyncError


def _moment(text: Optional[str], flag: str) -> Optional[datetime]:
    if text is None:
        return None
    parsed = parse_cursor(text)
    if parsed is None or parsed.kind != "instant":
        raise RestsyncError(f"{flag} {text!r} is no date: use 2022-01-01 or 2022-01-01T00:00:00Z")
    return parsed.instant


def windows_between(partitions: Any, start: Optional[datetime], end: Optional[datetime]) -> list[str]:
    """The partition keys whose window overlaps [start, end) (None: open)."""
    keys = []
    for key in partitions.get_partition_keys():
        window = partitions.time_window_for_partition_key(key)
        if (end is None or window.start.astimezone(timezone.utc) < end) and (start is None or window.end.astimezone(timezone.utc) > start):
            keys.append(key)
    return keys


def cmd_backfill(args: argparse.Namespace) -> int:
    from restsync_dagster.cli.run import cli_instance
    from restsync_dagster.orchestration.history import history_key
    from restsync_dagster.orchestration.pools import ensure_pool_slots, history_slots

    api = load_named_api(args.configs, args.api)
    if api is None:
        return EXIT_USAGE
    backfilled = [r.name for r in api.resources if r.backfill is not None]
    if args.resource not in backfilled:
        print(
            f"error  {api.source_file or api.name}: resource '{args.resource}' has no backfill block "
            f"(backfilled: {', '.join(backfilled) or 'none'}); add one: backfill: {{start: 2022-01-01, window: monthly, end_param: ...}}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    try:
        start, end = _moment(args.start, "--start"), _moment(args.end, "--end")
        instance = cli_instance()
    except RestsyncError as exc:
        print(f"error  {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.parallel < 1:
        print(f"error  --parallel {args.parallel}: give 1 or more windows at once", file=sys.stderr)
        return EXIT_USAGE
    window_job = WindowJob(api, args.resource, instance)
    assert window_job.assets.partitions_def is not None
    keys = windows_between(window_job.assets.partitions_def, start, end)
    done: set[str] = set()
    if not args.include_materialized:
        done = set(instance.get_materialized_partitions(history_key(api.name, args.resource)))
    todo = [key for key in keys if key not in done]
    skipped = len(keys) - len(todo)
    print(f"{api.name}.{args.resource}: {len(keys)} window(s), {skipped} already materialized (skipped), {len(todo)} to run")
    ensure_pool_slots(instance, [api.name], history_slots([api]))
    parallel = _parallel_windows(api, args.resource, args.parallel, len(todo))
    if parallel <= 1:
        failed = [key for key in todo if not window_job.run(key)]
    else:
        failed = _run_in_processes(args, instance, todo, parallel)
    if failed:
        print(f"{api.name}.{args.resource}: {len(failed)} window(s) failed: {', '.join(failed)}; run the command again to retry only those", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _parallel_windows(api: Any, resource: str, wanted: int, windows: int) -> int:
    """How many windows run at once: `--parallel`, within what the backfill block and destination allow."""
    from restsync_dagster.load.destination import destination_kind

    allowed = api.resource(resource).backfill.parallelism
    if wanted > 1 and destination_kind() == "duckdb":
        print(f"{api.name}.{resource}: --parallel {wanted} ignored on DuckDB (one writer per file): windows run one after another")
        return 1
    if wanted > allowed:
        print(f"{api.name}.{resource}: --parallel {wanted} capped at the backfill block's parallelism: {allowed}")
    return max(1, min(wanted, allowed, windows))


class WindowJob:
    """The resource's history job on one instance: runs a window as a Dagster run and prints its lines."""

    def __init__(self, api: Any, resource: str, instance: Any) -> None:
        from dagster import Definitions

        from restsync_dagster.cli.progress import warnings_logger
        from restsync_dagster.orchestration.history import build_history_assets, history_key

        self.assets = next(a for a in build_history_assets(api) if history_key(api.name, resource) in a.keys)
        self.api, self.resource, self.instance = api, resource, instance
        self.job = Definitions(assets=[self.assets], loggers={"restsync_warnings": warnings_logger()}).resolve_implicit_global_asset_job_def()

    def run(self, key: str) -> bool:
        """Run window `key`; True when it loaded."""
        from restsync_dagster.cli.run import failure_text

        print(f"window {key} of {self.resource}: running", flush=True)  # a long window shows it is under way
        # as `restsync run`: the run's warnings one line each, each failure once below, not Dagster's log
        result = self.job.execute_in_process(
            run_config={"loggers": {"restsync_warnings": {}}}, instance=self.instance, partition_key=key,
            raise_on_error=False, tags={"restsync/history": self.api.name},
        )
        if result.success:
            rows = []
            for event in result.get_asset_materialization_events():
                materialization = event.event_specific_data.materialization  # type: ignore[union-attr]
                loaded = materialization.metadata.get("rows_loaded")
                table = materialization.asset_key.path[-1].removesuffix("_history")  # the table it loaded into
                rows.append(f"{table}={loaded.value if loaded else 0}")
            print(f"window {key} loaded {' '.join(rows)}", flush=True)
            return True
        for event in result.all_events:
            if event.event_type_value == "STEP_FAILURE":
                print(f"window {key} failed {failure_text(event.event_specific_data)}", file=sys.stderr, flush=True)
        return False


def _run_in_processes(args: argparse.Namespace, instance: Any, todo: list[str], parallel: int) -> list[str]:
    """Windows in `parallel` worker processes (no GIL shared, no threads forked: `_worker_context`),
    each window its own run on the same instance, as a run launcher would give each its own process.

    The instance must be one the workers can open: DAGSTER_HOME's, or for this command a temporary
    folder instead of the in-memory one. The API's request budget is shared by the workers
    (load/request_budget.py), and on Postgres their loads take turns (load/history.py `load_lock`).
    """
    import tempfile
    from concurrent.futures import ProcessPoolExecutor

    from dagster import DagsterInstance

    with tempfile.TemporaryDirectory(prefix="restsync-backfill-") as folder:
        temporary_home = folder if instance.is_ephemeral else None  # else the workers open DAGSTER_HOME's
        if temporary_home:
            DagsterInstance.local_temp(tempdir=temporary_home).dispose()  # the storages, before the workers open them
        # the fork server keeps the environment and folder of the moment it started: each worker takes this call's
        spec = (dict(os.environ), os.getcwd(), list(args.configs), args.api, args.resource, temporary_home)
        context = _worker_context()
        failed = []
        with ProcessPoolExecutor(parallel, mp_context=context, initializer=_start_worker, initargs=spec) as pool:
            futures = {key: pool.submit(_worker_runs, key) for key in todo}
            for key, future in futures.items():
                try:
                    loaded = future.result()
                except Exception as exc:  # noqa: BLE001 - a worker died (killed, out of memory): its window is not done
                    print(f"window {key} failed: its worker process stopped ({type(exc).__name__})", file=sys.stderr, flush=True)
                    loaded = False
                if not loaded:
                    failed.append(key)
    return failed


# imported once in the fork server, before it forks the workers: each worker starts in a fraction of a
# second instead of importing Dagster and dlt again (~4 s of CPU each, which windows would wait for)
_PRELOAD = ["dagster", "dlt", "dlt.destinations", "dagster_dlt", "restsync_dagster.orchestration.history", __name__]


def _worker_context() -> Any:
    """Fresh single-threaded workers: forked from a fork server that preloaded the libraries (a fork of
    this process would copy its threads' locks mid-use), or spawned where there is no fork server."""
    import multiprocessing

    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(_PRELOAD)
    return context


_worker: Optional[WindowJob] = None


def _start_worker(
    environment: dict[str, str], folder: str, configs: list[str], api_name: str, resource: str, temporary_home: Optional[str]
) -> None:
    """A worker process's job, built once, in the caller's environment and folder: the config loaded
    again here, the instance opened by folder."""
    global _worker
    from dagster import DagsterInstance

    os.environ.clear()
    os.environ.update(environment)
    os.chdir(folder)

    api = load_named_api(configs, api_name)
    assert api is not None  # the parent loaded it from the same files a moment ago
    instance = DagsterInstance.local_temp(tempdir=temporary_home) if temporary_home else DagsterInstance.get()
    _worker = WindowJob(api, resource, instance)


def _worker_runs(key: str) -> bool:
    assert _worker is not None
    return _worker.run(key)
