"""The Flavour type: how one simulated API answers in one real vendor's manner (vendors in sibling modules).

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
# (resource, query as sent, request headers) -> (status, body) the vendor refuses the request with, or None
RefuseHook = Callable[[str, dict[str, str], Mapping[str, str]], Optional[tuple[int, Any]]]
# (resource, record as served, query as read) -> True when that listing does not show the record
# (Help Scout lists active conversations unless status=all, Freshdesk hides blocked contacts)
HideHook = Callable[[str, dict[str, Any], Mapping[str, str]], bool]
# (resource, query as read) -> False when `hide` leaves nothing out for this query, so the listing pages
# its view directly instead of reading it whole (Freshdesk tickets with updated_since: a 1M-ticket window)
MayHideHook = Callable[[str, Mapping[str, str]], bool]
ReshapeHook = Callable[[str, dict[str, Any]], dict[str, Any]]  # (resource, record as served) -> the vendor's fields
# (resource, query as read, request headers, is a delta round) -> the query with what headers ask (Prefer: odata.maxpagesize)
HeaderQueryHook = Callable[[str, dict[str, str], Mapping[str, str], bool], dict[str, str]]


def _keep(resource: str, query: dict[str, str], delta: bool) -> dict[str, str]:
    return query


def _same(listing: Listing, body: Any, headers: dict[str, str]) -> tuple[Any, dict[str, str]]:
    return body, headers


def _accept(resource: str, query: dict[str, str], headers: Mapping[str, str]) -> Optional[tuple[int, Any]]:
    return None


def _show(resource: str, record: dict[str, Any], query: Mapping[str, str]) -> bool:
    return False


def _may_hide(resource: str, query: Mapping[str, str]) -> bool:
    return True


def _as_is(resource: str, record: dict[str, Any]) -> dict[str, Any]:
    return record


def _no_headers(resource: str, query: dict[str, str], headers: Mapping[str, str], delta: bool) -> dict[str, str]:
    return query


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
    refuse: RefuseHook = _accept  # a request the vendor answers with an error (unknown parameter, missing header)
    hide: HideHook = _show  # records a listing leaves out for the query it was sent (a default status, a window)
    hides: frozenset[str] = frozenset()  # the resources `hide` applies to (the others are listed as stored)
    may_hide: MayHideHook = _may_hide  # whether `hide` can leave anything out for a query (False: skipped)
    # per resource, the query that lists it completely: what its table must hold (`Simulator.records`)
    complete: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    reshape: ReshapeHook = _as_is  # the record's fields the vendor's way (a status field, a field it lacks)
    header_query: HeaderQueryHook = _no_headers  # what request headers change in the query (a page size asked by header)

    @property
    def is_default(self) -> bool:
        return self.name == DEFAULT

    def read_query(self, resource: str, query: dict[str, str], delta: bool, headers: Optional[Mapping[str, str]] = None) -> dict[str, str]:
        """The query as this vendor understands it: unknown filters and sorts dropped, own names mapped,
        and what the request's headers ask for (a page size in `Prefer`)."""
        if self.is_default:
            return query
        known = {k: v for k, v in query.items() if k not in self.ignored}
        return self.header_query(resource, self.query(resource, known, delta), headers or {}, delta)

    def refusal(self, resource: str, query: dict[str, str], headers: Mapping[str, str]) -> Optional[tuple[int, Any]]:
        """The error this vendor answers the request with, before reading it; None when it serves it."""
        return None if self.is_default else self.refuse(resource, query, headers)

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
        return self.reshape(spec.name, served)

    def hidden(self, resource: str, served: dict[str, Any], query: Mapping[str, str]) -> bool:
        """Whether the listing sent `query` leaves out this record (as served); never in the default."""
        return not self.is_default and resource in self.hides and self.hide(resource, served, query)

    def hiding(self, resource: str, query: Mapping[str, str]) -> bool:
        """Whether the listing of `resource` sent `query` may leave records out (never in the default)."""
        return not self.is_default and resource in self.hides and self.may_hide(resource, query)

    def listed(self, spec: Spec, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The records (as stored) the resource's complete listing shows: what its table must hold."""
        query = self.complete.get(spec.name, {})
        if not self.hiding(spec.name, query):
            return records
        return [r for r in records if "@removed" in r or not self.hidden(spec.name, self.record(spec, r), query)]


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


def default_flavour(api: str) -> Flavour:
    return Flavour(api, DEFAULT, "what the shipped config describes")
