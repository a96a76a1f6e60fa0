"""How each API pages, filters, sorts and wraps its records: one small table entry per API.

A `Page` says which slice of a resource's records a request asks for; each style turns the slice
into the body and headers the real vendor would send (HAL links, RFC 8288 Link header, OData next
link, body cursor, offset/limit).
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Optional
from urllib.parse import urlencode

from restsync_dagster.simulator.data import parse_iso


@dataclass
class Page:
    offset: int
    limit: int


@dataclass
class Listing:
    """A request's view of a resource: the records of one page, and how to reach the next one."""

    items: list[dict[str, Any]]
    offset: int
    limit: int
    total: int
    base_url: str  # absolute URL of the resource, without query
    query: dict[str, str]
    resource: str
    next_url: Optional[str] = None  # overrides the style's next link (faults)
    no_next: bool = False  # the listing ends here whatever is left (fault: empty_page)
    force_next: bool = False  # a next page is announced even past the end (fault: empty_page_with_next)
    skiptoken: Optional[str] = None  # the next page's $skiptoken when pages are keyed, not offsets (delta rounds)
    delta_token: Optional[str] = None  # a delta round: its last page links to the next round with this $deltatoken

    @property
    def has_more(self) -> bool:
        return self.force_next or (not self.no_next and self.offset + self.limit < self.total)


