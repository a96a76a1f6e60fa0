"""Every way a vendor ends a listing, and body cursors, served by a tiny API this test starts.

Each test runs a small config through the engine (assets materialized into DuckDB) against a
real HTTP server on 127.0.0.1 that serves seven records by one vendor's convention, and checks the
rows loaded and the requests the server saw: every page once, nothing asked past a clear end.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any, Callable, Iterator, Optional
from urllib.parse import parse_qs, urlsplit

import pytest

from restsync_dagster.config.loading import parse_api_config
from restsync_dagster_tests.support.helpers import run_assets, table_rows
from restsync_dagster_tests.support.local_server import JsonServer, Reply

RECORDS = [{"id": n, "name": f"r{n}"} for n in range(1, 8)]
SIZE = 3
# opaque cursors with the characters that break when encoded twice or not at all
CURSORS = ["", "a+b/c==", "d/e+f=", "g==+/h"]


Answer = Reply
Route = Callable[[dict[str, str], str], Answer]


def page_of(index: int) -> list[dict[str, Any]]:
    return RECORDS[index * SIZE : (index + 1) * SIZE]


class VendorApi(JsonServer):
    """A server answering `/<route>/...` with the route's function; logs every request."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        super().__init__(self._answer)
        self.log = self.seen
        self.base_url = self.url

    def _answer(self, path: str) -> Answer:
        parts = urlsplit(path)
        query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        route = self.routes.get(parts.path)
        return route(query, self.base_url) if route else Answer(404, {"error": "no such path"})

    def paths(self, prefix: str) -> list[str]:
        return [path for path in self.log if path.startswith(prefix)]


@pytest.fixture
def vendor() -> Iterator[VendorApi]:
    api = VendorApi()
    try:
        yield api
    finally:
        api.stop()


def run_listing(vendor: VendorApi, path: str, paginator: dict[str, Any], data_selector: Optional[str] = "data",
                children: Optional[dict[str, Any]] = None, write_disposition: str = "append", read_ahead: int = 0) -> None:
    """Materialize one resource `items` (and optionally a child) listed at `path`."""
    endpoint: dict[str, Any] = {"path": path, "paginator": paginator}
    if data_selector is not None:
        endpoint["data_selector"] = data_selector
    items: dict[str, Any] = {"name": "items", "write_disposition": write_disposition, "endpoint": endpoint}
    if write_disposition == "merge":
        items["primary_key"] = "id"
    resources: list[dict[str, Any]] = [items]
    if children is not None:
        resources.append({"name": "subs", "write_disposition": "append", "endpoint": children})
    config = parse_api_config(
        {"name": "vendor", "client": {"base_url": vendor.base_url, "read_ahead_pages": read_ahead}, "resources": resources},
        source_file="vendor.yaml",
    )
    run_assets(config)


def _run_failure(vendor: VendorApi, path: str, paginator: dict[str, Any], **options: Any) -> str:
    with pytest.raises(Exception) as caught:
        run_listing(vendor, path, paginator, **options)
    return "".join(traceback.format_exception(caught.value))


def loaded_ids(table: str = "items") -> list[int]:
    return sorted(row[0] for row in table_rows("vendor", table, "id"))


# --- page numbers: the page after the last one, whichever way it says "nothing more" -------------


def _numbered(last: Callable[[int], Answer], pages: int = 3) -> Route:
    def route(query: dict[str, str], base: str) -> Answer:
        page = int(query.get("page", "1"))
        return Answer(body={"data": page_of(page - 1)}) if page <= pages else last(page)
    return route


@pytest.mark.parametrize(
    "last",
    [
        Answer(body={"data": []}),
        Answer(body={"data": None}),
        Answer(body={"meta": {"page": 4}}),  # the data key missing, no records anywhere
        Answer(status=204),
        Answer(status=200, body=None),  # a 200 with zero bytes
    ],
    ids=["empty-list", "null", "missing-key", "204", "empty-200"],
)
def test_page_number_ends_on_the_empty_answer(vendor: VendorApi, workdir: Any, last: Answer) -> None:
    vendor.routes["/items"] = _numbered(lambda page: last)
    run_listing(vendor, "/items", {"type": "page_number", "base_page": 1})
    assert loaded_ids() == [1, 2, 3, 4, 5, 6, 7]
    assert vendor.paths("/items") == [f"/items?page={n}" for n in (1, 2, 3, 4)]


