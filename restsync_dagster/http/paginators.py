"""dlt paginators from the canonical config, reading every way an API says a listing ended.

Vendors end a listing in many ways: an empty list, a missing or `null` data key, 204 or an empty
body, a "more" flag that is false, a total reached, a 404 past the last page. dlt's paginators
know a few of them and fail on others (a 204 breaks its body-reading paginators, a missing
`has_more` raises); these subclasses end the listing quietly on each of them, never asking for a
page past a clear end. They are also guarded against endless pagination: a next reference that
repeats, empty pages that still point to a next page, or more than `max_pages` pages stop with an
error naming the resource. The offset paginator advances by the records it actually received, so a
server that caps the page size below the asked limit loses no record; a cursor that is a full URL
is followed as a link (the session's host allowlist still applies).

A config's assumption about the wire is checked while paging, and adapted to with one warning
naming the paginator field to set, never by loading a part silently: a cursor missing from the
configured `cursor_path` is looked for at the usual places (`GuardedCursor`), and an offset
parameter the API ignores, when the config did not name it, is retried under the usual other
names (`GuardedOffset`).
"""

from __future__ import annotations

import logging
import re
from typing import Any, Optional, Union

from dlt.common import jsonpath
from dlt.sources.helpers.rest_client import paginators as dlt_paginators
from requests import Request, Response

from restsync_dagster.config.errors import RestsyncError
from restsync_dagster.config.paginator_config import (
    CursorPaginator,
    HeaderLinkPaginator,
    JsonLinkPaginator,
    OffsetPaginator,
    PageNumberPaginator,
    PaginatorConfig,
    SinglePagePaginator,
)

log = logging.getLogger("restsync_dagster.http.paginators")

MAX_EMPTY_PAGES_WITH_NEXT = 3
# where APIs put their end-of-listing flags: the top of the body, or one of these envelopes
END_FLAG_ENVELOPES = ("", "meta", "info", "pagination", "paging", "page_info", "pageInfo", "response_metadata")
# flags whose boolean `false` ends a listing (Stripe, Zoho `info.more_records`, Slack, Box...)
MORE_FLAGS = ("has_more", "hasMore", "more", "more_records", "moreRecords", "has_more_items", "hasMoreItems",
              "has_next", "hasNext", "has_next_page", "hasNextPage")
# flags whose boolean `true` ends a listing (Jira `isLast`, Zendesk `end_of_stream`...)
LAST_FLAGS = ("is_last", "isLast", "is_last_page", "isLastPage", "last_page", "lastPage", "end_of_stream", "endOfStream")
_URL = re.compile(r"^https?://", re.IGNORECASE)
# where APIs put the next cursor, looked at in this order when the configured cursor_path is absent
CURSOR_PLACES = (
    "next", "next_cursor", "nextCursor", "cursor", "next_page_token", "nextPageToken",
    "pagination.next", "pagination.next_cursor", "pagination.nextCursor", "pagination.cursor",
    "meta.next_cursor", "meta.nextCursor", "meta.next", "meta.cursor",
    "links.next", "paging.next", "paging.next.after", "paging.cursors.after",
    "pages.next", "pages.next.starting_after", "response_metadata.next_cursor",
)
# an object found at one of those places (Intercom `pages.next`, HubSpot `paging.next`): its cursor key
CURSOR_KEYS = ("starting_after", "after", "cursor", "next_cursor", "href")
# offset parameter names tried, in order, when the API ignores the configured (default) one
OFFSET_PARAMS = ("offset", "from", "start", "skip")


class PaginationLoopError(RestsyncError):
    """Pagination does not terminate: a repeated next reference, endless empty pages, or too many pages."""


class PaginationFieldError(RestsyncError):
    """A configured paginator field (a total) is missing from, or not a number in, a page of records."""


def empty_body(response: Response) -> bool:
    """An empty success body (204/205, zero bytes): the session makes its json() None."""
    return bool(getattr(response, "restsync_empty", False)) or response.json() is None


