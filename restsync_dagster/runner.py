"""One run of an API's multi-asset: plan what to extract, build a fresh source, load, report.

A child whose parent is not selected reads its parents' keys from the destination (the parent
asset's table) instead of re-crawling the parent through the API: that is the least work that is
correct, and it never touches the parent's incremental state.
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping, Optional

import dlt
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue
from dagster_dlt import DagsterDltResource, DagsterDltTranslator

from restsync_dagster.config import ApiConfig
from restsync_dagster.destination import make_pipeline
from restsync_dagster.errors import MissingSettingError, ResourceFailedError
from restsync_dagster.http import RequestStats
from restsync_dagster.settings import resolve_client, resolve_params
from restsync_dagster.source import StoredRows, build_source

PARENT_KEY_BATCH = 100


def run_api(
    context: AssetExecutionContext,
    dlt_resource: DagsterDltResource,
    api: ApiConfig,
    translator: DagsterDltTranslator,
) -> Iterator[Any]:
    selected = {key.path[-1] for key in context.selected_asset_keys}
    client = resolve_client(api)
    runnable, unresolved = _resolvable(api, selected)
    pipeline = make_pipeline(api.name)
    if runnable:
        stored = stored_parent_readers(api, pipeline, runnable)
        built = build_source(api, runnable, stored_parents=stored, client=client)
        context.log.info(
            f"{api.name}: extracting {sorted(runnable)}"
            + (f"; parents read from the destination: {sorted(stored)}" if stored else "")
        )
        for event in dlt_resource.run(context=context, dlt_source=built.source, dlt_pipeline=pipeline, dagster_dlt_translator=translator):
            yield with_request_stats(event, built.stats)
    if unresolved:
        raise ResourceFailedError(
            f"{len(unresolved)} resource(s) of API '{api.name}' could not run; the others were loaded:\n"
            + "\n".join(f"  - {name}: {error}" for name, error in sorted(unresolved.items()))
        )


def _resolvable(api: ApiConfig, selected: set[str]) -> tuple[set[str], dict[str, MissingSettingError]]:
    """Resources whose settings resolve; a missing setting fails only that resource (and its children)."""
    unresolved: dict[str, MissingSettingError] = {}
    for name in selected:
        try:
            resolve_params(api, api.resource(name))
        except MissingSettingError as exc:
            unresolved[name] = exc
    runnable = set()
    for name in selected - set(unresolved):
        parent = api.resource(name).parent
        blocked = False
        while parent is not None:
            if parent in unresolved:
                blocked = True
                break
            parent = api.resource(parent).parent
        if not blocked:
            runnable.add(name)
    return runnable, unresolved


def stored_parent_readers(api: ApiConfig, pipeline: dlt.Pipeline, runnable: set[str]) -> dict[str, StoredRows]:
    """For each child whose parent is not in this run, the parent's keys as already loaded."""
    wanted: dict[str, str] = {}
    for name in runnable:
        resource = api.resource(name)
        if resource.parent and resource.parent not in runnable and resource.endpoint.parent_ref:
            wanted[resource.parent] = resource.endpoint.parent_ref[1]
    if not wanted:
        return {}
    pipeline.sync_destination()
    readers: dict[str, StoredRows] = {}
    for parent, field in wanted.items():
        values = _loaded_values(pipeline, parent, field)
        if values is not None:
            readers[parent] = _batches(field, values)
    return readers


def _loaded_values(pipeline: dlt.Pipeline, table: str, field: str) -> Optional[list[Any]]:
    schema = pipeline.default_schema if pipeline.default_schema_name else None
    if schema is None or table not in schema.tables:
        return None
    column = schema.naming.normalize_path(field)
    if column not in schema.get_table_columns(table):
        return None
    with pipeline.sql_client() as client:
        qualified = client.make_qualified_table_name(table)
        rows = client.execute_sql(f"SELECT DISTINCT {client.escape_column_name(column)} FROM {qualified}")
    return [row[0] for row in rows or []]


def _batches(field: str, values: list[Any]) -> StoredRows:
    def read() -> Iterator[list[dict[str, Any]]]:
        for start in range(0, len(values), PARENT_KEY_BATCH):
            yield [{field: value} for value in values[start : start + PARENT_KEY_BATCH]]

    return read


def with_request_stats(event: Any, stats: Mapping[str, RequestStats]) -> Any:
    """Add the resource's HTTP counts to its materialization metadata."""
    if not isinstance(event, MaterializeResult) or event.asset_key is None:
        return event
    resource_stats = stats.get(event.asset_key.path[-1])
    if resource_stats is None:
        return event
    extra = {name: MetadataValue.int(value) for name, value in resource_stats.as_dict().items()}
    metadata = dict(event.metadata or {})
    metadata.setdefault("rows_loaded", MetadataValue.int(0))
    return MaterializeResult(asset_key=event.asset_key, metadata={**metadata, **extra})
