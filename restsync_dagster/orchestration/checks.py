"""Asset checks shown on every asset: rows in the destination, primary key unique, fresh per the schedule.

- `rows`: the asset's table has rows (WARN: a child of a parent with no children may be empty;
  only top-level resources are checked for it).
- `primary_key_unique`: no key appears twice in the destination (ERROR: a non-unique merge key
  silently drops rows). Queried through the dlt pipeline's `sql_client`, so it works on DuckDB,
  Postgres and any SQL destination dlt supports.
- `incremental` (incremental resources): the last run found the cursor field in the records and
  the API honoured the filter (WARN otherwise, with the config file, resource, field and what to
  do); the run records what it saw in the resource's dlt state, committed with its data.
- freshness: Dagster's own last-update freshness check, with a lower bound of two schedule
  intervals (plus slack) derived from the API's cron; evaluated by a freshness sensor.
"""


import functools
import time
import warnings
from datetime import datetime, timedelta
from typing import Any, Iterator, Optional, Sequence

import dlt
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckKey,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    DagsterRunStatus,
    DefaultSensorStatus,
    MetadataValue,
    SensorDefinition,
    build_last_update_freshness_checks,
    build_sensor_for_freshness_checks,
    multi_asset_check,
)
from dagster._utils.schedules import cron_string_iterator
from dlt.destinations.exceptions import DatabaseUndefinedRelation

from restsync_dagster.config.model import ApiConfig, Resource
from restsync_dagster.config.redaction import redact_event
from restsync_dagster.extract.incremental_state import observed_of, warnings_of
from restsync_dagster.load.destination import make_pipeline, pipeline_lock
from restsync_dagster.orchestration.pools import pool_of

ROWS_CHECK = "rows"
PK_CHECK = "primary_key_unique"
INCREMENTAL_CHECK = "incremental"
FRESHNESS_SLACK = timedelta(minutes=5)


def _key(api: ApiConfig, resource: Resource) -> AssetKey:
    return AssetKey([api.name, resource.name])


def rows_expected(resource: Resource) -> bool:
    """Top-level lists should never be empty; a child's table may legitimately be (no parent has any)."""
    return resource.parent is None


def check_specs(api: ApiConfig) -> list[AssetCheckSpec]:
    specs = []
    for resource in api.resources:
        key = _key(api, resource)
        if rows_expected(resource):
            specs.append(AssetCheckSpec(ROWS_CHECK, asset=key, description="The table has rows (WARN when empty)."))
        if resource.incremental is not None and resource.parent is None:
            specs.append(
                AssetCheckSpec(
                    INCREMENTAL_CHECK,
                    asset=key,
                    description=f"The records carry {resource.incremental.cursor_names} and the API honours "
                    f"?{resource.incremental.param}= (WARN: a full read each run, merged on the key).",
                )
            )
        if resource.primary_key_columns:  # a singleton replaced whole has no key to check
            specs.append(
                AssetCheckSpec(
                    PK_CHECK,
                    asset=key,
                    description=f"No value of the primary key ({', '.join(resource.primary_key_columns)}) appears twice in the destination.",
                )
            )
    return specs


def table_stats(pipeline: dlt.Pipeline, table: str, key_columns: Sequence[str]) -> Optional[tuple[int, int]]:
    """(row count, number of key values seen more than once), or None when the table was never loaded.

    The pipeline has been synced with the destination by the caller (once for all tables)."""
    if not pipeline.default_schema_name or table not in pipeline.default_schema.tables:
        return None
    schema = pipeline.default_schema
    naming = schema.naming
    key_names = [naming.normalize_path(c) for c in key_columns]
    try:
        with pipeline.sql_client() as client:
            qualified = client.make_qualified_table_name(naming.normalize_table_identifier(table))
            count = client.execute_sql(f"SELECT count(*) FROM {qualified}")
            if not set(key_names) <= set(schema.get_table_columns(table)):
                return int(count[0][0]), 0  # type: ignore[index] # no row ever carried the key
            columns = ", ".join(client.escape_column_name(name) for name in key_names)
            duplicates = client.execute_sql(
                f"SELECT count(*) FROM (SELECT {columns} FROM {qualified} GROUP BY {columns} HAVING count(*) > 1) AS d"
            )
    except DatabaseUndefinedRelation:  # in the schema, never created: an empty first load, a failed one
        return None
    return int(count[0][0]), int(duplicates[0][0])  # type: ignore[index]


