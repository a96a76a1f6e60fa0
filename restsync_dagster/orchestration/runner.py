"""One run of an API's multi-asset, in phases by depth: parents load first, then their children.

A child reads its parents' keys from the destination (the parent asset's table), only those parent
rows loaded since the child last ran (`_dlt_load_id` above the child's mark). So a child is
refreshed only for new or changed parents; materializing a child alone neither re-crawls its
parent nor moves the parent's incremental cursor (dlt would, without loading the parent's rows).
A child whose parent was never loaded crawls the parent list live, without loading it.
"""

from __future__ import annotations

import time
from typing import Any, Iterator, Mapping, Optional

import dlt
from dagster import AssetExecutionContext, Config, MaterializeResult, MetadataValue
from dagster_dlt import DagsterDltResource, DagsterDltTranslator
from pydantic import Field

from restsync_dagster.config.model import ApiConfig
from restsync_dagster.config.redaction import REDACTOR, protect, redact_event
from restsync_dagster.config.settings import secrets_of
from restsync_dagster.extract.checkpoint import saved_checkpoint
from restsync_dagster.extract.children import PARENT_MARK_KEY, parent_mark
from restsync_dagster.extract.history_source import history_schema_name
from restsync_dagster.extract.incremental_state import observed_of, warnings_of
from restsync_dagster.extract.plan import ApiPlan, resolve_plan
from restsync_dagster.extract.resource_state import resource_state_of
from restsync_dagster.extract.source import StoredRows, build_source
from restsync_dagster.http.replay import ResponseReplay
from restsync_dagster.http.session import RequestStats
from restsync_dagster.load.destination import pipeline_name, run_pipeline
from restsync_dagster.load.dlt_trace import scrub_trace
from restsync_dagster.load.history import load_lock
from restsync_dagster.load.outcome import (
    TableOutcome,
    count_rows,
    cursor_reached,
    incremental_effective,
)
from restsync_dagster.load.request_budget import shared_budget
from restsync_dagster.load.tuning import apply_dlt_defaults, frozen_heap
from restsync_dagster.orchestration.failure import (
    RunFailure,
    causes,
    debug_traceback,
    exc_summary,
    resources_failed,
    run_failed,
)

PARENT_KEY_BATCH = 100
FULL_REFRESH_TAG = "restsync/full_refresh"


class RunOptions(Config):
    """Run config of an API's assets, set in the launchpad (or by a schedule)."""

    full_refresh: bool = Field(
        default=False,
        description="Drop the selected tables and their incremental cursors and load them from scratch "
        "(reconciles records deleted upstream). The run tag restsync/full_refresh=true does the same.",
    )


def run_api(
    context: AssetExecutionContext,
    dlt_resource: DagsterDltResource,
    api: ApiConfig,
    translator: DagsterDltTranslator,
    options: Optional["RunOptions"] = None,
) -> Iterator[Any]:
    """The run; whatever fails leaves as one short, redacted RunFailure without its causes
    (failure.py), the traceback in the run's debug log; every event's metadata is redacted."""
    try:
        for event in _run_api(context, dlt_resource, api, translator, options):
            yield redact_event(event)
    except Exception as exc:  # noqa: BLE001 - every failure leaves the op in one readable, secret-free form
        if not isinstance(exc, RunFailure):
            context.log.debug(f"{api.name}: the run failed:\n{debug_traceback(exc)}")
        raise run_failed(api, exc) from None
    finally:
        scrub_trace(pipeline_name(api.name))


