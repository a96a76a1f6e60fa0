"""A backfilled resource's history as Dagster time-window partitions: one run per window.

For each top-level resource with a `backfill` block (config/backfill_config.py), one partitioned
multi-asset `<api>__<resource>_history` holds a history asset for it and for each of its
descendants: keys `[<api>, "<resource>_history"]`, group `<api>_history` (apart from the live group,
so "Materialize all" there never launches years of windows), `dagster/table_name` the live asset's
table (they fill the same table), a child's history asset depending on its parent's. Partitions are
Daily/Weekly/MonthlyPartitionsDefinition from `backfill.start` (floored to its window) to
`backfill.end` or the window running now; a backfill of any range runs each window as its own run
(BackfillPolicy.multi_run(1)), so a run launcher can give each a pod.

A window run (`run_window`) resolves the plan, lists the resource with the window's path and
query (backfill_config.window_request) instead of its cursor, fetches the children of that window's
records in the same run, and loads everything through a pipeline of its own,
`restsync_<api>__<resource>_history_<partition>` (load/history.py `window_pipeline`): same dataset and
tables, merged on the primary key, with its own state and staging dataset. The live asset's cursor
and pipeline state are never read or written. On DuckDB a window holds the API's file lock and runs
in the API's pool (`restsync/<api>`), queued with live runs; on Postgres it runs in the history pool
(`restsync/<api>/history`, slots: backfill.parallelism) and takes the dataset's load turn
(`load_lock`) only around dlt's load step. Killed mid-window, a window is simply run again: its
folder starts empty and the merge makes the repeat harmless.
"""


import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Optional

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSpec,
    BackfillPolicy,
    DailyPartitionsDefinition,
    MaterializeResult,
    MetadataValue,
    MonthlyPartitionsDefinition,
    TableColumn,
    TableSchema,
    TimeWindowPartitionsDefinition,
    WeeklyPartitionsDefinition,
    multi_asset,
)

from restsync_dagster.config.backfill_config import BackfillConfig, window_ceil, window_floor, window_request
from restsync_dagster.config.model import ApiConfig, Resource
from restsync_dagster.config.redaction import protect, redact_event
from restsync_dagster.config.settings import secrets_of
from restsync_dagster.extract.history_source import WindowTally, build_window_source, cursor_paths
from restsync_dagster.extract.plan import resolve_plan
from restsync_dagster.load.destination import destination_kind
from restsync_dagster.load.history import load_lock, window_pipeline
from restsync_dagster.load.outcome import TableOutcome, count_rows
from restsync_dagster.load.request_budget import shared_budget
from restsync_dagster.load.table_identity import table_identity
from restsync_dagster.load.tuning import apply_dlt_defaults, frozen_heap
from restsync_dagster.orchestration.failure import debug_traceback, run_failed
from restsync_dagster.orchestration.pools import window_pool

HISTORY = "_history"
HISTORY_TAG = "restsync/history"
DATE_FORMAT = "%Y-%m-%d"


def history_key(api_name: str, resource: str) -> AssetKey:
    return AssetKey([api_name, f"{resource}{HISTORY}"])


def history_group(api_name: str) -> str:
    return f"{api_name}{HISTORY}"


def backfilled(api: ApiConfig) -> list[Resource]:
    return [r for r in api.resources if r.backfill is not None and r.parent is None]


def family(api: ApiConfig, top: str) -> list[str]:
    """`top` and every resource below it, parents before children."""
    names = [top]
    for name in names:  # grows while iterating: breadth first
        names.extend(child.name for child in api.children_of(name))
    return names


def partitions_of(backfill: BackfillConfig) -> TimeWindowPartitionsDefinition:
    """The windows of a backfill block as Dagster partitions (UTC; keys `YYYY-MM-DD`, a window's first day)."""
    start = window_floor(backfill.start_instant, backfill.window).strftime(DATE_FORMAT)
    end_instant = backfill.end_instant
    end = window_ceil(end_instant, backfill.window).strftime(DATE_FORMAT) if end_instant is not None else None
    # no end: up to the window running now (end_offset=1), which the live asset also reads
    common: dict[str, Any] = {"start_date": start, "end_date": end, "timezone": "UTC", "fmt": DATE_FORMAT, "end_offset": 0 if end else 1}
    if backfill.window == "daily":
        return DailyPartitionsDefinition(**common)
    if backfill.window == "weekly":
        return WeeklyPartitionsDefinition(day_offset=1, **common)  # ISO weeks, from Monday
    return MonthlyPartitionsDefinition(**common)


def _describe(api: ApiConfig, top: Resource, name: str) -> str:
    backfill = top.backfill
    assert backfill is not None
    lines = [
        f"History of `{api.name}/{name}` in {backfill.window} windows from {backfill.start}"
        + (f" to {backfill.end}" if backfill.end else "")
        + ": each partition is one window, loaded by its own run into the live asset's table (merged on the key).",
        "",
    ]
    if name == top.name:
        path, query = window_request(top, backfill.start_instant, backfill.start_instant)
        lines.append(f"- a window lists `{path}` with {', '.join(f'`{k}`' for k in query)} bounding it (never the live cursor)")
    else:
        lines.append(f"- fetched for the records of `{api.name}/{api.resource(name).parent}_history` in the same window's run")
    lines.append(f"- live asset: `{api.name}/{name}`; parallel windows: {backfill.parallelism if destination_kind() != 'duckdb' else 1}")
    if api.source_file:
        lines.append(f"- config: `{Path(api.source_file).name}`")
    return "\n".join(lines)


