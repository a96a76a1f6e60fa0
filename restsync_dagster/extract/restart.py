"""A listing restarted from its cursor when the API refuses to page further.

Freshdesk lists at most 300 pages of tickets and answers page 301 with 400 "You cannot access
tickets beyond the 300th page". With `incremental.restart_on` the listing starts again from page 1
with its filter (`incremental.param`) set to the newest cursor value read so far (Airbyte's
`SPLIT_USING_CURSOR`), so a sorted listing goes on where the cap cut it. The first page of a restart
repeats the records at that value (the filter is inclusive, the value floored to the unit sent):
the merge on the primary key absorbs them. Bounded: every restart must start from a value newer
than the one before (a cap reached by records all of one instant fails, naming the setting), at
most `max_restarts` times.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping, Optional

import requests

from restsync_dagster.config.change_tracking import IncrementalConfig, RestartOn
from restsync_dagster.config.cursor_values import CursorValue, format_cursor, later, parse_cursor
from restsync_dagster.config.errors import RestsyncError
from restsync_dagster.extract.cursor_tracker import CursorFields
from restsync_dagster.http.pages import ListingRequests

log = logging.getLogger("restsync_dagster.extract.restart")


class ListingRestartError(RestsyncError):
    """The API refused to page on and a restart from the cursor cannot make progress."""


def refuses_to_page_on(restart: RestartOn, response: Optional[requests.Response]) -> bool:
    """Whether an error answer is the one `restart_on` describes."""
    if response is None or response.status_code != restart.status:
        return False
    if not restart.body_contains:
        return True
    try:
        body = response.text
    except Exception:  # noqa: BLE001 - an unreadable body is not the answer described
        return False
    return restart.body_contains.lower() in body.lower()


@dataclass(frozen=True)
class RestartingRequests(ListingRequests):
    """A resource's listing requests whose listings restart as `incremental.restart_on` says."""

    label: str = ""
    incremental: Optional[IncrementalConfig] = None

    def pages(self, path: str, extra_params: Optional[Mapping[str, Any]] = None) -> Iterator[Any]:
        def listing(at: str, query: Mapping[str, Any]) -> Iterator[Any]:
            return ListingRequests.pages(self, at, query)

        return restarting_pages(self.label, listing, path, dict(extra_params or {}), self.incremental)


def restarting_pages(
    label: str, listing: Callable[[str, Mapping[str, Any]], Iterator[Any]], path: str, query: Mapping[str, Any],
    incremental: Optional[IncrementalConfig],
) -> Iterator[Any]:
    """The pages of the listing at `path` (`listing(path, query)`); restarted from the newest
    cursor value read when the answer is `incremental.restart_on`'s (without it: the listing as it is)."""
    restart = incremental.restart_on if incremental is not None else None
    if restart is None or incremental is None:
        yield from listing(path, query)
        return
    fields = CursorFields(incremental)
    newest: Optional[CursorValue] = None
    start: Optional[CursorValue] = None  # the value the current restart was filtered on
    restarts, pages, current = 0, 0, dict(query)
    while True:
        try:
            for page in listing(path, current):
                pages += 1
                for record in page:
                    if isinstance(record, Mapping):
                        value = parse_cursor(fields.raw(record), incremental.format)
                        if value is not None and (newest is None or (value.comparable(newest) and later(value, newest))):
                            newest = value
                yield page
            return
        except requests.HTTPError as exc:
            if not refuses_to_page_on(restart, exc.response):
                raise
            why = f"{label}: field 'incremental.restart_on': the API answered {restart.status} after {pages} page(s) ({exc})"
            if newest is None:
                raise ListingRestartError(f"{why}; no record read carries {incremental.cursor_names}, so there is no value to restart from") from exc
            if start is not None and not later(newest, start):
                raise ListingRestartError(
                    f"{why}; the restart from {incremental.param}={format_cursor(start, incremental.format)} read nothing newer "
                    "(more records at one instant than the API pages): not restarted again"
                ) from exc
            if restarts >= restart.max_restarts:
                raise ListingRestartError(f"{why}; already restarted {restarts} time(s) (restart_on.max_restarts)") from exc
            restarts += 1
            start = newest
            sent = format_cursor(newest, incremental.format)
            current = {**query, incremental.param: sent}
            log.warning(
                "%s: the API answered %s after %d page(s) (incremental.restart_on); listing again from page 1 with "
                "%s=%s, the newest %s read (restart %d of at most %d; the overlap merges on the key)",
                label, restart.status, pages, incremental.param, sent, incremental.cursor_names, restarts, restart.max_restarts,
            )