def detected_end(body: Any) -> Optional[str]:
    """The usual end flag the body carries, as `path=value`, or None.

    Only a real boolean counts, at the top of the body or in a known envelope: a flag that merely
    exists, or a number (Laravel's `last_page: 3`), never ends a listing.
    """
    return _usual_flag(body, more=False)


def detected_more(body: Any) -> Optional[str]:
    """The usual flag saying more pages follow (`has_more: true`, `isLast: false`...), as `path=value`, or None."""
    return _usual_flag(body, more=True)


def _usual_flag(body: Any, more: bool) -> Optional[str]:
    """The first usual flag saying the listing goes on (`more`) or ends (not `more`), as `path=value`."""
    if not isinstance(body, dict):
        return None
    for envelope in END_FLAG_ENVELOPES:
        holder = body.get(envelope) if envelope else body
        if not isinstance(holder, dict):
            continue
        prefix = f"{envelope}." if envelope else ""
        for names, value in ((MORE_FLAGS, more), (LAST_FLAGS, not more)):
            for name in names:
                if holder.get(name) is value:
                    return f"{prefix}{name}={str(value).lower()}"
    return None


def _at(body: Any, dotted: str) -> Any:
    for key in dotted.split("."):
        if not isinstance(body, dict):
            return None
        body = body.get(key)
    return body


def _usable(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, (int, float)) or (isinstance(value, str) and bool(value.strip()))


def usual_cursor(body: Any) -> Optional[tuple[str, Any]]:
    """(where, value) of the first non-empty cursor at the usual places, or None.

    An object at a place is looked into for its cursor key (`pages.next.starting_after`).
    """
    for place in CURSOR_PLACES:
        value = _at(body, place)
        if isinstance(value, dict):
            for key in CURSOR_KEYS:
                if _usable(value.get(key)):
                    return f"{place}.{key}", value[key]
        elif _usable(value):
            return place, value
    return None


def _as_bool(value: Any) -> Optional[bool]:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.strip().lower() in ("true", "1", "yes")
    if isinstance(value, int):
        return value != 0
    return None


def _keys(body: Any) -> str:
    return ", ".join(f"'{key}'" for key in list(body)[:20]) if isinstance(body, dict) else type(body).__name__


