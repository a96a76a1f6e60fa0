"""The REST client every restsync listing pages through: dlt's, reading pages as vendors send them.

dlt's `RESTClient` extracts records with the data selector and treats "matched nothing" as an
empty page, so a wrong `data_selector` loads nothing and says nothing; it cannot tell a 404 past
the last page from a failure. `ListingClient`:

- extracts no records, and ends the listing, on an empty body (204, zero bytes: `json()` is None)
  or a data key that is missing or `null` in an envelope holding no records;
- fails the resource when the selector matches nothing in a body that does hold records (a list
  under another key, a list body), naming the selector and the keys found;
- ends the listing quietly on a status the paginator lists in `stop_on_status` once at least one
  page arrived (the first page's 404 stays an error: the path is wrong).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Optional, Union

import requests
from dlt.common import jsonpath
from dlt.sources.helpers.rest_client import RESTClient
from dlt.sources.helpers.rest_client.client import PageData
from requests import Response

from restsync_dagster.config.errors import RestsyncError

log = logging.getLogger("restsync_dagster.http.pages")
_ERROR_KEYS = ("error", "errors", "fault")


class DataSelectorError(RestsyncError):
    """`endpoint.data_selector` matched nothing in a response that holds records elsewhere."""


def _holds_records(body: Any) -> bool:
    """A non-empty list at the top or one or two levels down: records the selector missed."""
    if isinstance(body, list):
        return bool(body)
    if not isinstance(body, dict):
        return False
    for value in body.values():
        if isinstance(value, list) and value:
            return True
        if isinstance(value, dict) and any(isinstance(inner, list) and inner for inner in value.values()):
            return True
    return False


class ListingClient(RESTClient):
    """dlt's RESTClient with vendors' ends of listings and a data selector that cannot silently miss."""

    def __init__(self, *args: Any, source_file: Optional[Union[str, Path]] = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.source_file = source_file

    def paginate(  # type: ignore[override]
        self,
        path: str = "",
        method: Any = "GET",
        params: Optional[dict[str, Any]] = None,
        json: Optional[dict[str, Any]] = None,
        auth: Any = None,
        paginator: Any = None,
        data_selector: Optional[jsonpath.TJsonPath] = None,
        hooks: Any = None,
        headers: Optional[dict[str, Any]] = None,
        **kwargs: Any,
    ) -> Iterator[PageData[Any]]:
        """dlt's paging; a `stop_on_status` answer after the first page ends the listing.

        A page the paginator asks again another way (an ignored offset parameter retried as `from`)
        is not yielded: it repeats the page before, and an `append` table would keep it twice. Nor
        are records the page after it repeats from the last page yielded (a 1-based `from` asked
        0-based starts one record early)."""
        stop = tuple(getattr(paginator or self.paginator, "stop_on_status", ()))
        pages = 0
        previous: list[Any] = []
        overlapping: Optional[set[str]] = None
        try:
            for page in super().paginate(
                path, method, params, json, auth, paginator, data_selector, hooks, headers, **kwargs
            ):
                if getattr(page.paginator, "restsync_skip_page", False):
                    page.paginator.restsync_skip_page = False
                    overlapping = {repr(record) for record in previous}
                    continue
                if overlapping is not None:
                    page[:] = [record for record in page if repr(record) not in overlapping]
                    overlapping = None
                pages += 1
                previous = list(page)
                yield page
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else None
            if not (pages and status in stop):
                raise
            log.info("%s: answered %s after %d page(s), the listing ends (paginator.stop_on_status)", self._where(), status, pages)

    def detect_data_selector(self, response: Response) -> str:
        return "$" if response.json() is None else super().detect_data_selector(response)

    def extract_response(self, response: Response, data_selector: jsonpath.TJsonPath) -> list[Any]:
        body = response.json()
        if body is None:  # 204, 205 or a 2xx with an empty body
            return []
        values = jsonpath.find_values(data_selector, body)
        if not values:
            if _holds_records(body) or (isinstance(body, dict) and any(body.get(key) for key in _ERROR_KEYS)):
                raise DataSelectorError(self._selector_message(data_selector, body))
            response.restsync_no_data = True  # type: ignore[attr-defined]  # read by the paginator: the end
            return []
        data = values[0] if len(values) == 1 else values
        if data is None:
            response.restsync_no_data = True  # type: ignore[attr-defined]
            return []
        return data if isinstance(data, list) else [data]

    def _selector_message(self, data_selector: jsonpath.TJsonPath, body: Any) -> str:
        where = f"{self._where()}: endpoint.data_selector '{data_selector}' matched nothing"
        if isinstance(body, list):
            return f"{where} in a response that is a list of {len(body)} records; remove endpoint.data_selector"
        errors = {key: body[key] for key in _ERROR_KEYS if body.get(key)}
        if errors and not _holds_records({k: v for k, v in body.items() if k not in errors}):
            return f"{where}: the API answered an error instead of records: {str(errors)[:300]}"
        keys = ", ".join(f"'{key}'" for key in list(body)[:20])
        return f"{where} in a response with keys {keys}; set endpoint.data_selector to the key holding the records"

    def _where(self) -> str:
        api = getattr(self.session, "api_name", None)
        resource = getattr(self.session, "resource_name", None)
        where = f"API '{api}', resource '{resource}'" if api else f"{self.base_url}"
        return f"{self.source_file}: {where}" if self.source_file else where


@dataclass(frozen=True)
class ListingRequests:
    """How one resource's listings are requested in a run, resolved once by the source: the client
    (session, base URL, headers), the query, the response hooks, a fresh paginator per listing (dlt
    mutates paginators while paging) and the compiled data selector."""

    client: ListingClient
    params: Mapping[str, Any]
    hooks: Optional[dict[str, Any]]
    make_paginator: Callable[[], Any]
    data_selector: Optional[jsonpath.TJsonPath]

    def pages(
        self, path: str, extra_params: Optional[Mapping[str, Any]] = None, resume: Optional[Mapping[str, Any]] = None,
    ) -> Iterator[PageData[Any]]:
        """The pages of one listing at `path`, with `extra_params` on top of the resource's query;
        `resume` (a `next_reference` of an earlier listing of the same query) starts it at that page."""
        paginator = self.make_paginator()
        if resume is not None:
            _resume_at(paginator, resume)
        return self.client.paginate(
            path, params={**self.params, **(extra_params or {})}, paginator=paginator,
            data_selector=self.data_selector, hooks=self.hooks,
        )

    def next_reference(self, page: PageData[Any], path: str, extra_params: Optional[Mapping[str, Any]] = None) -> dict[str, Any]:
        """Where the listing goes after `page`, as JSON: what `pages(..., resume=)` needs to ask for it.

        dlt's paging updates the request before yielding a page, so `page.request` is already the
        next one: its URL when it is not the listing's own (a next link), the query parameters the
        paginator set or removed, a body, and the paginator's scalar state (page number, offset,
        cursor, its page count for max_pages). The listing's own query is not saved (it may hold a
        secret): a resumed listing is asked with it again, and the saved changes on top."""
        original = {**self.params, **(extra_params or {})}
        request = page.request
        params = dict(request.params or {})
        own_url = self.client._create_request(path_or_url=path, method="GET").url
        return {
            "url": None if request.url == own_url else request.url,
            "set": {name: value for name, value in params.items() if name not in original or original[name] != value},
            "removed": sorted(name for name in original if name not in params),
            "json": request.json,
            "paginator": {
                name: value for name, value in vars(page.paginator).items()
                if value is None or isinstance(value, (str, int, float, bool))
            },
        }


def _resume_at(paginator: Any, reference: Mapping[str, Any]) -> None:
    """Make `paginator` start its listing at `reference` (ListingRequests.next_reference) instead of the first page."""
    init_request = paginator.init_request

    def resumed(request: Any) -> None:
        init_request(request)  # the listing's own start (a cursor paginator remembers its origin)
        for name, value in reference.get("paginator", {}).items():
            setattr(paginator, name, value)
        if reference.get("url"):
            request.url = reference["url"]
        params = dict(request.params or {})
        for name in reference.get("removed", ()):
            params.pop(name, None)
        params.update(reference.get("set", {}))
        request.params = params
        if reference.get("json") is not None:
            request.json = reference["json"]
        paginator.init_request = init_request  # once: a later listing with this paginator starts afresh

    paginator.init_request = resumed