def _with_envelope(envelope: Callable[[int], dict[str, Any]]) -> Route:
    """Three pages of records, each with an envelope built from its 1-based number; no fourth page."""
    def route(query: dict[str, str], base: str) -> Answer:
        page = int(query.get("page", "1"))
        if page > 3:
            return Answer(500, {"error": "asked past the end"})
        return Answer(body={"data": page_of(page - 1), **envelope(page)})
    return route


@pytest.mark.parametrize(
    ("envelope", "options"),
    [
        (lambda p: {"info": {"more_records": p < 3}}, {"has_more_path": "info.more_records"}),  # Zoho CRM
        (lambda p: {"info": {"more_records": p < 3}}, {}),  # detected
        (lambda p: {"has_more": p < 3}, {}),
        (lambda p: {"meta": {"has_more": p < 3}}, {}),
        (lambda p: {"meta": {"more": "true" if p < 3 else "false"}}, {"has_more_path": "meta.more"}),
        (lambda p: {"isLast": p == 3}, {}),  # Jira
        (lambda p: {"total_pages": 3}, {"total_path": "total_pages"}),
        (lambda p: {"meta": {"total": 7}}, {"total_records_path": "meta.total"}),
    ],
    ids=["zoho-configured", "zoho-detected", "has_more", "meta.has_more", "string-flag", "isLast",
         "total-pages", "total-records"],
)
def test_page_number_stops_on_the_body_saying_last(vendor: VendorApi, workdir: Any, envelope: Any, options: dict) -> None:
    vendor.routes["/items"] = _with_envelope(envelope)
    run_listing(vendor, "/items", {"type": "page_number", "base_page": 1, **options})
    assert loaded_ids() == [1, 2, 3, 4, 5, 6, 7]
    assert vendor.paths("/items") == ["/items?page=1", "/items?page=2", "/items?page=3"]


def test_a_flag_that_merely_exists_does_not_stop(vendor: VendorApi, workdir: Any) -> None:
    """`last_page: 3` (Laravel, a number), `has_more: null`, `is_last: "no"` are no end; the empty page is."""
    numbered = _numbered(lambda page: Answer(body={"data": []}))

    def route(query: dict[str, str], base: str) -> Answer:
        answer = numbered(query, base)
        return Answer(body={**answer.body, "last_page": 3, "meta": {"has_more": None, "is_last": "no"}})

    vendor.routes["/items"] = route
    run_listing(vendor, "/items", {"type": "page_number", "base_page": 1})
    assert loaded_ids() == [1, 2, 3, 4, 5, 6, 7]
    assert vendor.paths("/items") == [f"/items?page={n}" for n in (1, 2, 3, 4)]


def test_detected_flags_can_be_turned_off(vendor: VendorApi, workdir: Any) -> None:
    """A `has_more: false` that lies (an API that sets it per page of a batch) is ignored when told."""
    numbered = _numbered(lambda page: Answer(body={"data": []}))
    vendor.routes["/items"] = lambda query, base: Answer(body={**numbered(query, base).body, "has_more": False})
    run_listing(vendor, "/items", {"type": "page_number", "base_page": 1, "detect_end_flags": False})
    assert loaded_ids() == [1, 2, 3, 4, 5, 6, 7]
    assert len(vendor.paths("/items")) == 4


def test_404_past_the_last_page_ends_the_listing(vendor: VendorApi, workdir: Any) -> None:
    vendor.routes["/items"] = _numbered(lambda page: Answer(404, {"message": "page not found"}))
    run_listing(vendor, "/items", {"type": "page_number", "base_page": 1, "stop_on_status": [404]})
    assert loaded_ids() == [1, 2, 3, 4, 5, 6, 7]
    assert vendor.paths("/items") == [f"/items?page={n}" for n in (1, 2, 3, 4)]


def test_404_on_the_first_page_stays_an_error(vendor: VendorApi, workdir: Any) -> None:
    with pytest.raises(Exception, match="404"):
        run_listing(vendor, "/nothing", {"type": "page_number", "base_page": 1, "stop_on_status": [404]})


# --- offsets under other names, 0- or 1-based ------------------------------------------------------