class _Listing:
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
            flag = _as_bool(values[0]) if values else None
            if flag is False:
                return f"{self.more_flag_field} is {values[0]!r}"
            if flag is None and data and not self._warned_flag:
                self._warned_flag = True
                log.warning(
                    "%s: %s '%s' is not a boolean in a page of records (its keys: %s); the listing ends on "
                    "its other signals; fix %s", self.label, self.more_flag_field, self.more_flag_path, _keys(body),
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
                + f" a page of records (its keys: {_keys(body)}); set {field} to the field holding the total, or remove it"
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


class GuardedJsonLink(_Listing, dlt_paginators.JSONLinkPaginator):
    pass


class GuardedHeaderLink(_Listing, dlt_paginators.HeaderLinkPaginator):
    pass


class _CursorAtUsualPlaces(dlt_paginators.JSONResponseCursorPaginator):
    """dlt's body cursor, looked for at the usual places when the configured path is absent."""

    label: str
    more_flag_path: Optional[Any]
    detect_end_flags: bool

    def update_state(self, response: Response, data: Optional[list[Any]] = None) -> None:
        super().update_state(response, data)
        body = response.json()
        if not isinstance(body, dict) or jsonpath.find_values(self.cursor_path, body):
            return  # the configured path is there (a null there ends the listing, as configured)
        found = usual_cursor(body)
        if found is None:
            more = self._more_said(body)
            if more is not None:
                raise PaginationFieldError(
                    f"{self.label}: paginator.cursor_path '{self.cursor_path}' is missing from a page that says "
                    f"{more}, and no cursor is at the usual places (its keys: {_keys(body)}); set "
                    "paginator.cursor_path to the field holding the next cursor"
                )
            return
        where, value = found
        self._next_reference = value
        if not self._warned_cursor:
            self._warned_cursor = True
            param = where.rsplit(".", 1)[-1]
            hint = (f" (the API may expect it as ?{param}=; check paginator.cursor_param)"
                    if param in ("starting_after", "after", "cursor") and param != self.cursor_param else "")
            log.warning(
                "%s: paginator.cursor_path '%s' is not in the response; the next cursor was found at '%s' and "
                "is sent as ?%s=%s; set paginator.cursor_path: %s", self.label, self.cursor_path, where,
                self.cursor_param, hint, where,
            )

    def _more_said(self, body: Any) -> Optional[str]:
        if self.more_flag_path is not None:
            values = jsonpath.find_values(self.more_flag_path, body)
            return f"paginator.has_more_path {values[0]!r}" if values and _as_bool(values[0]) else None
        return detected_more(body) if self.detect_end_flags else None


class GuardedCursor(_Listing, _CursorAtUsualPlaces):
    """A body cursor sent back as a parameter, or followed as a link when it is a full URL.

    requests URL-encodes the parameter once (`+/=` as `%2B%2F%3D`), so an opaque cursor returns
    to the server exactly as it was sent. When the configured `cursor_path` is absent from a
    body (Drift's `pagination.next`, Intercom's `pages.next.starting_after`), the usual places are
    read instead (`CURSOR_PLACES`), the first non-empty string or number found is sent in the
    configured `cursor_param` (or followed, a full URL), and one warning per listing names where it
    was and `paginator.cursor_path`. A false "more" flag still ends the listing; a true one with no
    cursor anywhere fails the resource rather than stopping after a part.
    """

    def init_request(self, request: Request) -> None:
        self._origin = (request.url, dict(request.params or {}))
        self._warned_cursor = False
        super().init_request(request)

    def update_request(self, request: Request) -> None:
        reference = self._next_reference
        if isinstance(reference, str) and _URL.match(reference):
            request.url, request.params = reference, None  # the URL carries every parameter
            return
        if request.url != self._origin[0]:  # a plain cursor after a followed URL: back to the listing
            request.url, request.params = self._origin[0], dict(self._origin[1])
        super().update_request(request)


class GuardedPageNumber(_Listing, dlt_paginators.PageNumberPaginator):
    def _reference(self) -> Any:
        return None


class GuardedOffset(_Listing, dlt_paginators.OffsetPaginator):
    """Advance by the number of records received (at most the limit), stop on an empty page.

    A server that caps the page below the limit is followed record by record; one that serves a
    record twice (limit + 1 rows) does not make the client skip the next page's first record.

    An API that ignores the offset parameter serves page 1 again as page 2. When the config did not
    name `offset_param` (`offset_param_set` False, from build_paginator), page 2 is asked again under
    the next usual name (`from`, `start`, `skip`; the old parameter removed from the request), and
    one warning names the one the API honoured and `paginator.offset_param`; when none is honoured,
    the guard's error stands. The value sent stays 0-based: a 1-based API (Zoho Desk's `from`) then
    serves the previous page's last record once more, which the merge on the primary key absorbs,
    where a 1-based guess at a 0-based API would skip a record and lose it. The repeated page's
    records were already yielded: the merge absorbs them too (an `append` table keeps them twice).
    """

    offset_param_set: bool = True

    def init_request(self, request: Request) -> None:
        self._configured_param = getattr(self, "_configured_param", self.param_name)
        self.param_name = self._configured_param
        self._tried: list[str] = [self.param_name]
        self._retries: Optional[list[tuple[str, int]]] = None  # (name, value) still to try for page 2
        self._switch_pending = False
        super().init_request(request)

    def update_state(self, response: Response, data: Optional[list[Any]] = None) -> None:
        self.value_step = min(len(data), self.limit) if data else self.limit
        confirming, self._switch_pending = self._switch_pending, False
        sent = self.current_value
        super().update_state(response, data)
        if confirming and not self._switch_pending:  # the retried page was not page 1 again
            counted = "offsets counted from 1" if sent == self._page2 + 1 else (
                "0-based offsets; a 1-based API serves one record twice, merged on the primary key"
            )
            log.warning(
                "%s: page 2 asked with ?%s= repeated page 1; the API honours ?%s=, the listing goes on with it "
                "(%s); set paginator.offset_param: %s (and paginator.base_offset: 1 if the API counts from 1)",
                self.label, self._tried[0], self.param_name, counted, self.param_name,
            )

    def update_request(self, request: Request) -> None:
        if request.params:
            for name in self._tried:
                if name != self.param_name:
                    request.params.pop(name, None)
        super().update_request(request)

    def _retry_repeated_page(self) -> bool:
        """Page 2 repeated page 1: ask it again under the next usual offset name, when the config named none.

        The 0-based value first; when page 1 held a single record, that value is also a 1-based
        API's first record, so the value after it is tried too before the next name: an API that
        honours the name serves something else then (a repeat again means it ignores it).
        """
        if self.offset_param_set or self.param_body_path or self._pages != 2:
            return False
        if self._retries is None:
            self._page2 = self.current_value - self.value_step  # the offset page 2 was asked at
            values = (self._page2, self._page2 + 1) if self._page2 == self.initial_value + 1 else (self._page2,)
            self._retries = [(name, value) for name in OFFSET_PARAMS if name != self.param_name for value in values]
        if not self._retries:
            return False
        self.param_name, self.current_value = self._retries.pop(0)
        if self.param_name not in self._tried:
            self._tried.append(self.param_name)
        self._switch_pending = True
        return True

    def _repeat_hint(self) -> str:
        if len(self._tried) < 2:
            return ""
        return f" (tried {', '.join(f'?{name}=' for name in self._tried)}; set paginator.offset_param)"

    def _reference(self) -> Any:
        return None


class GuardedSinglePage(dlt_paginators.SinglePagePaginator):
    pass


ListConfig = Union[JsonLinkPaginator, HeaderLinkPaginator, CursorPaginator, PageNumberPaginator, OffsetPaginator]


def build_paginator(config: Optional[PaginatorConfig], label: str, max_pages: int) -> Optional[dlt_paginators.BasePaginator]:
    """A fresh paginator instance for one request sequence (dlt mutates paginators while paging)."""
    if config is None or isinstance(config, SinglePagePaginator):
        return GuardedSinglePage()
    paginator = _dlt_paginator(config)
    paginator.label = label
    paginator.max_pages = max_pages
    paginator.detect_end_flags = config.detect_end_flags
    paginator.stop_on_status = tuple(config.stop_on_status)
    if config.has_more_path:
        paginator.more_flag_path = jsonpath.compile_path(config.has_more_path)
    total_records = config.total_records_path if isinstance(config, PageNumberPaginator) else (
        None if isinstance(config, OffsetPaginator) else config.total_path
    )
    if total_records:
        paginator.total_records_path = jsonpath.compile_path(total_records)
        paginator.total_records_field = (
            "paginator.total_records_path" if isinstance(config, PageNumberPaginator) else "paginator.total_path"
        )
    return paginator


def _dlt_paginator(config: ListConfig) -> _Listing:
    if isinstance(config, JsonLinkPaginator):
        return GuardedJsonLink(next_url_path=config.next_url_path)
    if isinstance(config, HeaderLinkPaginator):
        return GuardedHeaderLink(links_next_key=config.links_next_key)
    if isinstance(config, CursorPaginator):
        return GuardedCursor(cursor_path=config.cursor_path, cursor_param=config.cursor_param)
    if isinstance(config, PageNumberPaginator):
        return GuardedPageNumber(
            base_page=config.base_page,
            page_param=config.page_param,
            total_path=config.total_path,
            stop_after_empty_page=True,
        )
    if isinstance(config, OffsetPaginator):
        paginator = GuardedOffset(
            limit=config.limit,
            offset=config.base_offset,
            offset_param=config.offset_param,
            limit_param=config.limit_param,
            total_path=config.total_path,
            stop_after_empty_page=True,
        )
        paginator.base_index = config.base_offset  # a total counts from the first offset (1 for Zoho's `from`)
        paginator.offset_param_set = "offset_param" in config.model_fields_set  # a default may be retried
        return paginator
    raise TypeError(f"unknown paginator config {config!r}")  # pragma: no cover - the model admits no other
