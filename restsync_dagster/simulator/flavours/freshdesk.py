"""service_desk as Freshdesk answers (API v2), and as a camelCase desk would.

Freshdesk, as docs/vendors.md section 2 sources it (Airbyte's source-freshdesk manifest [A], Freshworks'
own controller tests, doc mirrors):
- lists are bare JSON arrays (no `data` envelope: [A] `field_path: []`); `/settings/helpdesk` is one bare
  object with no `id` (primary_language, supported_languages, portal_languages: [A] schema `settings`);
- a query parameter the endpoint does not know answers 400 `invalid_field` ("Unexpected/invalid field in
  request"): contacts have no `order_by`/`order_type`, so a sort there is refused, not ignored;
  `per_page` is at most 100;
- tickets: without `updated_since` only tickets created in the last 30 days are listed; past page 300
  the answer is 400 ("You cannot access tickets beyond the 300th page");
- no upper bound on tickets or contacts: `updated_before` / `_updated_before` (the default flavour's
  window ends) are unknown fields, so 400 `invalid_field` like any other;
- contacts: blocked and deleted contacts are left out unless `state=` asks for them;
- satisfaction ratings: `created_since`; without it only the last 30 days.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Mapping, Optional

from restsync_dagster.simulator.apis import Listing
from restsync_dagster.simulator.data import now, parse_iso
from restsync_dagster.simulator.flavours.base import Flavour

PAGING = frozenset({"page", "per_page"})
# the query parameters each list endpoint knows (docs/vendors.md section 2, "Simulator, needed")
KNOWN_PARAMS: dict[str, frozenset[str]] = {
    "tickets": PAGING | {"updated_since", "order_by", "order_type", "include", "filter", "requester_id", "email", "company_id"},
    "contacts": PAGING | {"_updated_since", "updated_since", "state", "email", "mobile", "phone", "company_id"},
    "satisfaction_ratings": PAGING | {"created_since", "created_before", "user_id"},
}
TICKET_PAGE_CAP = 300
DEFAULT_WINDOW = timedelta(days=30)  # tickets without updated_since, ratings without created_since
CONTACT_STATES = ("blocked", "deleted", "unverified", "verified")
SETTINGS_LANGUAGES = {"primary_language": "en", "supported_languages": ["de", "fr", "es"], "portal_languages": ["en", "de"]}
# what each hiding listing shows when asked for everything its table holds: every ticket changed since
# long ago, every rating created since long ago; contacts as listed (blocked and deleted ones need their
# own `state=` listing, as Airbyte's contacts stream leaves them out too)
COMPLETE = {"tickets": {"updated_since": "2000-01-01T00:00:00Z"}, "satisfaction_ratings": {"created_since": "2000-01-01T00:00:00Z"}}


def _invalid(field: str, message: str, code: str) -> tuple[int, Any]:
    return 400, {"description": "Validation failed", "errors": [{"field": field, "message": message, "code": code}]}


def _freshdesk_refuse(resource: str, query: dict[str, str], headers: Mapping[str, str]) -> Optional[tuple[int, Any]]:
    """Freshdesk validates the query before it lists: an unknown field, a page size past 100, a ticket
    page past 300 are each a 400 with its `errors` list."""
    known = KNOWN_PARAMS.get(resource, PAGING)
    for name in query:
        if name not in known:
            return _invalid(name, "Unexpected/invalid field in request", "invalid_field")
    size = query.get("per_page")
    if size is not None and not (size.isdigit() and 1 <= int(size) <= 100):
        return _invalid("per_page", "It should be a/an Positive Integer less than or equal to 100", "invalid_value")
    page = query.get("page")
    if page is not None and not (page.isdigit() and int(page) >= 1):
        return _invalid("page", "It should be a/an Positive Integer", "invalid_value")
    if resource == "tickets" and page is not None and int(page) > TICKET_PAGE_CAP:
        return _invalid("page", "You cannot access tickets beyond the 300th page. Please provide a smaller page number.", "invalid_value")
    return None


def _freshdesk_query(resource: str, query: dict[str, str], delta: bool) -> dict[str, str]:
    """Contacts take `updated_since` as well as `_updated_since` (the name Airbyte sends)."""
    if resource == "contacts" and "updated_since" in query and "_updated_since" not in query:
        read = dict(query)
        read["_updated_since"] = read.pop("updated_since")
        return read
    return query


def contact_state(record: Mapping[str, Any]) -> str:
    """A contact's state, fixed by its id: every tenth blocked, another tenth deleted."""
    number = int(record["id"]) if str(record.get("id", "")).isdigit() else 0
    if number % 10 == 4:
        return "blocked"
    if number % 10 == 9:
        return "deleted"
    return "verified" if record.get("active") else "unverified"