def _offsets(param: str, base: int, envelope: Callable[[int], dict[str, Any]] = lambda start: {},
             past_end: Answer = Answer(body={"data": []})) -> Route:
    def route(query: dict[str, str], url: str) -> Answer:
        start = int(query[param]) - base
        if query.get("limit") != "3":
            return Answer(400, {"error": "limit must be 3"})
        if start >= len(RECORDS):
            return past_end
        return Answer(body={"data": RECORDS[start : start + 3], **envelope(start)})
    return route


def test_zoho_desk_from_starts_at_one_and_ends_with_204(vendor: VendorApi, workdir: Any) -> None:
    vendor.routes["/tickets"] = _offsets("from", 1, past_end=Answer(status=204))
    run_listing(vendor, "/tickets", {"type": "offset", "limit": 3, "offset_param": "from", "base_offset": 1})
    assert loaded_ids() == [1, 2, 3, 4, 5, 6, 7]
    assert vendor.paths("/tickets") == [f"/tickets?from={n}&limit=3" for n in (1, 4, 7, 8)]


@pytest.mark.parametrize(("param", "base"), [("start", 0), ("skip", 0), ("from", 1)])
def test_offset_total_reached_asks_nothing_more(vendor: VendorApi, workdir: Any, param: str, base: int) -> None:
    vendor.routes["/items"] = _offsets(param, base, envelope=lambda start: {"total": 7}, past_end=Answer(500, {"error": "past"}))
    run_listing(vendor, "/items", {"type": "offset", "limit": 3, "offset_param": param, "base_offset": base, "total_path": "total"})
    assert loaded_ids() == [1, 2, 3, 4, 5, 6, 7]
    assert vendor.paths("/items") == [f"/items?{param}={n + base}&limit=3" for n in (0, 3, 6)]


def test_offset_has_more_false_asks_nothing_more(vendor: VendorApi, workdir: Any) -> None:
    vendor.routes["/items"] = _offsets("skip", 0, envelope=lambda s: {"meta": {"has_more": s + 3 < 7}}, past_end=Answer(500, {}))
    run_listing(vendor, "/items", {"type": "offset", "limit": 3, "offset_param": "skip"})
    assert loaded_ids() == [1, 2, 3, 4, 5, 6, 7]
    assert len(vendor.paths("/items")) == 3


# --- body cursors at any path, opaque or a full URL -------------------------------------------------


def _nest(path: str, value: Any) -> dict[str, Any]:
    body: Any = value
    for key in reversed(path.split(".")):
        body = {key: body}
    return body


def _cursored(cursor_path: str, param: str, as_url: bool = False, last_extra: Optional[dict] = None) -> Route:
    """Pages keyed by opaque cursors; a cursor that comes back altered is refused with 400."""
    def route(query: dict[str, str], base: str) -> Answer:
        given = query.get(param, "")
        if given not in CURSORS[:3]:
            return Answer(400, {"error": f"bad cursor {given!r}"})
        index = CURSORS.index(given)
        following = CURSORS[index + 1] if index < 2 else None
        if following is not None and as_url:
            following = f"{base}/items?{param}={following.replace('+', '%2B').replace('/', '%2F').replace('=', '%3D')}"
        body = {"data": page_of(index), **_nest(cursor_path, following)}
        if following is None and last_extra:
            body.update(last_extra)
        return Answer(body=body)
    return route


@pytest.mark.parametrize(
    ("cursor_path", "param", "as_url"),
    [
        ("next", "next", False),
        ("pagination.next", "cursor", False),
        ("meta.next_cursor", "cursor", False),
        ("paging.next.after", "after", False),  # HubSpot
        ("links.next", "page_token", True),  # a full URL in the cursor field: followed as a link
    ],
)
def test_body_cursor_at_any_path(vendor: VendorApi, workdir: Any, cursor_path: str, param: str, as_url: bool) -> None:
    vendor.routes["/items"] = _cursored(cursor_path, param, as_url)
    run_listing(vendor, "/items", {"type": "cursor", "cursor_path": cursor_path, "cursor_param": param})
    assert loaded_ids() == [1, 2, 3, 4, 5, 6, 7]
    # each cursor sent back URL-encoded exactly once
    assert vendor.paths("/items") == ["/items", f"/items?{param}=a%2Bb%2Fc%3D%3D", f"/items?{param}=d%2Fe%2Bf%3D"]


