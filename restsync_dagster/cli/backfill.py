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
    from dagster import Definitions

    from restsync_dagster.cli.progress import warnings_logger
    from restsync_dagster.cli.run import cli_instance, failure_text
    from restsync_dagster.orchestration.history import build_history_assets, history_key
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
    assets = next(a for a in build_history_assets(api) if history_key(api.name, args.resource) in a.keys)
    assert assets.partitions_def is not None
    keys = windows_between(assets.partitions_def, start, end)
    done: set[str] = set()
    if not args.include_materialized:
        done = set(instance.get_materialized_partitions(history_key(api.name, args.resource)))
    todo = [key for key in keys if key not in done]
    skipped = len(keys) - len(todo)
    print(f"{api.name}.{args.resource}: {len(keys)} window(s), {skipped} already materialized (skipped), {len(todo)} to run")
    ensure_pool_slots(instance, [api.name], history_slots([api]))
    job = Definitions(assets=[assets], loggers={"restsync_warnings": warnings_logger()}).resolve_implicit_global_asset_job_def()
    failed = []
    for key in todo:
        print(f"window {key} of {args.resource}: running", flush=True)  # a long window shows it is under way
        # as `restsync run`: the run's warnings one line each, each failure once below, not Dagster's log
        result = job.execute_in_process(
            run_config={"loggers": {"restsync_warnings": {}}}, instance=instance, partition_key=key,
            raise_on_error=False, tags={"restsync/history": api.name},
        )
        if result.success:
            rows = []
            for event in result.get_asset_materialization_events():
                materialization = event.event_specific_data.materialization  # type: ignore[union-attr]
                loaded = materialization.metadata.get("rows_loaded")
                table = materialization.asset_key.path[-1].removesuffix("_history")  # the table it loaded into
                rows.append(f"{table}={loaded.value if loaded else 0}")
            print(f"window {key} loaded {' '.join(rows)}")
            continue
        failed.append(key)
        for event in result.all_events:
            if event.event_type_value == "STEP_FAILURE":
                print(f"window {key} failed {failure_text(event.event_specific_data)}", file=sys.stderr)
    if failed:
        print(f"{api.name}.{args.resource}: {len(failed)} window(s) failed: {', '.join(failed)}; run the command again to retry only those", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK
