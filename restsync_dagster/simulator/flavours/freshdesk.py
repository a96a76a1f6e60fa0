"""service_desk as Freshdesk answers (API v2), and as a camelCase desk would."""

from __future__ import annotations

from typing import Any

from restsync_dagster.simulator.apis import Listing
from restsync_dagster.simulator.flavours.base import Flavour


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


FLAVOURS: dict[str, Flavour] = {
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
}