def test_a_cursor_that_is_a_path_on_the_api_host_is_followed_as_a_link(vendor: VendorApi, workdir: Any) -> None:
    """Drift's accounts: `data.next` is `/accounts?index=3&size=3` (a path with its query, no host):
    followed on the listing's host, not sent back as `?next=/accounts...`."""
    def route(query: dict[str, str], base: str) -> Answer:
        index = int(query.get("index", "0"))
        body: dict[str, Any] = {"data": {"accounts": RECORDS[index : index + SIZE], "total": len(RECORDS)}}
        if index + SIZE < len(RECORDS):
            body["data"]["next"] = f"/accounts?index={index + SIZE}&size={SIZE}"
        return Answer(body=body)
    vendor.routes["/accounts"] = route
    run_listing(vendor, "/accounts", {"type": "cursor", "cursor_path": "data.next", "cursor_param": "next"}, data_selector="data.accounts")
    assert loaded_ids() == [1, 2, 3, 4, 5, 6, 7]
    assert vendor.paths("/accounts") == ["/accounts", "/accounts?index=3&size=3", "/accounts?index=6&size=3"]


def test_a_scheme_relative_cursor_is_not_followed_to_another_host(vendor: VendorApi, workdir: Any) -> None:
    """A hostile `//evil.example/...` (another host, no scheme) is not a path on the API's host: it
    goes back as the cursor parameter, to the API, never to evil.example."""
    def route(query: dict[str, str], base: str) -> Answer:
        if "next" in query:
            return Answer(body={"data": page_of(1)})
        return Answer(body={"data": page_of(0), "next": "//evil.example/items?page=2"})
    vendor.routes["/items"] = route
    run_listing(vendor, "/items", {"type": "cursor", "cursor_path": "next", "cursor_param": "next"})
    assert loaded_ids() == [1, 2, 3, 4, 5, 6]
    assert vendor.paths("/items") == ["/items", "/items?next=%2F%2Fevil.example%2Fitems%3Fpage%3D2"]


def test_an_opaque_cursor_starting_with_a_slash_is_still_sent_as_the_parameter(vendor: VendorApi, workdir: Any) -> None:
    """base64 may start with `/`; without a query it is a cursor, not a path."""
    cursors = ["", "/9j+4A==", "/Zm9v"]

    def route(query: dict[str, str], base: str) -> Answer:
        index = cursors.index(query.get("cursor", ""))
        return Answer(body={"data": page_of(index), "next": cursors[index + 1] if index < 2 else None})
    vendor.routes["/items"] = route
    run_listing(vendor, "/items", {"type": "cursor", "cursor_path": "next", "cursor_param": "cursor"})
    assert loaded_ids() == [1, 2, 3, 4, 5, 6, 7]
    assert vendor.paths("/items") == ["/items", "/items?cursor=%2F9j%2B4A%3D%3D", "/items?cursor=%2FZm9v"]


def test_cursor_still_present_but_has_more_false(vendor: VendorApi, workdir: Any) -> None:
    """Stripe-like: the last page carries a cursor but says `has_more: false`: nothing more is asked."""
    def route(query: dict[str, str], base: str) -> Answer:
        index = CURSORS.index(query.get("cursor", "")) if query.get("cursor", "") in CURSORS else 9
        if index > 2:
            return Answer(500, {"error": "asked past the end"})
        return Answer(body={"data": page_of(index), "next_cursor": CURSORS[index + 1], "has_more": index < 2})

    vendor.routes["/items"] = route
    run_listing(vendor, "/items", {"type": "cursor", "cursor_path": "next_cursor", "cursor_param": "cursor", "has_more_path": "has_more"})
    assert loaded_ids() == [1, 2, 3, 4, 5, 6, 7]
    assert len(vendor.paths("/items")) == 3