def _spec(api: ApiConfig, top: Resource, name: str) -> AssetSpec:
    resource = api.resource(name)
    deps = [history_key(api.name, resource.parent)] if name != top.name and resource.parent else []
    return AssetSpec(
        key=history_key(api.name, name),
        deps=deps,
        group_name=history_group(api.name),
        description=_describe(api, top, name),
        kinds={"dlt", destination_kind()},
        owners=list(resource.owners),
        tags={"restsync/api": api.name, HISTORY_TAG: "true", **resource.tags},
        metadata={
            **table_identity(api.name, name),
            "restsync/live_asset": MetadataValue.text(f"{api.name}/{name}"),
            "restsync/primary_key": ", ".join(resource.primary_key_columns),
        },
    )


def build_history_assets(api: ApiConfig) -> list[AssetsDefinition]:
    """One partitioned multi-asset per backfilled top-level resource of the API (none without)."""
    return [_history_assets(api, top) for top in backfilled(api)]


def _history_assets(api: ApiConfig, top: Resource) -> AssetsDefinition:
    assert top.backfill is not None
    names = family(api, top.name)

    @multi_asset(
        name=f"{api.name}__{top.name}{HISTORY}",
        specs=[_spec(api, top, name) for name in names],
        partitions_def=partitions_of(top.backfill),
        backfill_policy=BackfillPolicy.multi_run(1),
        pool=window_pool(api.name),
        can_subset=False,  # a window loads its parents' children with them, or nothing
    )
    def history_assets(context: AssetExecutionContext) -> Any:
        yield from run_window(context, api, top.name, names)

    return history_assets


def run_window(context: AssetExecutionContext, api: ApiConfig, top: str, names: list[str]) -> Iterator[Any]:
    """One window's run (see the module docstring); a failure leaves as one short, redacted RunFailure."""
    try:
        window = context.partition_time_window
        for event in load_window(context, api, top, names, window.start, window.end, context.partition_key):
            yield redact_event(event)
    except Exception as exc:  # noqa: BLE001 - every failure leaves the op in one readable, secret-free form
        context.log.debug(f"{api.name}.{top}{HISTORY} {context.partition_key}: the window failed:\n{debug_traceback(exc)}")
        raise run_failed(api, exc) from None


def window_suffix(top: str, partition_key: str) -> str:
    return f"{top}{HISTORY}_{partition_key}"


def load_window(
    context: Any, api: ApiConfig, top: str, names: list[str], start: datetime, end: datetime, partition_key: str
) -> Iterator[MaterializeResult]:
    apply_dlt_defaults()
    start, end = start.astimezone(timezone.utc), end.astimezone(timezone.utc)
    plan = resolve_plan(api, shared_budget)
    protect(secrets_of(plan.client))
    for name in names:
        plan.resource(name).resolved()  # a setting a resource misses fails the window, before any request
    resource = api.resource(top)
    path, query = window_request(resource, start, end)
    tally = WindowTally(cursor_paths(resource), start, end)
    context.log.info(f"{api.name}: window {partition_key} of {top} [{start:%Y-%m-%dT%H:%M:%SZ}, {end:%Y-%m-%dT%H:%M:%SZ}): {path} {query}")
    started = time.monotonic()
    with frozen_heap(), window_pipeline(api.name, window_suffix(top, partition_key)) as pipeline:
        built = build_window_source(plan, top, names, (path, query), tally)
        before = count_rows(pipeline, names)
        try:
            pipeline.extract(built.source)
            normalized = pipeline.normalize()
            with load_lock(api.name):
                pipeline.load()
        finally:
            built.close()
        after = count_rows(pipeline, names)
        row_counts = dict(getattr(normalized, "row_counts", None) or {})
        schema = pipeline.default_schema
        columns = {name: _columns(schema, name) for name in names}
        pipeline_name = pipeline.pipeline_name
    duration = time.monotonic() - started
    stats = built.stats
    for name in names:
        metadata: dict[str, Any] = {
            **table_identity(api.name, name),
            "rows_loaded": MetadataValue.int(int(row_counts.get(name, 0))),
            **TableOutcome(int(row_counts.get(name, 0)), before.get(name), after.get(name)).metadata(),
            "window_start": MetadataValue.text(start.strftime("%Y-%m-%dT%H:%M:%SZ")),
            "window_end": MetadataValue.text(end.strftime("%Y-%m-%dT%H:%M:%SZ")),
            "dlt_pipeline": MetadataValue.text(pipeline_name),
            "duration_seconds": MetadataValue.float(round(duration, 3)),
        }
        if columns[name] is not None:
            metadata["dagster/column_schema"] = columns[name]
        if name in stats:
            metadata.update({key: MetadataValue.int(value) for key, value in stats[name].as_dict().items()})
        if name == top:
            metadata["window_query"] = MetadataValue.text(f"{path} " + " ".join(f"{k}={v}" for k, v in query.items()))
            metadata["rows_outside_window"] = MetadataValue.int(tally.outside)
            if tally.outside:
                context.log.warning(
                    f"{api.source_file or api.name}: resource '{top}': field 'backfill': {tally.outside} of {tally.records} records of "
                    f"window {partition_key} have their cursor outside [{start:%Y-%m-%d}, {end:%Y-%m-%d}]: does the API honour "
                    f"the window's bounds ({', '.join(query)})? They are loaded all the same, merged on the key"
                )
        yield MaterializeResult(asset_key=history_key(api.name, name), metadata=metadata)


def _columns(schema: Any, table: str) -> Optional[TableSchema]:
    try:
        found = schema.get_table_columns(table)
    except Exception:  # noqa: BLE001 - the table got no rows in this window
        return None
    return TableSchema(columns=[TableColumn(name=name, type=str(column.get("data_type") or "unknown")) for name, column in found.items()])
