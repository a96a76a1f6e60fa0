"""The paginators restsync pages with: dlt's, each under `ListingGuard`, and two that adapt to the wire.

A config's assumption about the wire is checked while paging, and adapted to with one warning
naming the paginator field to set, never by loading a part silently: a cursor missing from the
configured `cursor_path` is looked for at the usual places (`GuardedCursor`), and an offset
parameter the API ignores, when the config did not name it, is retried under the usual other
names (`GuardedOffset`). The offset paginator advances by the records it actually received, so a
server that caps the page size below the asked limit loses no record; a cursor that is a full URL
is followed as a link (the session's host allowlist still applies).
"""

from __future__ import annotations

import logging
import re
from typing import Any, Optional
from urllib.parse import urljoin

from dlt.common import jsonpath
from dlt.sources.helpers.rest_client import paginators as dlt_paginators
from requests import Request, Response

from restsync_dagster.http.listing_guard import ListingGuard, PaginationFieldError
from restsync_dagster.http.listing_signals import as_bool, body_keys, detected_more, usual_cursor

log = logging.getLogger("restsync_dagster.http.guarded_paginators")

_URL = re.compile(r"^https?://", re.IGNORECASE)
# a path on the API's host with its own query (Drift's accounts `data.next`: `/accounts?index=50&size=50`);
# an opaque cursor may start with `/` (base64) but never holds `?`
_HOST_PATH = re.compile(r"^/(?!/)[^?#\s]*\?\S*$")
# offset parameter names tried, in order, when the API ignores the configured (default) one
OFFSET_PARAMS = ("offset", "from", "start", "skip")


class GuardedJsonLink(ListingGuard, dlt_paginators.JSONLinkPaginator):
    pass


class GuardedHeaderLink(ListingGuard, dlt_paginators.HeaderLinkPaginator):
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
                    f"{more}, and no cursor is at the usual places (its keys: {body_keys(body)}); set "
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
            self._adapted(  # type: ignore[attr-defined]  # ListingGuard's, mixed in with this class
                log, "cursor_path", "%s: paginator.cursor_path '%s' is not in the response; the next cursor was found at '%s' and "
                "is sent as ?%s=%s; set paginator.cursor_path: %s", self.label, self.cursor_path, where,
                self.cursor_param, hint, where,
            )

    def _more_said(self, body: Any) -> Optional[str]:
        if self.more_flag_path is not None:
            values = jsonpath.find_values(self.more_flag_path, body)
            return f"paginator.has_more_path {values[0]!r}" if values and as_bool(values[0]) else None
        return detected_more(body) if self.detect_end_flags else None


class GuardedCursor(ListingGuard, _CursorAtUsualPlaces):
    """A body cursor sent back as a parameter, or followed as a link when it is a full URL or a path
    with a query on the listing's host (`/accounts?index=50`, resolved against the request's URL).

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
        if isinstance(reference, str) and _HOST_PATH.match(reference):
            reference = urljoin(request.url, reference)  # on the listing's own host: the allowlist still applies
        if isinstance(reference, str) and _URL.match(reference):
            request.url, request.params = reference, None  # the URL carries every parameter
            return
        if request.url != self._origin[0]:  # a plain cursor after a followed URL: back to the listing
            request.url, request.params = self._origin[0], dict(self._origin[1])
        super().update_request(request)


class GuardedPageNumber(ListingGuard, dlt_paginators.PageNumberPaginator):
    def _reference(self) -> Any:
        return None


class GuardedOffset(ListingGuard, dlt_paginators.OffsetPaginator):
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
            self._adapted(
                log, "offset_param", "%s: page 2 asked with ?%s= repeated page 1; the API honours ?%s=, the listing goes on with it "
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