def table_checks(api: ApiConfig) -> AssetChecksDefinition:
    """One multi-asset check per API; each selected check queries its table in the destination."""

    @multi_asset_check(
        name=f"{api.name}_table_checks",
        specs=check_specs(api),
        can_subset=True,
        description=f"Rows and primary-key uniqueness of the {api.name} tables in the destination.",
        pool=pool_of(api.name),
    )
    def _checks(context: AssetCheckExecutionContext) -> Iterator[AssetCheckResult]:
        with pipeline_lock(api.name):  # the shared pipeline folder, one user at a time (destination.py)
            pipeline = make_pipeline(api.name)
            try:
                pipeline.sync_destination()
            except Exception as exc:  # noqa: BLE001 - no dataset yet: every table reads as never loaded
                context.log.warning(f"{api.name}: the destination has no state to check yet ({type(exc).__name__}: {exc})")
            wanted: set[AssetCheckKey] = set(context.selected_asset_check_keys)
            for resource in api.resources:
                key = _key(api, resource)
                names = {check.name for check in wanted if check.asset_key == key}
                if not names:
                    continue
                stale = not_materialized(context, key)
                results = _unchecked(key, names, stale) if stale is not None else _results(pipeline, resource, key, names)
                for result in results:
                    yield redact_event(result)  # the event log keeps check metadata and descriptions

    return _checks


def not_materialized(context: AssetCheckExecutionContext, key: AssetKey) -> Optional[dict[str, str]]:
    """Whether the last run that was to load the asset did not (None: it did, or it is still running).

    Dagster records every run's planned materializations: the latest planned one not followed by a
    materialization from the same run means that run (this one, or a failed or canceled one) did
    not load the table, and its rows are those of an earlier load. Checks run then (in the same
    run, or from the UI's "Execute checks" after a failed run) would report stale rows as fresh."""
    instance = context.instance
    planned = instance.get_latest_planned_materialization_info(key)
    if planned is None:
        return None
    latest = instance.get_latest_materialization_event(key)
    if latest is not None and latest.run_id == planned.run_id:
        return None
    if planned.run_id != context.run.run_id:
        run = instance.get_run_by_id(planned.run_id)
        if run is None or run.status not in (DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED):
            return None  # another run is loading it now, or it ended without planning to load it
    return {"run": planned.run_id, "loaded_by": latest.run_id if latest is not None else ""}


def _unchecked(key: AssetKey, names: set[str], stale: dict[str, str]) -> Iterator[AssetCheckResult]:
    """The asset's checks when its last planned load did not happen: not evaluated on stale rows, and said so."""
    loaded = f"the table holds the rows loaded by run {stale['loaded_by'][:8]}" if stale["loaded_by"] else "the table was never loaded"
    description = (
        f"not checked: run {stale['run'][:8]}, the last to load this asset, did not materialize it (it failed); "
        f"{loaded}. Materialize it again, then the checks run on fresh rows"
    )
    for name in sorted(names):
        yield AssetCheckResult(
            asset_key=key,
            check_name=name,
            passed=False,
            severity=AssetCheckSeverity.WARN,
            description=description,
            metadata={
                "not_checked": MetadataValue.bool(True),
                "failed_run_id": MetadataValue.text(stale["run"]),
                "last_materialization_run_id": MetadataValue.text(stale["loaded_by"] or "none"),
            },
        )


