"""The guard every list paginator shares: it ends on every vendor's end signal, then refuses to loop.

dlt's paginators know a few ways a listing ends and fail on others (a 204 breaks its body-reading
paginators, a missing `has_more` raises); `ListingGuard` ends the listing quietly on each of them
(read by `listing_signals`), never asking for a page past a clear end: an empty body, a null or
missing data key, a false "more" flag, a total reached. It also stops endless pagination with an
error naming the resource: a next reference that repeats, a page that repeats the previous one,
empty pages that still point to a next page, or more than `max_pages` pages. The concrete
paginators are in `guarded_paginators`, built from the config by `paginator_factory`.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Optional

from dlt.common import jsonpath
from requests import Request, Response

from restsync_dagster.config.errors import RestsyncError
from restsync_dagster.http.listing_signals import as_bool, body_keys, detected_end, empty_body

log = logging.getLogger("restsync_dagster.http.listing_guard")

MAX_EMPTY_PAGES_WITH_NEXT = 3


class PaginationLoopError(RestsyncError):
    """Pagination does not terminate: a repeated next reference, endless empty pages, or too many pages."""


class PaginationFieldError(RestsyncError):
    """A configured paginator field (a total) is missing from, or not a number in, a page of records."""


class AdaptationNotes:
    """The paginator adaptations of one resource in one run (`ResourcePlan.notes`, shared by every
    listing of it: a child lists once per parent record). Each kind is warned once, and counted
    every time; a repeat is logged at DEBUG with the count so far."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def warn(self, logger: logging.Logger, kind: str, message: str, *args: Any) -> None:
        with self._lock:
            count = self.counts[kind] = self.counts.get(kind, 0) + 1
        if count == 1:
            logger.warning(message, *args)
        else:
            logger.debug(message + " (listing %d of this run doing so)", *args, count)


class ListingGuard:
    """Mixin for list paginators: ends on every vendor's end signal, then guards against loops.

    Set by `build_paginator`: `label` (for errors), `max_pages`, `more_flag_path` (a configured
    has_more flag), `detect_end_flags`, `total_records_path` (records of the whole listing),
    `stop_on_status` (read by `pages.ListingClient`, which sees the failed request).
    """

    label: str = "resource"
    max_pages: int = 100_000
    more_flag_path: Optional[Any] = None
    more_flag_field: str = "paginator.has_more_path"
    detect_end_flags: bool = True
    total_records_path: Optional[Any] = None
    total_records_field: str = "paginator.total_path"
    stop_on_status: tuple[int, ...] = ()
    notes: Optional[AdaptationNotes] = None  # the resource's, for the run (None: warned once per listing)

    def _adapted(self, logger: logging.Logger, kind: str, message: str, *args: Any) -> None:
        """Warn about an adaptation to the wire: once per listing, and once per resource and run with notes."""
        if self.notes is None:
            logger.warning(message, *args)
        else:
            self.notes.warn(logger, kind, message, *args)

    def init_request(self, request: Request) -> None:
        self._pages = 0
        self._empty_in_row = 0
        self._received = 0
        self._warned_flag = False
        self._last_page: Optional[tuple[int, str, str]] = None  # first and last record of the previous page
        self._seen: set[Any] = set()
        super().init_request(request)  # type: ignore[misc]

    def update_state(self, response: Response, data: Optional[list[Any]] = None) -> None:
        if empty_body(response) or getattr(response, "restsync_no_data", False):
            self._has_next_page = False  # 204, an empty body, a null or missing data key
            return
        super().update_state(response, data)  # type: ignore[misc]
        self._received += len(data or [])
        if not getattr(self, "has_next_page", False):
            return
        reason = self._end_reason(response.json(), data)
        if reason is not None:
            log.info("%s: %s, the listing ends here", self.label, reason)
            self._has_next_page = False
            return
        self._guard(data)

    def _end_reason(self, body: Any, data: Optional[list[Any]]) -> Optional[str]:
        """Why the body says this is the last page although the paginator would go on, or None."""
        if self.total_records_path is not None:
            total = self._number(body, self.total_records_path, self.total_records_field)
            if self._received >= total:
                return f"{self._received} records of the {total} in {self.total_records_field} received"
        if self.more_flag_path is not None:
            values = jsonpath.find_values(self.more_flag_path, body)
            flag = as_bool(values[0]) if values else None
            if flag is False:
                return f"{self.more_flag_field} is {values[0]!r}"
            if flag is None and data and not self._warned_flag:
                self._warned_flag = True
                self._adapted(
                    log, "more_flag", "%s: %s '%s' is not a boolean in a page of records (its keys: %s); the listing ends on "
                    "its other signals; fix %s", self.label, self.more_flag_field, self.more_flag_path, body_keys(body),
                    self.more_flag_field,
                )
        elif self.detect_end_flags:
            flag = detected_end(body)
            if flag is not None:
                return f"the body says {flag} (detected; set paginator.detect_end_flags: false to ignore it)"
        return None

    def _number(self, body: Any, path: Any, field: str) -> int:
        values = jsonpath.find_values(path, body)
        value = values[0] if values else None
        try:
            return int(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise PaginationFieldError(
                f"{self.label}: {field} '{path}' is "
                + ("missing from" if value is None else f"{value!r}, not a number, in")
                + f" a page of records (its keys: {body_keys(body)}); set {field} to the field holding the total, or remove it"
            ) from None

    # dlt's RangePaginator reports a bad total_path through these (its message dumps the whole body)
    def _handle_missing_total(self, response_json: Any) -> None:
        self._number(response_json, self.total_path, "paginator.total_path")  # type: ignore[attr-defined]

    def _handle_invalid_total(self, total: Any) -> None:
        raise PaginationFieldError(
            f"{self.label}: paginator.total_path '{self.total_path}' is {total!r}, not a number; "  # type: ignore[attr-defined]
            "set paginator.total_path to the field holding the total, or remove it"
        )

    def _guard(self, data: Optional[list[Any]]) -> None:
        self._pages += 1
        self._empty_in_row = 0 if data else self._empty_in_row + 1
        reference = self._reference()
        if reference is not None:
            if reference in self._seen:
                raise PaginationLoopError(f"{self.label}: the API sent the same next page twice ({type(self).__name__}); stopping")
            self._seen.add(reference)
        # an API that ignores the page or offset parameter serves page 1 again and again
        fingerprint = (len(data), repr(data[0]), repr(data[-1])) if data else None
        if fingerprint is not None and fingerprint == self._last_page:
            if self._retry_repeated_page():
                self._pages -= 1  # the same page is asked again, another way
                self.restsync_skip_page = True  # its records are page 1's again: the listing client drops them
                return
            raise PaginationLoopError(
                f"{self.label}: page {self._pages} holds the same records as page {self._pages - 1}; the API seems "
                f"to ignore the paging parameter ({type(self).__name__}){self._repeat_hint()}; stopping"
            )
        self._last_page = fingerprint
        if self._empty_in_row > MAX_EMPTY_PAGES_WITH_NEXT:
            raise PaginationLoopError(
                f"{self.label}: {self._empty_in_row} empty pages in a row still announce a next page; stopping"
            )
        if self._pages >= self.max_pages:
            raise PaginationLoopError(
                f"{self.label}: more than error_handling.max_pages ({self.max_pages}) pages; raise it if the API is that large"
            )

    def _retry_repeated_page(self) -> bool:
        """Whether the paginator asks for the repeated page again another way (it then says how)."""
        return False

    def _repeat_hint(self) -> str:
        return ""

    def _reference(self) -> Any:
        return getattr(self, "_next_reference", None)
