"""messaging as Drift answers, and as Intercom would."""

from __future__ import annotations

from typing import Any

from restsync_dagster.simulator.apis import Listing
from restsync_dagster.simulator.flavours.base import Flavour


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


FLAVOURS: dict[str, Flavour] = {
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
}