def _encode(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def _decode(token: str) -> int:
    padded = token + "=" * (-len(token) % 4)
    try:
        return int(base64.urlsafe_b64decode(padded).decode().split(":", 1)[1])
    except (ValueError, IndexError):
        raise ValueError(f"invalid cursor {token!r}") from None


def _with(query: dict[str, str], **changes: Any) -> str:
    merged = {**query, **{k: str(v) for k, v in changes.items()}}
    return urlencode(merged, safe="$")


def _bounded(value: Optional[str], default: int, cap: int) -> int:
    try:
        number = int(value) if value is not None else default
    except ValueError:
        number = default
    return max(1, min(number, cap))


@dataclass(frozen=True)
class Style:
    """Pagination, filtering and envelope of one API."""

    page: Callable[[dict[str, str]], Page]
    body: Callable[[Listing], tuple[Any, dict[str, str]]]
    since: Callable[[str, dict[str, str]], Optional[str]]  # (resource, query) -> iso or None: updated at or after
    descending: Callable[[dict[str, str]], Optional[bool]]  # None: no sort asked
    single_page: frozenset[str] = field(default_factory=frozenset)
    # (resource, query) -> iso or None: updated strictly before (the bounded window's end, exclusive)
    until: Callable[[str, dict[str, str]], Optional[str]] = lambda resource, q: None


# --- shared_inbox: HAL --------------------------------------------------------------------------
def _hal_page(q: dict[str, str]) -> Page:
    limit = _bounded(q.get("limit"), 50, 50)
    page = max(1, int(q.get("page", "1") or 1))
    return Page((page - 1) * limit, limit)


def _hal_body(listing: Listing) -> tuple[Any, dict[str, str]]:
    key = {"inboxes": "mailboxes", "inbox_custom_fields": "fields", "inbox_folders": "folders", "team_members": "users",
           "conversation_threads": "threads"}.get(listing.resource, listing.resource)
    number = listing.offset // listing.limit + 1
    links: dict[str, Any] = {"self": {"href": f"{listing.base_url}?{_with(listing.query, page=number)}"}}
    if listing.next_url or listing.has_more:
        links["next"] = {"href": listing.next_url or f"{listing.base_url}?{_with(listing.query, page=number + 1, limit=listing.limit)}"}
    pages = max(1, -(-listing.total // listing.limit))
    return {"_embedded": {key: listing.items}, "_links": links,
            "page": {"size": listing.limit, "totalElements": listing.total, "totalPages": pages, "number": number}}, {}


# --- service_desk: Link header; tickets by bare page number ----------------------------------------
def _link_page(q: dict[str, str]) -> Page:
    limit = _bounded(q.get("per_page", q.get("limit")), 30, 100)
    page = max(1, int(q.get("page", "1") or 1))
    return Page((page - 1) * limit, limit)


def _link_body(listing: Listing) -> tuple[Any, dict[str, str]]:
    if listing.resource == "settings":
        return {"data": listing.items[0] if listing.items else {}}, {}
    headers = {}
    if listing.resource != "tickets" and (listing.next_url or listing.has_more):
        number = listing.offset // listing.limit + 1
        url = listing.next_url or f"{listing.base_url}?{_with(listing.query, page=number + 1)}"
        headers["Link"] = f'<{url}>; rel="next"'
    return {"data": listing.items}, headers


# --- directory: OData ------------------------------------------------------------------------------
def odata_top(q: dict[str, str]) -> int:
    return _bounded(q.get("$top"), 100, 999)


def _odata_page(q: dict[str, str]) -> Page:
    token = q.get("$skiptoken")
    return Page(_decode(token) if token else 0, odata_top(q))


def _odata_body(listing: Listing) -> tuple[Any, dict[str, str]]:
    body: dict[str, Any] = {"@odata.context": f"{listing.base_url}/$metadata#{listing.resource}", "value": listing.items}
    if listing.next_url or listing.has_more:
        skiptoken = listing.skiptoken or _encode(listing.offset + listing.limit)
        body["@odata.nextLink"] = listing.next_url or (
            f"{listing.base_url}?{_with(listing.query, **{'$skiptoken': skiptoken, '$top': listing.limit})}"
        )
    elif listing.delta_token is not None:
        body["@odata.deltaLink"] = f"{listing.base_url}?{_with({}, **{'$deltatoken': listing.delta_token})}"
    return body, {}


def _odata_since(resource: str, q: dict[str, str]) -> Optional[str]:
    expression = q.get("$filter", "")
    if expression.startswith("lastModifiedDateTime ge "):
        return expression.split(" ge ", 1)[1].strip("'\"")
    return None


# --- messaging: body cursor ----------------------------------------------------------------------------
def _cursor_page(q: dict[str, str]) -> Page:
    limit = _bounded(q.get("limit"), 50, 100)
    token = q.get("next")
    return Page(_decode(token) if token else 0, limit)


def _cursor_body(listing: Listing) -> tuple[Any, dict[str, str]]:
    if listing.resource in ("users", "contacts"):
        return {"data": listing.items}, {}
    following = None
    if listing.next_url is not None:
        following = listing.next_url
    elif listing.has_more:
        following = _encode(listing.offset + listing.limit)
    data: Any = {listing.resource: listing.items} if listing.resource in ("accounts", "messages") else listing.items
    return {"data": data, "next": following}, {}


# --- ticket_desk: offset/limit ---------------------------------------------------------------------------
def _offset_page(q: dict[str, str]) -> Page:
    return Page(max(0, int(q.get("offset", "0") or 0)), _bounded(q.get("limit"), 50, 100))


def _offset_body(listing: Listing) -> tuple[Any, dict[str, str]]:
    return {"data": listing.items}, {}


def _param(names: dict[str, str]) -> Callable[[str, dict[str, str]], Optional[str]]:
    return lambda resource, q: q.get(names[resource]) if resource in names else None


# --- bounded windows in the vendors' own search forms ------------------------------------------------
# Help Scout's search syntax on conversations and customers: `query=(modifiedAt:[<from> TO <to>])`,
# `*` for an open end (developer.helpscout.com, conversations list: `query`); other search terms are
# not simulated and are ignored
HS_RANGE = re.compile(r"modifiedAt\s*:\s*[\[{]\s*(\S+?)\s+TO\s+(\S+?)\s*[\]}]")
HS_SEARCHABLE = ("conversations", "customers")


def helpscout_range(query: dict[str, str]) -> tuple[Optional[str], Optional[str]]:
    """(from, to) of a `modifiedAt:[from TO to]` term in `query` (None for `*` or no term); a
    `modifiedAt` term that is not such a range is refused (400), as Help Scout refuses bad syntax."""
    text = query.get("query") or ""
    if "modifiedAt" not in text:
        return None, None
    found = HS_RANGE.search(text)
    if found is None:
        raise ValueError(f"invalid search query {text!r}: expected modifiedAt:[<from> TO <to>] (* for an open end)")
    ends = [value.strip("'\"") for value in found.groups()]
    return tuple(None if value == "*" else value for value in ends)  # type: ignore[return-value]


def _later(*raws: Optional[str]) -> Optional[str]:
    moments = [(parse_moment(r), r) for r in raws if r]
    return max(moments)[1] if moments else None


def _earlier(*raws: Optional[str]) -> Optional[str]:
    moments = [(parse_moment(r), r) for r in raws if r]
    return min(moments)[1] if moments else None


def _hal_since(resource: str, q: dict[str, str]) -> Optional[str]:
    if resource not in HS_SEARCHABLE:
        return None
    return _later(q.get("modifiedSince"), helpscout_range(q)[0])


def _hal_until(resource: str, q: dict[str, str]) -> Optional[str]:
    if resource not in HS_SEARCHABLE:
        return None
    return _earlier(q.get("modifiedBefore"), helpscout_range(q)[1])


# Zoho Desk's bounded listing: `/tickets/search?modifiedTimeRange=<from>,<to>` (ISO with ms, both ends);
# served as the pseudo resource `tickets/search` (the records are the tickets')
TICKET_SEARCH = "tickets/search"


def zoho_range(query: dict[str, str]) -> tuple[Optional[str], Optional[str]]:
    text = query.get("modifiedTimeRange")
    if not text:
        return None, None
    parts = [part.strip() for part in text.split(",")]
    if len(parts) != 2 or not all(parts):
        raise ValueError(f"invalid modifiedTimeRange {text!r}: expected <from>,<to> (e.g. 2024-01-01T00:00:00.000Z,2024-02-01T00:00:00.000Z)")
    return parts[0], parts[1]


def _desk_since(resource: str, q: dict[str, str]) -> Optional[str]:
    return zoho_range(q)[0] if resource == TICKET_SEARCH else (q.get("modifiedAfter") if resource == "tickets" else None)


def _desk_until(resource: str, q: dict[str, str]) -> Optional[str]:
    return zoho_range(q)[1] if resource == TICKET_SEARCH else (q.get("modifiedBefore") if resource == "tickets" else None)


STYLES: dict[str, Style] = {
    "shared_inbox": Style(
        page=_hal_page, body=_hal_body,
        since=_hal_since, until=_hal_until,
        # Help Scout sorts by modifiedAt (its documented sortField); updatedAt is kept for older configs
        descending=lambda q: (q.get("sortOrder", "asc") == "desc") if q.get("sortField") in ("modifiedAt", "updatedAt") else None,
    ),
    "service_desk": Style(
        page=_link_page, body=_link_body,
        since=_param({"tickets": "updated_since", "contacts": "_updated_since"}),
        until=_param({"tickets": "updated_before", "contacts": "_updated_before"}),
        descending=lambda q: (q.get("order_type", "desc") == "desc") if q.get("order_by") == "updated_at" else None,
    ),
    "directory": Style(
        page=_odata_page, body=_odata_body, since=_odata_since,
        descending=lambda q: q["$orderby"].endswith("desc") if q.get("$orderby", "").startswith("lastModifiedDateTime") else None,
    ),
    "messaging": Style(
        page=_cursor_page, body=_cursor_body,
        since=_param({"conversations": "updated_after"}), until=_param({"conversations": "updated_before"}),
        descending=lambda q: (q.get("order") == "desc") if q.get("order") in ("asc", "desc") else None,
        single_page=frozenset({"users", "contacts"}),
    ),
    "ticket_desk": Style(
        page=_offset_page, body=_offset_body,
        since=_desk_since, until=_desk_until,
        descending=lambda q: q["sortBy"].startswith("-") if q.get("sortBy", "").lstrip("-") == "modifiedTime" else None,
    ),
}


def since_of(api: str, resource: str, query: dict[str, str]) -> Optional[Any]:
    raw = STYLES[api].since(resource, query)
    return parse_moment(raw) if raw else None


def until_of(api: str, resource: str, query: dict[str, str]) -> Optional[datetime]:
    raw = STYLES[api].until(resource, query)
    return parse_moment(raw) if raw else None


def window_of(api: str, resource: str, query: dict[str, str]) -> tuple[Optional[datetime], Optional[datetime]]:
    """The updated-time window a request asks for: [since, until), since inclusive, until exclusive,
    None for an open end (both None: no filter). A bad value raises ValueError (answered 400)."""
    return since_of(api, resource, query), until_of(api, resource, query)


def parse_moment(raw: str) -> datetime:
    """An updated-since value as clients send it: ISO 8601, or epoch seconds or milliseconds (a client
    that keeps a flavour's epoch cursor sends it back as it came)."""
    text = raw.strip()
    if text.isdigit():
        number = int(text)
        return datetime.fromtimestamp(number / 1000 if number >= 10**11 else number, tz=timezone.utc)
    return parse_iso(text)