def test_link_total_reached_asks_nothing_more(vendor: VendorApi, workdir: Any) -> None:
    """A next link on the last page, but the total says every record has arrived."""
    def route(query: dict[str, str], base: str) -> Answer:
        page = int(query.get("page", "1"))
        if page > 3:
            return Answer(500, {"error": "asked past the end"})
        return Answer(body={"data": page_of(page - 1), "count": 7, "next": f"{base}/items?page={page + 1}"})

    vendor.routes["/items"] = route
    run_listing(vendor, "/items", {"type": "json_link", "next_url_path": "next", "total_path": "count"})
    assert loaded_ids() == [1, 2, 3, 4, 5, 6, 7]
    assert vendor.paths("/items") == ["/items", "/items?page=2", "/items?page=3"]


def test_header_link_to_a_204(vendor: VendorApi, workdir: Any) -> None:
    def route(query: dict[str, str], base: str) -> Answer:
        page = int(query.get("page", "1"))
        if page > 3:
            return Answer(status=204)
        return Answer(body=page_of(page - 1), headers={"Link": f'<{base}/items?page={page + 1}>; rel="next"'})

    vendor.routes["/items"] = route
    run_listing(vendor, "/items", {"type": "header_link"}, data_selector=None)
    assert loaded_ids() == [1, 2, 3, 4, 5, 6, 7]
    assert vendor.paths("/items") == ["/items", "/items?page=2", "/items?page=3", "/items?page=4"]


# --- the data selector: a miss on a body holding records fails, naming what was there --------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"tickets": [{"id": 1}], "meta": {"count": 1}},
         "vendor.yaml: API 'vendor', resource 'items': endpoint.data_selector 'data' matched nothing in a response "
         "with keys 'tickets', 'meta'; set endpoint.data_selector to the key holding the records"),
        ([{"id": 1}], "endpoint.data_selector 'data' matched nothing in a response that is a list of 1 records; "
                      "remove endpoint.data_selector"),
        ({"error": {"code": 7, "message": "invalid oauth scope"}},
         "endpoint.data_selector 'data' matched nothing: the API answered an error instead of records: "
         "{'error': {'code': 7, 'message': 'invalid oauth scope'}}"),
    ],
    ids=["other-key", "list-body", "error-200"],
)
def test_data_selector_that_matches_nothing_fails_naming_keys(vendor: VendorApi, workdir: Any, body: Any, expected: str) -> None:
    vendor.routes["/items"] = lambda query, base: Answer(body=body)
    message = _run_failure(vendor, "/items", {"type": "page_number"})
    assert expected in message
    assert vendor.paths("/items") == ["/items?page=1"]


@pytest.mark.parametrize("paginator", [
    {"type": "json_link", "next_url_path": "next"},
    {"type": "cursor", "cursor_path": "next", "cursor_param": "page"},
])
def test_null_data_ends_even_with_a_next_reference(vendor: VendorApi, workdir: Any, paginator: dict) -> None:
    """`{"data": null, "next": ...}`: no records, the listing ends; the next page is not asked."""
    def route(query: dict[str, str], base: str) -> Answer:
        page = int(query.get("page", "1"))
        data = page_of(page - 1) if page <= 3 else None
        return Answer(body={"data": data, "next": f"{base}/items?page={page + 1}" if "next_url_path" in paginator else str(page + 1)})

    vendor.routes["/items"] = route
    run_listing(vendor, "/items", paginator)
    assert loaded_ids() == [1, 2, 3, 4, 5, 6, 7]
    assert vendor.paths("/items") == ["/items", "/items?page=2", "/items?page=3", "/items?page=4"]


def test_child_data_selector_that_matches_nothing_fails_naming_keys(vendor: VendorApi, workdir: Any) -> None:
    vendor.routes["/items"] = _numbered(lambda page: Answer(body={"data": []}), pages=1)
    for record in page_of(0):
        vendor.routes[f"/items/{record['id']}/subs"] = lambda q, b, i=record["id"]: Answer(
            body={"tickets": [{"id": i * 10}], "meta": {}}
        )
    with pytest.raises(Exception) as caught:
        run_listing(vendor, "/items", {"type": "page_number"},
                    children={"path": "/items/{resources.items.id}/subs", "data_selector": "data"})
    result_error = "".join(traceback.format_exception(caught.value))  # dagster and dlt wrap the resource's error
    assert ("endpoint.data_selector 'data' matched nothing in a response with keys 'tickets', 'meta'; "
            "set endpoint.data_selector to the key holding the records") in result_error
    assert "resource 'subs'" in result_error


