"""The dlt source of one history window: a backfilled resource's bounded listing and its children.

A window lists the top-level resource with the window's path and query (config/backfill_config.py
`window_request`) instead of its cursor, which it neither reads nor moves (listing.py `window`), and
feeds each page of parent records straight to its child resources (children.py), grandchildren
included: the children of a window's parents are fetched in that window's run. Every resource is
loaded (rows made safe and keyed as in a live run, record_hygiene.py).

The source's schema is `<api>_history`, not the live `<api>`: dlt restores a pipeline's schema by
name, newest first, from the dataset's `_dlt_version`; a window's schema (its few tables) under the
live name would be what the live pipeline restores next. The tables are the same (names come from
the resources), and a window's loads are told apart from live ones in `_dlt_loads.schema_name`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping, Optional, Sequence

import dlt
from dlt.common import jsonpath
from dlt.extract import DltResource, DltSource

from restsync_dagster.config.cursor_values import parse_cursor
from restsync_dagster.config.model import Resource
from restsync_dagster.extract.children import child_resource
from restsync_dagster.extract.listing import listing_resource
from restsync_dagster.extract.plan import ApiPlan
from restsync_dagster.extract.record_hygiene import RecordHygiene

# the source module's own builders of a resource's session and requests (one place builds them)
from restsync_dagster.extract.source import BuiltSource, _requests, _session, resource_hints

HISTORY_SCHEMA_SUFFIX = "_history"


def history_schema_name(api_name: str) -> str:
    return f"{api_name}{HISTORY_SCHEMA_SUFFIX}"


@dataclass
class WindowTally:
    """Counts the window's top-level records whose cursor lies outside `[start, end]` (an API that
    ignores a bound sends them; they still load, merged on the key: a record whose filter field and
    cursor field differ, as Help Scout's modifiedAt and userUpdatedAt, belongs where the API put it)."""

    paths: Sequence[str]
    start: datetime
    end: datetime
    records: int = 0
    outside: int = 0

    def __post_init__(self) -> None:
        self._compiled = [jsonpath.compile_path(path) for path in self.paths]

    def __call__(self, record: Any) -> Any:
        self.records += 1
        if isinstance(record, dict):
            for path in self._compiled:
                values = jsonpath.find_values(path, record)
                if values:
                    parsed = parse_cursor(values[0])
                    if parsed is not None and parsed.kind == "instant" and not (self.start <= parsed.instant <= self.end):
                        self.outside += 1
                    break
        return record


def cursor_paths(resource: Resource) -> tuple[str, ...]:
    incremental = resource.incremental
    if incremental is None:
        return ()
    paths = getattr(incremental, "cursor_paths", None)
    if paths:
        return tuple(paths)
    return (incremental.cursor_path,) if isinstance(incremental.cursor_path, str) else tuple(incremental.cursor_path)


def build_window_source(
    plan: ApiPlan,
    top: str,
    names: Sequence[str],
    window: tuple[str, Mapping[str, Any]],
    tally: Optional[WindowTally] = None,
) -> BuiltSource:
    """The window's source: `top` listed with `window` (path, query), then each of `names` below it
    (parents before children) fetched for the records its parent yields in this run."""
    wanted = set(names) | {top}
    auth = plan.build_auth()
    sessions = []
    built: dict[str, DltResource] = {}
    for resource in plan.resources:  # parents first
        if resource.name not in wanted:
            continue
        if resource.name != top and resource.parent not in built:
            continue  # not below `top`
        hints = resource_hints(resource.model)
        session = _session(plan, resource, auth)
        sessions.append(session)
        if resource.name == top:
            listing = listing_resource(plan, resource.model, _requests(plan, resource, session), hints, track_cursor=False, window=window)
            if tally is not None:
                listing.add_map(tally)
            built[resource.name] = listing
        else:
            built[resource.name] = child_resource(plan, resource.model, built[resource.parent], _requests(plan, resource, session), hints)
    for name, built_resource in built.items():
        built_resource.add_map(RecordHygiene(plan, plan.resource(name).model, check_primary_key=True))
    source = DltSource.from_data(dlt.Schema(history_schema_name(plan.name)), section=plan.name, data=list(built.values()))
    return BuiltSource(source=source, sessions=sessions, auth=auth)