def _run_api(
    context: AssetExecutionContext,
    dlt_resource: DagsterDltResource,
    api: ApiConfig,
    translator: DagsterDltTranslator,
    options: Optional["RunOptions"],
) -> Iterator[Any]:
    apply_dlt_defaults()  # bounded memory, faster intermediate files (tuning.py); user settings win
    selected = {key.path[-1] for key in context.selected_asset_keys}
    plan = resolve_plan(api, shared_budget)  # every setting of the run, resolved once (plan.py)
    protect(secrets_of(plan.client))
    runnable, failed = _resolvable(plan, selected)
    full_refresh = bool(options and options.full_refresh) or context.run.tags.get(FULL_REFRESH_TAG, "").lower() == "true"
    skipped: set[str] = set()  # children of a failed parent
    replay = ResponseReplay()  # a phase extracted again without its culprit reads its answers from here
    try:
        for phase in phases(api, runnable):
            skipped |= {name for name in phase if any(parent in failed for parent in plan.ancestors(name))}
            phase = phase - skipped
            replay.recording = len(phase) > 1  # a phase of one resource is never extracted again
            while phase:
                try:
                    yield from _run_phase(context, dlt_resource, api, translator, plan, phase, full_refresh, replay)
                    break
                except Exception as exc:  # noqa: BLE001 - attributed to one resource below, or re-raised
                    culprit = failed_resource(exc, phase)
                    if culprit is None:
                        raise
                    context.log.debug(f"{api.name}.{culprit} failed:\n{debug_traceback(exc)}")
                    failed[culprit] = exc
                    phase = phase - {culprit}
                    if phase:
                        context.log.error(
                            f"{api.name}.{culprit} failed; loading the other resources of this phase again without it "
                            f"(from the answers already fetched): {exc_summary(exc)}"
                        )
            replay.close()
    finally:
        replay.close()
    if failed:
        raise resources_failed(api, failed, skipped | (selected - runnable - set(failed)), len(selected))


def failed_resource(exc: BaseException, names: set[str]) -> Optional[str]:
    """The resource an extraction error came from, when dlt or our HTTP layer says which."""
    for cause in causes(exc):
        for attribute in ("resource_name", "pipe_name", "table_name"):
            name = getattr(cause, attribute, None)
            if name in names:
                return str(name)
        # a normalize or load job (e.g. a frozen schema contract violated) names its table in the
        # job id; a nested table (`tickets__tags`) belongs to the resource it was unnested from
        job_table = str(getattr(cause, "job_id", "") or "").split(".")[0]
        owner = _resource_of_table(job_table, names)
        if owner is not None:
            return owner
    return None


def _resource_of_table(table: str, names: set[str]) -> Optional[str]:
    """The resource whose table this is, or whose nested table (`<resource>__<field>`) it is."""
    if table in names:
        return table
    owners = [name for name in names if table.startswith(f"{name}__")]
    return max(owners, key=len) if owners else None


def phases(api: ApiConfig, names: set[str]) -> list[set[str]]:
    """Selected resources grouped by depth: top-level first, then children, grandchildren..."""
    by_depth: dict[int, set[str]] = {}
    for name in names:
        by_depth.setdefault(_depth(api, name), set()).add(name)
    return [by_depth[depth] for depth in sorted(by_depth)]


def _depth(api: ApiConfig, name: str) -> int:
    depth, parent = 0, api.resource(name).parent
    while parent is not None:
        depth, parent = depth + 1, api.resource(parent).parent
    return depth


def _run_phase(
    context: AssetExecutionContext,
    dlt_resource: DagsterDltResource,
    api: ApiConfig,
    translator: DagsterDltTranslator,
    plan: ApiPlan,
    names: set[str],
    full_refresh: bool,
    replay: Optional[ResponseReplay] = None,
) -> Iterator[Any]:
    # load_lock: on Postgres, merges into the dataset take turns with history windows' (load/history.py)
    with frozen_heap(), run_pipeline(api.name) as pipeline, load_lock(api.name):
        stored = stored_parent_readers(api, pipeline, names, full_refresh)
        built = build_source(plan, names, stored_parents=stored, replay=replay)
        context.log.info(
            f"{api.name}: extracting {sorted(names)}" + (f"; parent keys from the destination: {sorted(stored)}" if stored else "")
        )
        kwargs = {"refresh": "drop_data"} if full_refresh else {}
        before = {} if full_refresh else count_rows(pipeline, names)
        started = time.monotonic()
        # dagster-dlt yields its materializations only once the whole load is done, so the tables
        # can be counted again (and the cursors read) before the first one is passed on.
        try:
            events = list(
                dlt_resource.run(context=context, dlt_source=built.source, dlt_pipeline=pipeline, dagster_dlt_translator=translator, **kwargs)
            )
        finally:
            built.close()
        stats, removed = dict(built.stats), dict(built.removed)
        # a long listing stopped at a checkpoint (extract/checkpoint.py): its part is loaded with
        # the checkpoint; extract it on, part after part, until it ends. One materialization each.
        pending = checkpointed(pipeline.state, api, plan, names)
        reached: dict[str, int] = {}
        while pending:
            for name in pending:  # every part must move on; a listing that cannot is a bug, not a loop
                pages = int((saved_checkpoint(resource_state_of(pipeline.state, api.name, name)) or {}).get("pages") or 0)
                if pages <= reached.get(name, 0):
                    stalled = RuntimeError(f"{api.name}.{name}: the listing did not move past its checkpoint at page {pages}")
                    stalled.resource_name = name  # type: ignore[attr-defined]  # fails this resource alone (failed_resource)
                    raise stalled
                reached[name] = pages
            context.log.info(f"{api.name}: checkpoint committed ({checkpoint_summary(pipeline.state, api, pending)}); extracting on")
            built = build_source(plan, pending, replay=replay)
            try:
                more = list(dlt_resource.run(context=context, dlt_source=built.source, dlt_pipeline=pipeline, dagster_dlt_translator=translator))
            finally:
                built.close()
            events = merged_events(events, more)
            stats = merged_stats(stats, built.stats)
            pending = checkpointed(pipeline.state, api, plan, pending)
        duration = time.monotonic() - started
        after = count_rows(pipeline, names)
    for name in sorted(names):  # an assumption of the config the API broke: one line each
        for message in warnings_of(observed_of(pipeline.state, api.name, name)) if api.resource(name).incremental else ():
            context.log.warning(message)
    for event in events:
        yield with_outcome(with_request_stats(event, stats), api, pipeline.state, before, after, duration, removed)