def test_child_listings_end_on_null_data_204_and_404(vendor: VendorApi, workdir: Any) -> None:
    """Children page with the same client: each child listing ends its own vendor way."""
    vendor.routes["/items"] = _numbered(lambda page: Answer(body={"data": []}), pages=1)
    ends = {1: Answer(body={"data": None, "has_more": False}), 2: Answer(status=204), 3: Answer(404, {"message": "gone"})}
    for parent, end in ends.items():
        def route(query: dict[str, str], base: str, parent: int = parent, end: Answer = end) -> Answer:
            page = int(query.get("page", "1"))
            return Answer(body={"data": [{"id": parent * 10 + page}]}) if page <= 2 else end
        vendor.routes[f"/items/{parent}/subs"] = route
    run_listing(vendor, "/items", {"type": "page_number"},
                children={"path": "/items/{resources.items.id}/subs", "data_selector": "data",
                          "paginator": {"type": "page_number", "stop_on_status": [404]}})
    assert loaded_ids("subs") == [11, 12, 21, 22, 31, 32]
    for parent in ends:
        assert vendor.paths(f"/items/{parent}/subs") == [f"/items/{parent}/subs?page={n}" for n in (1, 2, 3)]


# --- the guards hold for the new options too ------------------------------------------------------


def test_an_api_ignoring_the_offset_is_stopped(vendor: VendorApi, workdir: Any) -> None:
    """`from` silently ignored: the first page again and again, never empty, never a total."""
    vendor.routes["/items"] = lambda query, base: Answer(body={"data": page_of(0), "has_more": True})
    message = _run_failure(vendor, "/items", {"type": "offset", "limit": 3, "offset_param": "from", "base_offset": 1})
    assert "page 2 holds the same records as page 1; the API seems to ignore the paging parameter" in message
    assert vendor.paths("/items") == ["/items?from=1&limit=3", "/items?from=4&limit=3"]


def test_a_repeated_cursor_is_stopped(vendor: VendorApi, workdir: Any) -> None:
    def route(query: dict[str, str], base: str) -> Answer:
        page = 0 if "cursor" not in query else 1
        return Answer(body={"data": page_of(page) if page == 0 else page_of(1), "meta": {"next_cursor": "same+/="}})

    vendor.routes["/items"] = route
    message = _run_failure(vendor, "/items", {"type": "cursor", "cursor_path": "meta.next_cursor", "cursor_param": "cursor"})
    assert "the API sent the same next page twice" in message
    assert vendor.paths("/items") == ["/items", "/items?cursor=same%2B%2F%3D"]


def test_max_pages_holds_with_a_more_flag(vendor: VendorApi, workdir: Any) -> None:
    """`has_more: true` forever on a link that advances: error_handling.max_pages stops it."""
    def route(query: dict[str, str], base: str) -> Answer:
        page = int(query.get("page", "1"))
        return Answer(body={"data": [{"id": page, "name": "x"}], "has_more": True, "next": f"{base}/items?page={page + 1}"})

    vendor.routes["/items"] = route
    config = parse_api_config(
        {"name": "vendor", "client": {"base_url": vendor.base_url, "read_ahead_pages": 0},
         "error_handling": {"max_pages": 5},
         "resources": [{"name": "items", "endpoint": {"path": "/items", "data_selector": "data", "paginator": {
             "type": "json_link", "next_url_path": "next", "has_more_path": "has_more"}}}]},
        source_file="vendor.yaml",
    )
    with pytest.raises(Exception) as caught:
        run_assets(config)
    assert "more than error_handling.max_pages (5) pages" in "".join(traceback.format_exception(caught.value))
    assert len(vendor.paths("/items")) == 5


# --- a config's paging assumption that the API does not share: adapted to, with one warning -------


def _warnings(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and text in r.getMessage()]


