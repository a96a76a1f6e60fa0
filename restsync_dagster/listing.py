"""Top-level resources: one paginated listing, with our own cursor instead of dlt's `incremental`.

dlt's `incremental` compares raw values (an epoch-ms record against an ISO initial value raises
`TypeError`), fails the resource when a record lacks the cursor field, and filters out records it
judges older than its cursor. Here the listing sends the cursor (minus the lag, in the API's form)
as the filter parameter, loads every record it receives, and moves the cursor in the resource's
dlt state only when the listing ends (`cursor_tracker.py`), so a failed run never moves it.

A resource crawled only to feed its children (`track_cursor=False`) neither reads nor moves its
cursor: its rows are not loaded in that run (the data-loss trap).
"""

from __future__ import annotations

from typing import Any, Callable, Iterator, Mapping, Optional

import dlt
from dlt.extract import DltResource

from restsync_dagster.children import compiled_data_selector
from restsync_dagster.config import ApiConfig, Resource
from restsync_dagster.cursor_tracker import CursorRun
from restsync_dagster.http import ApiSession
from restsync_dagster.pages import ListingClient


def listing_resource(
    api: ApiConfig,
    resource: Resource,
    session: ApiSession,
    base_url: str,
    params: Mapping[str, Any],
    headers: Mapping[str, str],
    hooks: Optional[dict[str, Any]],
    make_paginator: Callable[[], Any],
    hints: Mapping[str, Any],
    track_cursor: bool,
) -> DltResource:
    """A dlt resource that pages through the resource's list (filtered by its cursor when tracked)."""
    client = ListingClient(base_url=base_url, headers=dict(headers), session=session, source_file=api.source_file)
    data_selector = compiled_data_selector(resource)
    incremental = resource.incremental if track_cursor else None
    label = f"{api.source_file or api.name}: resource '{resource.name}'"

    def records() -> Iterator[list[Any]]:
        query = dict(params)
        cursor: Optional[CursorRun] = None
        if incremental is not None:
            state = dlt.current.resource_state()
            cursor = CursorRun(label, incremental, state)
            query[incremental.param] = cursor.sent
        for page in client.paginate(
            resource.endpoint.path, params=query, paginator=make_paginator(), data_selector=data_selector, hooks=hooks
        ):
            if not page:
                continue
            if cursor is not None:
                cursor.observe(page)
            yield list(page)
        if cursor is not None:
            cursor.commit(dlt.current.resource_state())  # the runner logs what it observed

    return dlt.resource(records, **hints)()