def checkpointed(pipeline_state: Mapping[str, Any], api: ApiConfig, plan: ApiPlan, names: set[str]) -> set[str]:
    """The resources whose listing this run stopped at a checkpoint (extract/checkpoint.py)."""
    found = set()
    for name in names:
        checkpoint = saved_checkpoint(resource_state_of(pipeline_state, api.name, name))
        if checkpoint is not None and checkpoint.get("run_id") == plan.run_id:
            found.add(name)
    return found


def checkpoint_summary(pipeline_state: Mapping[str, Any], api: ApiConfig, names: set[str]) -> str:
    parts = []
    for name in sorted(names):
        checkpoint = saved_checkpoint(resource_state_of(pipeline_state, api.name, name)) or {}
        parts.append(f"{name}: {checkpoint.get('pages')} pages, {checkpoint.get('records')} records")
    return "; ".join(parts)


def merged_events(events: list[Any], more: list[Any]) -> list[Any]:
    """One materialization per asset over the parts of a checkpointed run: rows_loaded summed, the
    rest (schema, jobs) from the latest part."""
    by_key = {getattr(event, "asset_key", None): event for event in events}
    merged = list(events)
    for event in more:
        key = getattr(event, "asset_key", None)
        earlier = by_key.get(key) if key is not None else None
        if not isinstance(event, MaterializeResult) or not isinstance(earlier, MaterializeResult):
            merged.append(event)
            continue
        metadata = dict(event.metadata or {})
        rows = sum(int(getattr(value, "value", value) or 0) for value in ((earlier.metadata or {}).get("rows_loaded"), metadata.get("rows_loaded")))
        if rows:
            metadata["rows_loaded"] = MetadataValue.int(rows)
        merged[merged.index(earlier)] = by_key[key] = MaterializeResult(asset_key=key, metadata=metadata)
    return merged


def merged_stats(stats: Mapping[str, RequestStats], more: Mapping[str, RequestStats]) -> dict[str, RequestStats]:
    merged = {}
    for name in set(stats) | set(more):
        total = RequestStats()
        for part in (stats.get(name), more.get(name)):
            if part is not None:
                total.add(**part.as_dict())
        merged[name] = total
    return merged


def _resolvable(plan: ApiPlan, selected: set[str]) -> tuple[set[str], dict[str, Exception]]:
    """Resources whose settings resolved; a missing setting fails only that resource (and its children)."""
    unresolved: dict[str, Exception] = {}
    for name in selected:
        problem = plan.resource(name).problem
        if problem is not None:
            unresolved[name] = problem
    runnable = {name for name in selected - set(unresolved) if not any(parent in unresolved for parent in plan.ancestors(name))}
    return runnable, unresolved