def _results(pipeline: dlt.Pipeline, resource: Resource, key: AssetKey, names: set[str]) -> Iterator[AssetCheckResult]:
    stats = table_stats(pipeline, resource.name, resource.primary_key_columns)
    rows, duplicates = stats if stats is not None else (0, 0)
    where = {"table": MetadataValue.text(f"{pipeline.dataset_name}.{resource.name}")}
    if ROWS_CHECK in names:
        yield AssetCheckResult(
            asset_key=key,
            check_name=ROWS_CHECK,
            passed=rows > 0,
            severity=AssetCheckSeverity.WARN,
            metadata={**where, "row_count": MetadataValue.int(rows)},
            description=None if rows else "the table is empty or was never loaded",
        )
    if INCREMENTAL_CHECK in names:
        yield _incremental_result(pipeline, resource, key)
    if PK_CHECK in names:
        yield AssetCheckResult(
            asset_key=key,
            check_name=PK_CHECK,
            passed=duplicates == 0,
            severity=AssetCheckSeverity.ERROR,
            metadata={
                **where,
                "primary_key": MetadataValue.text(", ".join(resource.primary_key_columns)),
                "duplicate_keys": MetadataValue.int(duplicates),
            },
        )


def _incremental_result(pipeline: dlt.Pipeline, resource: Resource, key: AssetKey) -> AssetCheckResult:
    """WARN when the last run found no cursor in the records or saw the API ignore the filter."""
    assert resource.incremental is not None
    observed = observed_of(pipeline.state, key.path[0], resource.name)
    problems = warnings_of(observed)
    metadata: dict[str, MetadataValue] = {
        "cursor_path": MetadataValue.text(" | ".join(resource.incremental.cursor_paths)),
        "param": MetadataValue.text(resource.incremental.param),
    }
    if "records" in observed:
        metadata["records_read"] = MetadataValue.int(int(observed["records"]))
    if isinstance(observed.get("filter_honoured"), bool):
        metadata["incremental_effective"] = MetadataValue.bool(bool(observed["filter_honoured"]))
    return AssetCheckResult(
        asset_key=key,
        check_name=INCREMENTAL_CHECK,
        passed=not problems,
        severity=AssetCheckSeverity.WARN,
        metadata=metadata,
        description="\n".join(problems) if problems else (None if observed else "no run observed yet"),
    )


@functools.lru_cache(maxsize=None)
def schedule_interval(cron: str, timezone: str = "UTC") -> timedelta:
    """The longest gap between consecutive ticks of a cron over the next week.

    Cached: every process that loads the definitions asks for each API, and walking a week of a
    `*/1` cron takes ~0.4 s."""
    ticks = cron_string_iterator(time.time(), cron, timezone)
    previous: datetime = next(ticks)
    longest = timedelta(0)
    horizon = previous + timedelta(days=7)
    for tick in ticks:
        longest = max(longest, tick - previous)
        if tick > horizon:
            break
        previous = tick
    return longest


def freshness_lower_bound(api: ApiConfig) -> timedelta:
    """Stale once two scheduled runs were missed: two intervals of the cron plus some slack."""
    return 2 * schedule_interval(api.schedule.cron, api.schedule.timezone) + FRESHNESS_SLACK


def freshness_checks(api: ApiConfig) -> Sequence[AssetChecksDefinition]:
    # dagster 1.13 marks these "superseded" by FreshnessPolicy, but they are what shows a pass/fail
    # freshness check on each asset's Checks tab today; silence the notice, not the behaviour.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return build_last_update_freshness_checks(
            assets=[_key(api, resource) for resource in api.resources],
            lower_bound_delta=freshness_lower_bound(api),
            timezone=api.schedule.timezone,
            severity=AssetCheckSeverity.WARN,
        )


def freshness_sensor(checks: Sequence[AssetChecksDefinition]) -> Optional[SensorDefinition]:
    """Dagster's sensor that evaluates the freshness checks between runs (running, like the schedules)."""
    if not checks:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return build_sensor_for_freshness_checks(
            freshness_checks=checks,
            name="restsync_freshness",
            minimum_interval_seconds=60,
            default_status=DefaultSensorStatus.RUNNING,
        )


def api_checks(api: ApiConfig) -> list[Any]:
    """Every check of one API: table checks, then freshness checks."""
    return [table_checks(api), *freshness_checks(api)]