@pytest.mark.parametrize(
    ("served_at", "param", "as_url", "found_at"),
    [
        ("pagination.next", "next", False, "pagination.next"),  # Drift
        ("pages.next.starting_after", "next", False, "pages.next.starting_after"),  # Intercom (pages.next an object)
        ("meta.next_cursor", "cursor", False, "meta.next_cursor"),
        ("paging.next.after", "after", False, "paging.next.after"),  # HubSpot
        ("links.next", "page_token", True, "links.next"),  # a full URL: followed as a link
    ],
)
def test_a_cursor_missing_from_its_path_is_found_at_the_usual_places(
    vendor: VendorApi, workdir: Any, caplog: pytest.LogCaptureFixture, served_at: str, param: str, as_url: bool, found_at: str
) -> None:
    """The config says `cursor_path: next`; the API puts it elsewhere: every page still loads, one warning."""
    caplog.set_level(logging.WARNING, logger="restsync_dagster")
    vendor.routes["/items"] = _cursored(served_at, param, as_url)
    run_listing(vendor, "/items", {"type": "cursor", "cursor_path": "next", "cursor_param": param})
    assert loaded_ids() == [1, 2, 3, 4, 5, 6, 7]
    assert vendor.paths("/items") == ["/items", f"/items?{param}=a%2Bb%2Fc%3D%3D", f"/items?{param}=d%2Fe%2Bf%3D"]
    warned = _warnings(caplog, "paginator.cursor_path")
    assert len(warned) == 1, warned
    assert f"API 'vendor', resource 'items': paginator.cursor_path 'next' is not in the response; the next cursor was found at '{found_at}'" in warned[0]
    assert warned[0].endswith(f"set paginator.cursor_path: {found_at}")


def test_a_found_cursor_still_ends_on_a_false_more_flag(vendor: VendorApi, workdir: Any) -> None:
    """Drift-like `pagination: {more, next}`: the last page's `more: false` ends it although a cursor is there."""
    def route(query: dict[str, str], base: str) -> Answer:
        given = query.get("next", "")
        if given not in CURSORS[:3]:
            return Answer(500, {"error": "asked past the end"})
        index = CURSORS.index(given)
        return Answer(body={"data": page_of(index), "pagination": {"more": index < 2, "next": CURSORS[index + 1]}})

    vendor.routes["/items"] = route
    run_listing(vendor, "/items", {"type": "cursor", "cursor_path": "next", "cursor_param": "next"})
    assert loaded_ids() == [1, 2, 3, 4, 5, 6, 7]
    assert len(vendor.paths("/items")) == 3


@pytest.mark.parametrize("more", [{"has_more": True}, {"meta": {"more": True}}, {"flags": {"more": "yes"}}],
                         ids=["has_more", "meta.more", "configured"])
def test_a_missing_cursor_on_a_page_that_says_more_fails(vendor: VendorApi, workdir: Any, more: dict) -> None:
    """No cursor anywhere, but the body says more pages follow: the resource fails instead of loading a part."""
    vendor.routes["/items"] = lambda query, base: Answer(body={"data": page_of(0), "token": "opaque", **more})
    paginator = {"type": "cursor", "cursor_path": "next", "cursor_param": "next"}
    if "flags" in more:
        paginator["has_more_path"] = "flags.more"
    message = _run_failure(vendor, "/items", paginator)
    assert "API 'vendor', resource 'items': paginator.cursor_path 'next' is missing from a page that says" in message
    assert "set paginator.cursor_path to the field holding the next cursor" in message
    assert vendor.paths("/items") == ["/items"]


def _from_api(base: int, total: int = len(RECORDS), reads: str = "from", size: int = SIZE) -> Route:
    """An API that knows only `reads` (counted from `base`): any other offset parameter is ignored."""
    records = [{"id": n, "name": f"r{n}"} for n in range(1, total + 1)]

    def route(query: dict[str, str], url: str) -> Answer:
        start = int(query.get(reads, str(base))) - base
        if query.get("limit") != str(size):
            return Answer(400, {"error": f"limit must be {size}"})
        chunk = records[max(start, 0) : max(start, 0) + size]
        return Answer(body={"data": chunk}) if chunk else Answer(status=204)
    return route