def stored_parent_readers(api: ApiConfig, pipeline: dlt.Pipeline, names: set[str], full_refresh: bool) -> dict[str, StoredRows]:
    """For each child in this phase, its parent's keys loaded since the child's mark."""
    wanted = {
        api.resource(name).parent: name
        for name in names
        if api.resource(name).parent is not None and api.resource(name).parent not in names
    }
    if not wanted:
        return {}
    pipeline.sync_destination()
    readers: dict[str, StoredRows] = {}
    for parent, child in wanted.items():
        assert parent is not None
        ref = api.resource(child).endpoint.parent_ref
        assert ref is not None
        mark = None if full_refresh else parent_mark(pipeline.state, api.name, child)
        values = _loaded_keys(pipeline, parent, ref[1], since_load_id=mark)
        if values is not None:
            readers[parent] = _batches(ref[1], values)
    return readers


def _loaded_keys(pipeline: dlt.Pipeline, table: str, field: str, since_load_id: Optional[str]) -> Optional[list[tuple[Any, str]]]:
    """(key, _dlt_load_id) of the parent rows loaded after `since_load_id`; None if never loaded."""
    schema = pipeline.default_schema if pipeline.default_schema_name else None
    if schema is None or table not in schema.tables:
        return None
    column = schema.naming.normalize_path(field)
    if column not in schema.get_table_columns(table):
        return None
    with pipeline.sql_client() as client:
        qualified = client.make_qualified_table_name(table)
        key = client.escape_column_name(column)
        load_id = client.escape_column_name("_dlt_load_id")
        query = f"SELECT {key}, max({load_id}) FROM {qualified}"
        args: list[Any] = []
        if since_load_id is not None:
            # parents a history window loaded came with their children in that window's run
            # (orchestration/history.py); its loads carry the schema `<api>_history`
            loads = client.make_qualified_table_name("_dlt_loads")
            query += f" WHERE {load_id} > %s AND {load_id} NOT IN (SELECT load_id FROM {loads} WHERE schema_name = %s)"
            args.extend([since_load_id, history_schema_name(pipeline.dataset_name)])
        rows = client.execute_sql(query + f" GROUP BY {key}", *args)
    return [(row[0], row[1]) for row in rows or []]


def _batches(field: str, values: list[tuple[Any, str]]) -> StoredRows:
    def read() -> Iterator[list[dict[str, Any]]]:
        for start in range(0, len(values), PARENT_KEY_BATCH):
            yield [{field: key, PARENT_MARK_KEY: load_id} for key, load_id in values[start : start + PARENT_KEY_BATCH]]

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
    # schema drift: a field whose type changed lands in a dlt variant column (`<field>__v_<type>`)
    column_schema = metadata.get("dagster/column_schema")
    columns = getattr(getattr(column_schema, "schema", column_schema), "columns", None) or []
    variants = sorted(c.name for c in columns if "__v_" in c.name)
    if variants:
        extra["variant_columns"] = MetadataValue.text(", ".join(variants))
    return MaterializeResult(asset_key=event.asset_key, metadata={**metadata, **extra})


def with_outcome(
    event: Any,
    api: ApiConfig,
    pipeline_state: Mapping[str, Any],
    before: Mapping[str, int],
    after: Mapping[str, int],
    duration: float,
    removed: Optional[Mapping[str, int]] = None,
) -> Any:
    """Add rows inserted/updated (and deleted, for a delta query), the table's size, the cursor
    reached and the load's duration."""
    if not isinstance(event, MaterializeResult) or event.asset_key is None:
        return event
    name = event.asset_key.path[-1]
    metadata = dict(event.metadata or {})
    loaded = metadata.get("rows_loaded")
    outcome = TableOutcome(
        rows_loaded=int(getattr(loaded, "value", loaded) or 0),
        rows_before=before.get(name),
        rows_after=after.get(name),
        rows_deleted=(removed or {}).get(name),
    )
    metadata.update(outcome.metadata())
    metadata["duration_seconds"] = MetadataValue.float(round(duration, 3))
    cursor = cursor_reached(pipeline_state, api, name)
    if cursor is not None:
        metadata["incremental_cursor"] = MetadataValue.text(REDACTOR.redact(cursor))
    effective = incremental_effective(pipeline_state, api, name)
    if effective is not None:
        metadata["incremental_effective"] = MetadataValue.bool(effective)
    return MaterializeResult(asset_key=event.asset_key, metadata=metadata)
