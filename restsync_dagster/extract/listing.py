"""Top-level resources: one paginated listing, with our own cursor instead of dlt's `incremental`.

dlt's `incremental` compares raw values (an epoch-ms record against an ISO initial value raises
`TypeError`), fails the resource when a record lacks the cursor field, and filters out records it
judges older than its cursor. Here the listing sends the cursor (minus the lag, in the API's form)
as the filter parameter, loads every record it receives, and moves the cursor in the resource's
dlt state only when the listing ends (`cursor_tracker.py`), so a failed run never moves it.

A resource crawled only to feed its children (`track_cursor=False`) neither reads nor moves its
cursor: its rows are not loaded in that run (the data-loss trap). Nor does one window of its history
(`window`: the path and query of a backfill window, config/backfill_config.window_request).
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping, Optional

import dlt
from dlt.extract import DltResource

from restsync_dagster.config.model import Resource
from restsync_dagster.extract.cursor_tracker import CursorRun
from restsync_dagster.extract.plan import ApiPlan
from restsync_dagster.http.pages import ListingRequests


def listing_resource(
    plan: ApiPlan, resource: Resource, requests: ListingRequests, hints: Mapping[str, Any], track_cursor: bool,
    window: Optional[tuple[str, Mapping[str, Any]]] = None,
) -> DltResource:
    """A dlt resource that pages through the resource's list (filtered by its cursor when tracked,
    or by a history window's bounds: `window` is its (path, query), and the cursor is left alone)."""
    incremental = resource.incremental if track_cursor and window is None else None
    path, window_query = window if window is not None else (resource.endpoint.path, {})
    label = f"{plan.source_file or plan.name}: resource '{resource.name}'"

    def records() -> Iterator[list[Any]]:
        query: dict[str, Any] = dict(window_query)
        cursor: Optional[CursorRun] = None
        if incremental is not None:
            state = dlt.current.resource_state()
            cursor = CursorRun(label, incremental, state)
            query[incremental.param] = cursor.sent
        for page in requests.pages(path, query):
            if not page:
                continue
            if cursor is not None:
                cursor.observe(page)
            yield list(page)
        if cursor is not None:
            cursor.commit(dlt.current.resource_state())  # the runner logs what it observed

    return dlt.resource(records, **hints)()
