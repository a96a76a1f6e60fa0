"""ticket_desk as Zoho Desk answers."""

from __future__ import annotations

from restsync_dagster.simulator.apis import TICKET_SEARCH
from restsync_dagster.simulator.flavours.base import Flavour

ORGANIZATIONS_MAX = 100  # the simulator's page cap: a portal has a handful of organizations
ZOHO_SORTS = ("dueDate", "recentThread", "createdTime", "ticketNumber")
SEARCH_SORTS = ("modifiedTime", "createdTime", "relevance")  # /tickets/search sorts by modifiedTime too


def _zoho_query(resource: str, query: dict[str, str], delta: bool) -> dict[str, str]:
    """Zoho Desk pages with `from` (1-based index) and `limit`: an `offset` means nothing to it; it
    sorts only by its own keys (not `modifiedTime`). `/organizations` is not paged at all: every
    organization in one answer, `from`/`limit` meaning nothing ([A] source-zoho-desk: organizations
    has no paginator). `/tickets/search` (the bounded listing, `modifiedTimeRange=<from>,<to>`) pages
    the same way and sorts by `modifiedTime` (`-modifiedTime` newest first)."""
    if resource == "organizations":
        read = {k: v for k, v in query.items() if k not in ("offset", "from", "limit")}
        return {**read, "offset": "0", "limit": str(ORGANIZATIONS_MAX)}
    read = {k: v for k, v in query.items() if k not in ("offset", "from")}
    start = query.get("from", "1")
    read["offset"] = str(max(0, (int(start) if start.lstrip("-").isdigit() else 1) - 1))
    if read.get("sortBy", "").lstrip("-") not in (SEARCH_SORTS if resource == TICKET_SEARCH else ZOHO_SORTS):
        read.pop("sortBy", None)
    return read


FLAVOURS: dict[str, Flavour] = {
    "zoho": Flavour(
        "ticket_desk", "zoho",
        "Zoho Desk: from (1-based) + limit instead of offset, 204 No Content past the last record, "
        "no modifiedAfter/modifiedBefore filter on /tickets (its bounded listing is /tickets/search?"
        "modifiedTimeRange=<from>,<to>, sortBy=modifiedTime), no sortBy=modifiedTime on /tickets, timestamps "
        "to the millisecond, /organizations unpaged; Authorization Zoho-oauthtoken or Bearer; orgId header not "
        "required (single organization)",
        timestamps="iso_millis", ignored=frozenset({"modifiedAfter", "modifiedBefore"}), query=_zoho_query, empty_status=204,
    ),
}
