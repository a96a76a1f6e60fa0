"""Top-level resources: one paginated listing, with our own cursor instead of dlt's `incremental`.

dlt's `incremental` compares raw values (an epoch-ms record against an ISO initial value raises
`TypeError`), fails the resource when a record lacks the cursor field, and filters out records it
judges older than its cursor. Here the listing sends the cursor (minus the lag, in the API's form)
as the filter parameter, loads every record it receives, and moves the cursor in the resource's
dlt state only when the listing ends (`cursor_tracker.py`), so a failed run never moves it.

A resource crawled only to feed its children (`track_cursor=False`) neither reads nor moves its
cursor: its rows are not loaded in that run (the data-loss trap). Nor does one window of its history
(`window`: the path and query of a backfill window, config/backfill_config.window_request).

A long listing checkpoints (checkpoint.py): every `error_handling.checkpoint_pages` pages (or
`checkpoint_records` records) it leaves its next page and its cursor run in its state and ends this
extraction; the runner loads that part and extracts again, and the listing resumes there.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any, Iterator, Mapping, Optional

import dlt
from dlt.extract import DltResource

from restsync_dagster.config.model import Resource
from restsync_dagster.extract.checkpoint import CHECKPOINT_KEY, clear, fingerprint, make_checkpoint, saved_checkpoint, usable
from restsync_dagster.extract.cursor_tracker import CursorRun
from restsync_dagster.extract.plan import ApiPlan
from restsync_dagster.http.pages import ListingRequests

log = logging.getLogger("restsync_dagster.extract.listing")


def listing_resource(
    plan: ApiPlan, resource: Resource, requests: ListingRequests, hints: Mapping[str, Any], track_cursor: bool,
    window: Optional[tuple[str, Mapping[str, Any]]] = None,
) -> DltResource:
    """A dlt resource that pages through the resource's list (filtered by its cursor when tracked,
    or by a history window's bounds: `window` is its (path, query), and the cursor is left alone)."""
    incremental = resource.incremental if track_cursor and window is None else None
    path, window_query = window if window is not None else (resource.endpoint.path, {})
    label = f"{plan.source_file or plan.name}: resource '{resource.name}'"

    handling = plan.resource(resource.name).error_handling
    checkpointing = (
        track_cursor and window is None and resource.write_disposition != "replace"  # a replace would keep only the last part
        and (incremental is None or incremental.restart_on is None)  # a restarting listing's position is its own
        and bool(handling.checkpoint_pages or handling.checkpoint_records)
    )

    def records() -> Iterator[list[Any]]:
        query: dict[str, Any] = dict(window_query)
        cursor: Optional[CursorRun] = None
        if incremental is not None:
            state = dlt.current.resource_state()
            cursor = CursorRun(label, incremental, state)
            query[incremental.param] = cursor.sent
        if not checkpointing:
            for page in requests.pages(path, query):
                if not page:
                    continue
                if cursor is not None:
                    cursor.observe(page)
                yield list(page)
            if cursor is not None:
                cursor.commit(dlt.current.resource_state())  # the runner logs what it observed
            return
        yield from checkpointed(query, cursor)

    def checkpointed(query: dict[str, Any], cursor: Optional[CursorRun]) -> Iterator[list[Any]]:
        """The listing in parts of `checkpoint_pages` pages: each part ends with a checkpoint in the state."""
        listing_id = fingerprint(path, {**requests.params, **query}, _listing_config(resource))
        resume = _resume_from(dlt.current.resource_state(), listing_id)
        pages = records_read = 0
        if resume is not None:
            pages, records_read = int(resume.get("pages") or 0), int(resume.get("records") or 0)
            if cursor is not None and resume.get("cursor"):
                cursor.resume(resume["cursor"])
            if resume.get("run_id") != plan.run_id:
                saved = datetime.fromtimestamp(float(resume.get("saved_at") or 0), tz=timezone.utc).isoformat(timespec="seconds")
                log.info(
                    "%s: resuming the listing at page %d from the checkpoint of a run that did not finish (%d records "
                    "committed, saved %s)", label, pages + 1, records_read, saved,
                )
        part_pages = part_records = 0
        for page in requests.pages(path, query, resume=resume["next"] if resume is not None else None):
            pages, part_pages = pages + 1, part_pages + 1
            if page:
                records_read, part_records = records_read + len(page), part_records + len(page)
                if cursor is not None:
                    cursor.observe(page)
                yield list(page)
            due = (handling.checkpoint_pages and part_pages >= handling.checkpoint_pages) or (
                handling.checkpoint_records and part_records >= handling.checkpoint_records
            )
            if due and page.paginator is not None and page.paginator.has_next_page:
                checkpoint = make_checkpoint(
                    listing_id, plan.run_id, requests.next_reference(page, path, query), pages, records_read,
                    cursor.snapshot() if cursor is not None else None,
                )
                if checkpoint is not None:
                    dlt.current.resource_state()[CHECKPOINT_KEY] = checkpoint
                    return  # this part is loaded with its checkpoint; the runner extracts the rest
                log.warning("%s: the listing's next page carries a secret; it is not checkpointed", label)
                part_pages = part_records = -(10**12)  # never due again in this listing
        state = dlt.current.resource_state()
        clear(state)  # the listing ended: the next run starts afresh
        if cursor is not None:
            cursor.commit(state)  # the newest value of every part; the runner logs what it observed

    def _resume_from(state: Mapping[str, Any], listing_id: str) -> Optional[Mapping[str, Any]]:
        saved = saved_checkpoint(state)
        if saved is None:
            return None
        why = usable(saved, listing_id, handling.checkpoint_max_age_hours, plan.run_id)
        if why is None:
            return saved
        log.warning("%s: the checkpoint of a run that did not finish is ignored, the listing starts over: %s", label, why)
        return None

    return dlt.resource(records, **hints)()


def _listing_config(resource: Resource) -> Any:
    """The parts of a resource's config a checkpoint depends on."""
    return {
        "endpoint": resource.endpoint.model_dump(mode="json"),
        "incremental": resource.incremental.model_dump(mode="json") if resource.incremental is not None else None,
    }