def test_an_ignored_default_offset_is_retried_as_from(vendor: VendorApi, workdir: Any, caplog: pytest.LogCaptureFixture) -> None:
    """Zoho Desk: `from` (1-based), `offset` unknown. Page 2 is asked again as `from`, 0-based: one record
    comes twice and merges away; none is skipped."""
    caplog.set_level(logging.WARNING, logger="restsync_dagster")
    vendor.routes["/tickets"] = _from_api(base=1)
    run_listing(vendor, "/tickets", {"type": "offset", "limit": 3}, write_disposition="merge")
    assert loaded_ids() == [1, 2, 3, 4, 5, 6, 7]
    assert vendor.paths("/tickets") == [
        "/tickets?offset=0&limit=3", "/tickets?offset=3&limit=3",  # page 2 repeats page 1
        "/tickets?limit=3&from=3", "/tickets?limit=3&from=6", "/tickets?limit=3&from=8",  # the last one: 204
    ]
    warned = _warnings(caplog, "paginator.offset_param")
    assert len(warned) == 1, warned
    assert warned[0].startswith("vendor.yaml: API 'vendor', resource 'items': page 2 asked with ?offset= repeated page 1; the API honours ?from=")
    assert "set paginator.offset_param: from" in warned[0]


def test_an_append_table_keeps_each_record_once_when_the_offset_is_retried_as_from(vendor: VendorApi, workdir: Any) -> None:
    """The repeated page 2 is not loaded, nor the record the 0-based guess at a 1-based `from` repeats:
    without a primary key to merge on, nothing would take them out again."""
    vendor.routes["/tickets"] = _from_api(base=1)
    run_listing(vendor, "/tickets", {"type": "offset", "limit": 3}, write_disposition="append")
    assert sorted(row[0] for row in table_rows("vendor", "items", "id")) == [1, 2, 3, 4, 5, 6, 7]
    assert "/tickets?limit=3&from=3" in vendor.paths("/tickets")


def test_an_ignored_offset_on_a_single_record_tries_the_1_based_value(vendor: VendorApi, workdir: Any) -> None:
    """One record: `from=1` is that record again for a 1-based API, so `from=2` is asked before giving up on `from`."""
    vendor.routes["/orgs"] = _from_api(base=1, total=1)
    run_listing(vendor, "/orgs", {"type": "offset", "limit": 3}, write_disposition="merge")
    assert loaded_ids() == [1]
    assert vendor.paths("/orgs") == ["/orgs?offset=0&limit=3", "/orgs?offset=1&limit=3", "/orgs?limit=3&from=1", "/orgs?limit=3&from=2"]


def test_the_usual_offset_names_are_tried_in_turn_each_alone(vendor: VendorApi, workdir: Any) -> None:
    """An API reading only `skip` (0-based): `from` and `start` repeat page 1 too; `skip` goes on, the others dropped."""
    vendor.routes["/items"] = _from_api(base=0, reads="skip")
    run_listing(vendor, "/items", {"type": "offset", "limit": 3}, write_disposition="merge")
    assert loaded_ids() == [1, 2, 3, 4, 5, 6, 7]
    assert vendor.paths("/items") == [
        "/items?offset=0&limit=3", "/items?offset=3&limit=3", "/items?limit=3&from=3", "/items?limit=3&start=3",
        "/items?limit=3&skip=3", "/items?limit=3&skip=6", "/items?limit=3&skip=7",
    ]


def test_an_api_ignoring_every_usual_offset_name_is_stopped(vendor: VendorApi, workdir: Any) -> None:
    vendor.routes["/items"] = lambda query, base: Answer(body={"data": page_of(0)})
    message = _run_failure(vendor, "/items", {"type": "offset", "limit": 3}, write_disposition="merge")
    assert ("page 2 holds the same records as page 1; the API seems to ignore the paging parameter (GuardedOffset) "
            "(tried ?offset=, ?from=, ?start=, ?skip=; set paginator.offset_param); stopping") in message
    assert len(vendor.paths("/items")) == 5


def test_a_switched_offset_is_read_ahead_without_losing_or_doubling_a_record(vendor: VendorApi, workdir: Any) -> None:
    """Read-ahead guesses numbered pages: after the switch to `from` its guesses follow the new name."""
    vendor.routes["/items"] = _from_api(base=1, total=40)
    run_listing(vendor, "/items", {"type": "offset", "limit": 3}, write_disposition="merge", read_ahead=4)
    assert loaded_ids() == list(range(1, 41))
    assert len(set(table_rows("vendor", "items", "id"))) == len(table_rows("vendor", "items", "id")) == 40
    asked = [path for path in vendor.paths("/items") if "offset=" in path]
    assert asked == ["/items?offset=0&limit=3", "/items?offset=3&limit=3"]  # nothing guessed under the old name
