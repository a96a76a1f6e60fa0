"""What a page of a listing says about the next one: every vendor's "no more pages", and where it put
the next cursor.

Vendors end a listing in many ways: an empty body (204, zero bytes), a "more" flag that is false or a
"last" flag that is true, at the top of the body or in an envelope (`meta`, `info`, `pagination`...);
they put a body cursor in as many places. These functions only read a body; the paginators
(`listing_guard`, `guarded_paginators`) decide what to do with what they find.
"""

from __future__ import annotations

from typing import Any, Optional

from requests import Response

# where APIs put their end-of-listing flags: the top of the body, or one of these envelopes
END_FLAG_ENVELOPES = ("", "meta", "info", "pagination", "paging", "page_info", "pageInfo", "response_metadata")
# flags whose boolean `false` ends a listing (Stripe, Zoho `info.more_records`, Slack, Box...)
MORE_FLAGS = ("has_more", "hasMore", "more", "more_records", "moreRecords", "has_more_items", "hasMoreItems",
              "has_next", "hasNext", "has_next_page", "hasNextPage")
# flags whose boolean `true` ends a listing (Jira `isLast`, Zendesk `end_of_stream`...)
LAST_FLAGS = ("is_last", "isLast", "is_last_page", "isLastPage", "last_page", "lastPage", "end_of_stream", "endOfStream")
# where APIs put the next cursor, looked at in this order when the configured cursor_path is absent
CURSOR_PLACES = (
    "next", "next_cursor", "nextCursor", "cursor", "next_page_token", "nextPageToken",
    "pagination.next", "pagination.next_cursor", "pagination.nextCursor", "pagination.cursor",
    "meta.next_cursor", "meta.nextCursor", "meta.next", "meta.cursor",
    "links.next", "paging.next", "paging.next.after", "paging.cursors.after",
    "pages.next", "pages.next.starting_after", "response_metadata.next_cursor",
)
# an object found at one of those places (Intercom `pages.next`, HubSpot `paging.next`): its cursor key
CURSOR_KEYS = ("starting_after", "after", "cursor", "next_cursor", "href")


def empty_body(response: Response) -> bool:
    """An empty success body (204/205, zero bytes): the session makes its json() None."""
    return bool(getattr(response, "restsync_empty", False)) or response.json() is None


def detected_end(body: Any) -> Optional[str]:
    """The usual end flag the body carries, as `path=value`, or None.

    Only a real boolean counts, at the top of the body or in a known envelope: a flag that merely
    exists, or a number (Laravel's `last_page: 3`), never ends a listing.
    """
    return _usual_flag(body, more=False)


def detected_more(body: Any) -> Optional[str]:
    """The usual flag saying more pages follow (`has_more: true`, `isLast: false`...), as `path=value`, or None."""
    return _usual_flag(body, more=True)


def _usual_flag(body: Any, more: bool) -> Optional[str]:
    """The first usual flag saying the listing goes on (`more`) or ends (not `more`), as `path=value`."""
    if not isinstance(body, dict):
        return None
    for envelope in END_FLAG_ENVELOPES:
        holder = body.get(envelope) if envelope else body
        if not isinstance(holder, dict):
            continue
        prefix = f"{envelope}." if envelope else ""
        for names, value in ((MORE_FLAGS, more), (LAST_FLAGS, not more)):
            for name in names:
                if holder.get(name) is value:
                    return f"{prefix}{name}={str(value).lower()}"
    return None


def _at(body: Any, dotted: str) -> Any:
    for key in dotted.split("."):
        if not isinstance(body, dict):
            return None
        body = body.get(key)
    return body


def _usable(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, (int, float)) or (isinstance(value, str) and bool(value.strip()))


def usual_cursor(body: Any) -> Optional[tuple[str, Any]]:
    """(where, value) of the first non-empty cursor at the usual places, or None.

    An object at a place is looked into for its cursor key (`pages.next.starting_after`).
    """
    for place in CURSOR_PLACES:
        value = _at(body, place)
        if isinstance(value, dict):
            for key in CURSOR_KEYS:
                if _usable(value.get(key)):
                    return f"{place}.{key}", value[key]
        elif _usable(value):
            return place, value
    return None


def as_bool(value: Any) -> Optional[bool]:
    """A configured "more" flag's value as a boolean (`"true"`, `0`, `"yes"`...), or None when it is none."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.strip().lower() in ("true", "1", "yes")
    if isinstance(value, int):
        return value != 0
    return None


def body_keys(body: Any) -> str:
    """The first keys of a body, for an error that says what the page held instead."""
    return ", ".join(f"'{key}'" for key in list(body)[:20]) if isinstance(body, dict) else type(body).__name__
