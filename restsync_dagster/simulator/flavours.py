"""Flavours: one simulated API answering with another real vendor's conventions.

The `default` flavour of each API is what the shipped configs were written against, so configs,
simulator and tests agree by construction. Real vendors do not: a flavour changes only the wire
(timestamp formats, field names, where the cursor sits, which parameters are honoured, how a list
ends, compression), never the records behind it, so a test can still compare a table with
`Simulator.records`, which returns the records as the flavour serves them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Mapping, Optional

from restsync_dagster.simulator.apis import Listing
from restsync_dagster.simulator.data import Spec, parse_iso

DEFAULT = "default"
QueryHook = Callable[[str, dict[str, str], bool], dict[str, str]]  # (resource, query, is a delta round) -> query read
BodyHook = Callable[[Listing, Any, dict[str, str]], tuple[Any, dict[str, str]]]


def _keep(resource: str, query: dict[str, str], delta: bool) -> dict[str, str]:
    return query


def _same(listing: Listing, body: Any, headers: dict[str, str]) -> tuple[Any, dict[str, str]]:
    return body, headers


@dataclass(frozen=True)
class Flavour:
    """How one API answers in one vendor's manner (see FLAVOURS for each)."""

    api: str
    name: str
    summary: str  # what differs from the default, in one line (for --help and the README)
    timestamps: str = "iso"  # created/updated fields: iso (as generated), iso_seconds, iso_millis, epoch_ms, epoch_s
    renames: Mapping[str, str] = field(default_factory=dict)  # generated field name -> name on the wire
    ignored: frozenset[str] = frozenset()  # query parameters the vendor does not know: read as if absent
    query: QueryHook = _keep  # how the vendor reads the rest of the query (its own offset or cursor names)
    body: BodyHook = _same  # the envelope reshaped the vendor's way (nested cursor, more flag, headers)
    empty_status: Optional[int] = None  # 204: an empty listing (past the last record) answers No Content, no body
    gzip: bool = False  # bodies gzip-compressed when the client accepts it

    @property
    def is_default(self) -> bool:
        return self.name == DEFAULT

    def read_query(self, resource: str, query: dict[str, str], delta: bool) -> dict[str, str]:
        """The query as this vendor understands it: unknown filters and sorts dropped, own names mapped."""
        if self.is_default:
            return query
        known = {k: v for k, v in query.items() if k not in self.ignored}
        return self.query(resource, known, delta)

    def record(self, spec: Spec, record: dict[str, Any]) -> dict[str, Any]:
        """A record as this vendor serves it (the default serves it as generated, the same object)."""
        if self.is_default or "@removed" in record:
            return record
        served = dict(record)
        for name in (spec.created_field, spec.updated_field):
            if isinstance(served.get(name), str):
                served[name] = _timestamp(served[name], self.timestamps)
        for old, new in self.renames.items():
            if old in served:
                served[new] = served.pop(old)
        return served


def _timestamp(text: str, style: str) -> Any:
    moment: datetime = parse_iso(text)
    if style == "epoch_ms":
        return int(moment.timestamp() * 1000)
    if style == "epoch_s":
        return int(moment.timestamp())
    if style == "iso_seconds":
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    if style == "iso_millis":
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return text


# --- shared_inbox ~ Help Scout -------------------------------------------------------------------
def _helpscout_query(resource: str, query: dict[str, str], delta: bool) -> dict[str, str]:
    """Help Scout sorts by `modifiedAt` (not `updatedAt`); any other sortField is not one of its own."""
    read = dict(query)
    if read.get("sortField") == "modifiedAt":
        read["sortField"] = "updatedAt"
    elif "sortField" in read:
        read.pop("sortField")
        read.pop("sortOrder", None)
    return read


# --- service_desk ~ Freshdesk --------------------------------------------------------------------
def _freshdesk_query(resource: str, query: dict[str, str], delta: bool) -> dict[str, str]:
    """Freshdesk's contact list has filters (`_updated_since`, email, state) but no `order_by`."""
    if resource == "contacts":
        return {k: v for k, v in query.items() if k not in ("order_by", "order_type")}
    return query


def _freshdesk_body(listing: Listing, body: Any, headers: dict[str, str]) -> tuple[Any, dict[str, str]]:
    """Freshdesk sends its `Link: rel="next"` header on tickets too (the config pages them by number)."""
    if listing.resource == "tickets" and listing.has_more and "Link" not in headers:
        number = listing.offset // listing.limit + 1
        query = "&".join(f"{k}={v}" for k, v in {**listing.query, "page": str(number + 1)}.items())
        headers = {**headers, "Link": f'<{listing.base_url}?{query}>; rel="next"'}
    return body, headers


# --- directory ~ Microsoft Graph -----------------------------------------------------------------
def _graph_query(resource: str, query: dict[str, str], delta: bool) -> dict[str, str]:
    """Graph does not support `$top` on delta queries (only `Prefer: odata.maxpagesize`)."""
    return {k: v for k, v in query.items() if not (delta and k == "$top")}


# --- messaging ~ Drift / Intercom ----------------------------------------------------------------
def _drift_query(resource: str, query: dict[str, str], delta: bool) -> dict[str, str]:
    """Drift lists conversations newest first (by updatedAt), whatever was asked, 50 at most."""
    read = {k: v for k, v in query.items() if k != "order"}
    if resource == "conversations":
        read["order"] = "desc"
    asked = read.get("limit", "25")
    read["limit"] = str(min(int(asked) if asked.isdigit() else 25, 50))  # default 25, max 50
    return read


def _drift_body(listing: Listing, body: Any, headers: dict[str, str]) -> tuple[Any, dict[str, str]]:
    """Drift's cursor sits at `pagination.next`, with `pagination.more`; no pagination on the last page."""
    if isinstance(body, dict) and "next" in body:
        body = dict(body)
        following = body.pop("next")
        if following is not None:
            body["pagination"] = {"more": True, "next": following}
    return body, headers


