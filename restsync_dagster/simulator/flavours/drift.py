"""messaging as Drift answers, and as Intercom would."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode, urlsplit

from restsync_dagster.simulator.apis import Listing, _encode
from restsync_dagster.simulator.flavours.base import Flavour

ACCOUNT_PAGE, ACCOUNT_PAGE_MAX = 10, 65  # accounts `size`: "default=10, max=65" (Drift list-accounts parameters, [3p] api-evangelist/drift)
CONVERSATION_PAGE, CONVERSATION_PAGE_MAX = 25, 50  # conversations `limit`: default 25, max 50 (devdocs listing-conversations)


def _number(text: Any, default: int) -> int:
    return int(text) if isinstance(text, str) and text.isdigit() else default


def _drift_query(resource: str, query: dict[str, str], delta: bool) -> dict[str, str]:
    """Accounts page by `index` (0-based) and `size` (default 10, max 65): `limit`/`next` mean nothing
    there. The rest take `limit` (default 25, max 50) and the `next` cursor; conversations come newest
    updated first whatever was asked (there is no sort parameter)."""
    if resource == "accounts":
        read = {k: v for k, v in query.items() if k not in ("limit", "next", "index", "size", "order")}
        index = _number(query.get("index"), 0)
        if index:
            read["next"] = _encode(index)
        read["limit"] = str(max(1, min(_number(query.get("size"), ACCOUNT_PAGE), ACCOUNT_PAGE_MAX)))
        return read
    read = {k: v for k, v in query.items() if k != "order"}
    if resource == "conversations":
        read["order"] = "desc"
    read["limit"] = str(max(1, min(_number(read.get("limit"), CONVERSATION_PAGE), CONVERSATION_PAGE_MAX)))
    return read


def _drift_body(listing: Listing, body: Any, headers: dict[str, str]) -> tuple[Any, dict[str, str]]:
    """Drift's cursor sits at `pagination.next`, with `pagination.more`; no pagination on the last page.
    Accounts answer `{"data": {"total", "next", "accounts"}}`, `data.next` a path (no host) with the
    next `index` and the same `size`, absent on the last page ([3p] natehoffy/Drift-Code citrix_accounts.py)."""
    if not (isinstance(body, dict) and "next" in body):
        return body, headers
    body = dict(body)
    following = body.pop("next")
    if listing.resource == "accounts":
        data = {"total": listing.total, **(body.get("data") or {})}
        if following is not None:
            index = listing.offset if listing.next_url is not None else listing.offset + listing.limit  # next_loop: this page again
            data["next"] = f"{urlsplit(listing.base_url).path}?{urlencode({'index': index, 'size': listing.limit})}"
        return {"data": data}, headers
    if following is not None:
        body["pagination"] = {"more": True, "next": following}
    return body, headers


def _drift_record(resource: str, record: dict[str, Any]) -> dict[str, Any]:
    """An account has no `id`: `accountId` is its key; its times are `createDateTime`/`updateDateTime`
    (epoch ms) (devdocs.drift.com/docs/account-model)."""
    if resource != "accounts":
        return record
    served = {k: v for k, v in record.items() if k != "id"}
    for old, new in (("createdAt", "createDateTime"), ("updatedAt", "updateDateTime")):
        if old in served:
            served[new] = served.pop(old)
    return served


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
        "Drift: epoch milliseconds, cursor at pagination.next with pagination.more, conversations newest "
        "updated first, no updated_after filter, 50 per page at most; accounts without id (accountId), "
        "createDateTime/updateDateTime, paged by index/size (max 65) with data.next (a path) and data.total",
        timestamps="epoch_ms", ignored=frozenset({"updated_after", "updated_before"}), query=_drift_query, body=_drift_body,
        reshape=_drift_record,
    ),
    "intercom": Flavour(
        "messaging", "intercom",
        "Intercom: epoch seconds in snake_case (updated_at where the config says updatedAt), cursor at "
        "pages.next.starting_after, per_page (default 20), no updated_after filter nor order",
        timestamps="epoch_s", renames={"updatedAt": "updated_at", "createdAt": "created_at"},
        ignored=frozenset({"updated_after", "updated_before", "order"}), query=_intercom_query, body=_intercom_body,
    ),
}
