"""directory as Microsoft Graph answers (users and groups, delta queries)."""

from __future__ import annotations

import re
from typing import Any, Mapping
from urllib.parse import urlencode

from restsync_dagster.simulator.apis import Listing
from restsync_dagster.simulator.data import parse_iso
from restsync_dagster.simulator.delta import _pack, _unpack
from restsync_dagster.simulator.flavours.base import Flavour

MAX_PAGE_SIZE = re.compile(r"odata\.maxpagesize\s*=\s*(\d+)", re.IGNORECASE)
# what Graph returns without $select (learn.microsoft.com/graph/api/user-list: "a default set of
# properties"): businessPhones, displayName, givenName, id, jobTitle, mail, mobilePhone,
# officeLocation, preferredLanguage, surname, userPrincipalName; accountEnabled or createdDateTime
# only when selected
DEFAULT_USER_PROPERTIES = frozenset({
    "id", "businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone", "officeLocation",
    "preferredLanguage", "surname", "userPrincipalName",
})


def _graph_query(resource: str, query: dict[str, str], delta: bool) -> dict[str, str]:
    """Graph does not support `$top` on delta queries (only `Prefer: odata.maxpagesize`)."""
    return {k: v for k, v in query.items() if not (delta and k == "$top")}


def _graph_prefer(resource: str, query: dict[str, str], headers: Mapping[str, str], delta: bool) -> dict[str, str]:
    """`Prefer: odata.maxpagesize=N` sets the page size (the delta query's only size knob,
    learn.microsoft.com/graph/delta-query-overview); on a plain listing an explicit `$top` wins."""
    found = MAX_PAGE_SIZE.search(headers.get("Prefer") or "")
    if found and (delta or "$top" not in query):
        return {**query, "$top": found.group(1)}
    return query


def _selected(item: dict[str, Any], resource: str, select: str) -> dict[str, Any]:
    if "@removed" in item:
        return item
    if select:
        names = {name.strip() for name in select.split(",") if name.strip()} | {"id"}
        return {k: v for k, v in item.items() if k in names}
    if resource == "users":
        return {k: v for k, v in item.items() if k in DEFAULT_USER_PROPERTIES}
    return item


def _graph_body(listing: Listing, body: Any, headers: dict[str, str]) -> tuple[Any, dict[str, str]]:
    """The Graph way of a page:
    - `$select` returns only those properties (and `id`); without it users carry the default set only.
      `$select` is carried in the next and the delta link (delta-query-users: "the $select ... is
      encoded in the tokens").
    - a removed entry says `"reason": "changed"` (the object went to the deleted items and can be
      restored; "deleted" is for permanent deletion) (delta-query-overview, "Resource representation").
    - the first answer of a change round (a `$deltatoken`, no `$skiptoken`) is an empty page with a
      nextLink: "an empty page with a nextLink does not mean the end" (delta-query-overview).
    """
    if not isinstance(body, dict):
        return body, headers
    select = listing.query.get("$select", "")
    body = dict(body)
    body["value"] = [_selected(_changed(item), listing.resource, select) for item in body.get("value", [])]
    keep = {"$select": select} if select else {}
    link = body.get("@odata.deltaLink")
    if link is not None and keep:
        body["@odata.deltaLink"] = f"{link}&{urlencode(keep, safe='$,')}"
    round_start = listing.delta_token is not None and "$deltatoken" in listing.query and "$skiptoken" not in listing.query
    if round_start and listing.skiptoken is not None:
        start = _unpack(listing.skiptoken)["start"]
        query = {**keep, "$deltatoken": listing.query["$deltatoken"], "$skiptoken": _pack_iso(start)}
        return {"@odata.context": body.get("@odata.context"), "value": [],
                "@odata.nextLink": f"{listing.base_url}?{urlencode(query, safe='$,')}"}, headers
    return body, headers


def _changed(item: dict[str, Any]) -> dict[str, Any]:
    if isinstance(item.get("@removed"), dict):
        return {**item, "@removed": {**item["@removed"], "reason": "changed"}}
    return item


def _pack_iso(start: str) -> str:
    """A `$skiptoken` for the start of a change round (no entry served yet)."""
    return _pack(parse_iso(start), None)


FLAVOURS: dict[str, Flavour] = {
    "graph": Flavour(
        "directory", "graph",
        "Microsoft Graph: $top ignored on delta queries, page size by Prefer: odata.maxpagesize, $select "
        "honoured (users otherwise the default property set) and carried in next/delta links, a change "
        "round opens with an empty page carrying a nextLink, removals with reason changed, timestamps "
        "to the second, gzip bodies",
        timestamps="iso_seconds", query=_graph_query, header_query=_graph_prefer, body=_graph_body, gzip=True,
    ),
}
