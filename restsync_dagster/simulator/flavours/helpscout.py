"""shared_inbox as Help Scout answers (Mailbox API 2.0).

As docs/vendors.md section 1 sources it (developer.helpscout.com [D], Airbyte's source-help-scout [A]):
- page sizes are fixed: 25 conversations a page, 50 for every other list; there is no size parameter,
  so `limit` is read as if absent (overview/pagination);
- conversations list only active ones unless `status=all` (or another status) is asked; each carries
  its `status` (active, pending, closed) and `userUpdatedAt`, no `updatedAt`; `modifiedSince` filters
  on that change time (conversations/list, [A] cursor_field userUpdatedAt); a bounded window is the
  search form `query=(modifiedAt:[<from> TO <to>])` (`*` an open end), there is no `modifiedBefore`;
- `sortField` takes `modifiedAt` (and createdAt, number, ...), never `updatedAt`;
- workflows carry `modifiedAt`, threads only `createdAt` ([A] schemas);
- HAL bodies with `_links.next.href` and `page.totalPages`, gzip.
"""

from __future__ import annotations

from typing import Any, Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from restsync_dagster.simulator.apis import Listing
from restsync_dagster.simulator.flavours.base import Flavour

PAGE_SIZES = {"conversations": 25}  # every other list: 50
DEFAULT_PAGE_SIZE = 50
# the stored status (a generic ticket's) as Help Scout names it; an edit suffix is dropped
STATUSES = {"open": "active", "pending": "pending", "resolved": "closed", "closed": "closed"}
LISTED_BY_DEFAULT = "active"


def _helpscout_query(resource: str, query: dict[str, str], delta: bool) -> dict[str, str]:
    """Help Scout sorts by `modifiedAt` (not `updatedAt`); any other sortField is not one of its own.
    Its pages hold 25 conversations or 50 of anything else, whatever `limit` says."""
    read = dict(query)
    if read.get("sortField") == "modifiedAt":
        read["sortField"] = "updatedAt"
    elif "sortField" in read:
        read.pop("sortField")
        read.pop("sortOrder", None)
    read["limit"] = str(PAGE_SIZES.get(resource, DEFAULT_PAGE_SIZE))
    return read


def conversation_status(stored: Any) -> str:
    return STATUSES.get(str(stored).split(" [edited")[0], "active")


def _helpscout_reshape(resource: str, record: dict[str, Any]) -> dict[str, Any]:
    if resource == "conversations":
        record["status"] = conversation_status(record.get("status"))
        if "updatedAt" in record:
            record["userUpdatedAt"] = record.pop("updatedAt")
    elif resource == "workflows" and "updatedAt" in record:
        record["modifiedAt"] = record.pop("updatedAt")
    elif resource == "conversation_threads":
        record.pop("updatedAt", None)
    return record


def _helpscout_hide(resource: str, record: dict[str, Any], query: Mapping[str, str]) -> bool:
    """Conversations: only the active ones unless `status` names another (or `all`)."""
    asked = query.get("status") or LISTED_BY_DEFAULT
    if asked == "open":
        asked = "active"
    return asked != "all" and record.get("status") != asked


def _without_limit(href: str) -> str:
    parts = urlsplit(href)
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "limit"], safe="$")
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def _helpscout_body(listing: Listing, body: Any, headers: dict[str, str]) -> tuple[Any, dict[str, str]]:
    """Page links carry the query as sent, `page` and no size (Help Scout has none)."""
    links = body.get("_links") if isinstance(body, dict) else None
    if isinstance(links, dict):
        body = {**body, "_links": {rel: ({**link, "href": _without_limit(link["href"])} if isinstance(link, dict) and "href" in link else link)
                                   for rel, link in links.items()}}
    return body, headers


FLAVOURS: dict[str, Flavour] = {
    "helpscout": Flavour(
        "shared_inbox", "helpscout",
        "Help Scout: fixed pages (25 conversations, 50 elsewhere; limit ignored), only active conversations "
        "unless status=all, userUpdatedAt on conversations and modifiedAt on workflows instead of updatedAt, "
        "sortField=modifiedAt (updatedAt unknown), timestamps to the second, gzip bodies; windows by "
        "query=(modifiedAt:[from TO to]), modifiedBefore unknown (ignored)",
        timestamps="iso_seconds", ignored=frozenset({"modifiedBefore"}), query=_helpscout_query, gzip=True, body=_helpscout_body,
        reshape=_helpscout_reshape, hide=_helpscout_hide, hides=frozenset({"conversations"}),
        complete={"conversations": {"status": "all"}},
    ),
}