def _freshdesk_reshape(resource: str, record: dict[str, Any]) -> dict[str, Any]:
    if resource == "settings":  # one object, no id (the stored one's name and timestamps are not Freshdesk's)
        return {key: (list(value) if isinstance(value, list) else value) for key, value in SETTINGS_LANGUAGES.items()}
    if resource == "contacts":
        state = contact_state(record)
        record["state"], record["deleted"] = state, state == "deleted"
    return record


def _before(text: Any, moment: Any) -> bool:
    return isinstance(text, str) and parse_iso(text) < moment


def _freshdesk_hide(resource: str, record: dict[str, Any], query: Mapping[str, str]) -> bool:
    if resource == "contacts":
        state = record.get("state")
        asked = query.get("state")
        return state != asked if asked else state in ("blocked", "deleted")
    if resource == "tickets":  # updated_since itself is applied by the listing; without it, a 30-day window
        return "updated_since" not in query and _before(record.get("created_at"), now() - DEFAULT_WINDOW)
    if resource == "satisfaction_ratings":
        since = query.get("created_since")
        start = parse_iso(since) if since else now() - DEFAULT_WINDOW
        until = query.get("created_before")
        return _before(record.get("created_at"), start) or (until is not None and not _before(record.get("created_at"), parse_iso(until)))
    return False


def _freshdesk_may_hide(resource: str, query: Mapping[str, str]) -> bool:
    """Tickets listed with `updated_since` hide nothing (the 30-day window is only the default)."""
    return not (resource == "tickets" and "updated_since" in query)


def _freshdesk_body(listing: Listing, body: Any, headers: dict[str, str]) -> tuple[Any, dict[str, str]]:
    """Bare arrays (settings: the bare object); the `Link: rel="next"` header on tickets too (the
    config pages them by number)."""
    if isinstance(body, dict) and set(body) == {"data"}:
        body = body["data"]
    if listing.resource == "tickets" and listing.has_more and "Link" not in headers:
        number = listing.offset // listing.limit + 1
        query = "&".join(f"{k}={v}" for k, v in {**listing.query, "page": str(number + 1)}.items())
        headers = {**headers, "Link": f'<{listing.base_url}?{query}>; rel="next"'}
    return body, headers


FLAVOURS: dict[str, Flavour] = {
    "freshdesk": Flavour(
        "service_desk", "freshdesk",
        "Freshdesk: bare arrays (settings a bare object without id), 400 invalid_field for a parameter an "
        "endpoint does not know (no order_by on contacts), tickets past page 300 refused, a 30-day default "
        "window on tickets and ratings, blocked and deleted contacts hidden, timestamps to the second, a Link "
        "header on tickets too",
        timestamps="iso_seconds", query=_freshdesk_query, body=_freshdesk_body, refuse=_freshdesk_refuse,
        hide=_freshdesk_hide, hides=frozenset({"contacts", "tickets", "satisfaction_ratings"}), complete=COMPLETE,
        may_hide=_freshdesk_may_hide,
        reshape=_freshdesk_reshape,
    ),
    "camelcase": Flavour(
        "service_desk", "camelcase",
        "a desk answering camelCase (updatedAt, createdAt where the config says updated_at), ignoring order_by",
        renames={"updated_at": "updatedAt", "created_at": "createdAt"}, ignored=frozenset({"order_by", "order_type"}),
    ),
}
