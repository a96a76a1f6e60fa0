"""Read-ahead: fetch the next pages of a listing while dlt processes the current one.

dlt's paginators ask for one page at a time, so a sync of N pages costs N round trips end to end
(at 50 ms a page, 1,000 pages wait 50 s on the network alone). Most APIs number their pages: the
next link (Link header, HAL `_links.next.href`, `?page=`, `?offset=`) differs from the previous
one in a single integer query parameter that steps by a constant. Once three consecutive requests
of a listing show the same step, the following pages are requested ahead: one, then twice as many
after each page that was guessed right, up to `read_ahead_pages`. A listing of one or two pages (a
typical incremental run) is never read ahead.

The paginator stays in charge: a prefetched response is used only when the paginator asks for
exactly that URL; any other next URL (an opaque cursor, a server that caps the page size and so
changes the offset step) discards the guesses and is fetched as usual. The cost is at most
`window` requests past the last page of each listing, visible as `requests` above `pages` in the
asset's metadata. Only GET requests without a body are ever prefetched.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Optional
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests

Params = tuple[tuple[str, str], ...]
MAX_LISTINGS = 64  # a child resource has one listing per parent: keep the recent ones only
Send = Callable[[requests.PreparedRequest], requests.Response]


@dataclass
class _Listing:
    """What one listing (one URL path) has shown so far, and the pages requested ahead for it."""

    last: Optional[Params] = None
    step: Optional[tuple[int, int]] = None  # (index of the stepping query parameter, its step)
    window: int = 1
    pending: dict[Params, "Future[requests.Response]"] = field(default_factory=dict)


def split_url(url: str) -> tuple[str, Params]:
    """(scheme://host/path, decoded query parameters in order): the same page however encoded."""
    parts = urlsplit(url)
    base = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    return base, tuple(parse_qsl(parts.query, keep_blank_values=True))


def numeric_step(previous: Params, current: Params) -> Optional[tuple[int, int]]:
    """The one integer parameter that grew from `previous` to `current`, and by how much."""
    if len(previous) != len(current):
        return None
    found: Optional[tuple[int, int]] = None
    for index, ((old_name, old_value), (new_name, new_value)) in enumerate(zip(previous, current)):
        if old_name != new_name:
            return None
        if old_value == new_value:
            continue
        if found is not None or not (old_value.isdecimal() and new_value.isdecimal()):
            return None
        delta = int(new_value) - int(old_value)
        if delta <= 0:
            return None
        found = (index, delta)
    return found


def advanced(params: Params, step: tuple[int, int], times: int) -> Params:
    index, delta = step
    name, value = params[index]
    stepped = str(int(value) + delta * times).zfill(len(value))  # zero padding kept: 07 -> 08
    return params[:index] + ((name, stepped),) + params[index + 1 :]


class ReadAhead:
    """Per session: prefetches numbered pages of each listing with at most `max_window` in flight."""

    def __init__(self, max_window: int, thread_name: str) -> None:
        self.max_window = max_window
        self._thread_name = thread_name
        self._listings: OrderedDict[str, _Listing] = OrderedDict()
        self._lock = threading.Lock()
        self._executor: Optional[ThreadPoolExecutor] = None

    def fetch(self, request: requests.PreparedRequest, send: Send) -> requests.Response:
        """The response to `request`: prefetched if it was guessed, else sent now; then guess ahead."""
        if self.max_window < 1 or request.method != "GET" or request.body or not request.url:
            return send(request)
        base, params = split_url(request.url)
        with self._lock:
            listing = self._listing(base)
            prefetched = listing.pending.pop(params, None)
            if prefetched is None:
                self._discard(listing)
            step = numeric_step(listing.last, params) if listing.last is not None else None
            confirmed = step is not None and step == listing.step  # the same step twice in a row
            if not confirmed:
                listing.window = 1
            elif prefetched is not None:
                listing.window = min(listing.window * 2, self.max_window)
            listing.step, listing.last = step, params
            if confirmed:
                self._prefetch(listing, request, base, params, send)
        if prefetched is None:
            return send(request)
        response = prefetched.result()
        response.read_ahead = True  # type: ignore[attr-defined]
        return response

    def close(self) -> None:
        with self._lock:
            for listing in self._listings.values():
                self._discard(listing)
            self._listings.clear()
            if self._executor is not None:
                self._executor.shutdown(wait=False, cancel_futures=True)
                self._executor = None

    def _listing(self, base: str) -> _Listing:
        listing = self._listings.pop(base, None) or _Listing()
        self._listings[base] = listing  # most recent last
        while len(self._listings) > MAX_LISTINGS:
            self._discard(self._listings.popitem(last=False)[1])
        return listing

    def _prefetch(self, listing: _Listing, request: requests.PreparedRequest, base: str, params: Params, send: Send) -> None:
        assert listing.step is not None
        for ahead in range(1, listing.window + 1):
            guess = advanced(params, listing.step, ahead)
            if guess in listing.pending:
                continue
            copy = request.copy()
            copy.prepare_url(f"{base}?{urlencode(guess)}", None)
            listing.pending[guess] = self._pool().submit(send, copy)

    def _discard(self, listing: _Listing) -> None:
        """Drop guesses the paginator did not follow (those already running finish unused)."""
        for future in listing.pending.values():
            future.cancel()
        listing.pending.clear()

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=self.max_window, thread_name_prefix=self._thread_name)
        return self._executor