def _intercom_query(resource: str, query: dict[str, str], delta: bool) -> dict[str, str]:
    """Intercom pages by `per_page` (default 20; `limit` is not its parameter) and `starting_after`."""
    read = {k: v for k, v in query.items() if k != "limit"}
    read["limit"] = read.pop("per_page", "20")
    if "starting_after" in read:
        read["next"] = read.pop("starting_after")
    return read


def _intercom_body(listing: Listing, body: Any, headers: dict[str, str]) -> tuple[Any, dict[str, str]]:
    """Intercom's cursor sits at `pages.next.starting_after`; the last page has no `pages.next`."""
    if isinstance(body, dict) and "next" in body:
        body = dict(body)
        following = body.pop("next")
        number = listing.offset // max(listing.limit, 1) + 1
        pages: dict[str, Any] = {"type": "pages", "page": number, "per_page": listing.limit,
                                 "total_pages": max(1, -(-listing.total // max(listing.limit, 1)))}
        if following is not None:
            pages["next"] = {"page": number + 1, "starting_after": following}
        body["pages"] = pages
    return body, headers


# --- ticket_desk ~ Zoho Desk ---------------------------------------------------------------------
ZOHO_SORTS = ("dueDate", "recentThread", "createdTime", "ticketNumber")


def _zoho_query(resource: str, query: dict[str, str], delta: bool) -> dict[str, str]:
    """Zoho Desk pages with `from` (1-based index) and `limit`: an `offset` means nothing to it; it
    sorts only by its own keys (not `modifiedTime`)."""
    read = {k: v for k, v in query.items() if k not in ("offset", "from")}
    start = query.get("from", "1")
    read["offset"] = str(max(0, (int(start) if start.lstrip("-").isdigit() else 1) - 1))
    if read.get("sortBy", "").lstrip("-") not in ZOHO_SORTS:
        read.pop("sortBy", None)
    return read


FLAVOURS: dict[str, dict[str, Flavour]] = {
    "shared_inbox": {
        "helpscout": Flavour(
            "shared_inbox", "helpscout",
            "Help Scout: timestamps to the second, gzip bodies, sortField=updatedAt unknown (it sorts by modifiedAt)",
            timestamps="iso_seconds", query=_helpscout_query, gzip=True,
        ),
    },
    "service_desk": {
        "freshdesk": Flavour(
            "service_desk", "freshdesk",
            "Freshdesk: timestamps to the second, a Link header on tickets too, no order_by on contacts",
            timestamps="iso_seconds", query=_freshdesk_query, body=_freshdesk_body,
        ),
        "camelcase": Flavour(
            "service_desk", "camelcase",
            "a desk answering camelCase (updatedAt, createdAt where the config says updated_at), ignoring order_by",
            renames={"updated_at": "updatedAt", "created_at": "createdAt"}, ignored=frozenset({"order_by", "order_type"}),
        ),
    },
    "directory": {
        "graph": Flavour(
            "directory", "graph",
            "Microsoft Graph: $top ignored on delta queries, timestamps to the second, gzip bodies",
            timestamps="iso_seconds", query=_graph_query, gzip=True,
        ),
    },
    "messaging": {
        "drift": Flavour(
            "messaging", "drift",
            "Drift: epoch milliseconds, cursor at pagination.next with pagination.more, newest first, "
            "no updated_after filter, 50 per page at most",
            timestamps="epoch_ms", ignored=frozenset({"updated_after"}), query=_drift_query, body=_drift_body,
        ),
        "intercom": Flavour(
            "messaging", "intercom",
            "Intercom: epoch seconds in snake_case (updated_at where the config says updatedAt), cursor at "
            "pages.next.starting_after, per_page (default 20), no updated_after filter nor order",
            timestamps="epoch_s", renames={"updatedAt": "updated_at", "createdAt": "created_at"},
            ignored=frozenset({"updated_after", "order"}), query=_intercom_query, body=_intercom_body,
        ),
    },
    "ticket_desk": {
        "zoho": Flavour(
            "ticket_desk", "zoho",
            "Zoho Desk: from (1-based) + limit instead of offset, 204 No Content past the last record, "
            "no modifiedAfter filter, no sortBy=modifiedTime, timestamps to the millisecond",
            timestamps="iso_millis", ignored=frozenset({"modifiedAfter"}), query=_zoho_query, empty_status=204,
        ),
    },
}


def default_flavour(api: str) -> Flavour:
    return Flavour(api, DEFAULT, "what the shipped config describes")


def flavour_names(api: str) -> list[str]:
    return [DEFAULT, *FLAVOURS.get(api, {})]


def flavour(api: str, name: str) -> Flavour:
    """The named flavour of an API; a name it does not have is refused with the known ones."""
    if name == DEFAULT:
        return default_flavour(api)
    known = FLAVOURS.get(api)
    if known is None:
        raise ValueError(f"unknown API {api!r}; known: {', '.join(FLAVOURS)}")
    if name not in known:
        raise ValueError(f"{api} has no flavour {name!r}; known: {', '.join(flavour_names(api))}")
    return known[name]


def flavours_for(selected: Optional[Mapping[str, str]], apis: tuple[str, ...]) -> dict[str, Flavour]:
    """One flavour per API: the selected ones, the default for the rest."""
    chosen = dict(selected or {})
    unknown = sorted(set(chosen) - set(apis))
    if unknown:
        raise ValueError(f"flavours for unknown APIs {unknown}; known: {', '.join(apis)}")
    return {api: flavour(api, chosen.get(api, DEFAULT)) for api in apis}
