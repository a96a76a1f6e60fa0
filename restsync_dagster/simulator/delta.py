"""Graph-style delta queries: `<resource>/delta` serves every record once, then only what changed.

A round without `$deltatoken` lists every current record; a round with one lists the records
updated or inserted, and `{"id": ..., "@removed": {"reason": "deleted"}}` for those deleted, at or
after the token's moment. The last page links to the next round with a token for the moment this
round started, read under the resource's lock: a change committed before it has an earlier time,
one committed after it a later time, so each change is in one round or the next, never lost.

Pages are keyed on the last entry served (its number in a full round, its change time and id in a
change round), not on an offset: a record changed or deleted while a client pages shifts nothing, so
no other record is skipped; at worst one comes again in the next round (clients merge on the key).
The server keeps no state: the round's start and the key travel in the `$skiptoken`.
"""

from __future__ import annotations

import base64
import bisect
import json
from datetime import datetime
from typing import Any

from restsync_dagster.simulator.apis import Listing
from restsync_dagster.simulator.data import Change, ResourceData, iso, now, parse_iso

DELTA_APIS = frozenset({"directory"})  # Graph's `/delta`, paged the OData way
LATEST = "latest"  # `$deltatoken=latest`: start tracking from now without reading everything


class DeltaError(ValueError):
    """A `$deltatoken` or `$skiptoken` this server did not issue: answered 400 the Graph way."""


def graph_error(exc: DeltaError) -> dict[str, Any]:
    return {"error": {"code": "badRequest", "message": str(exc)}}


def delta_listing(data: ResourceData, query: dict[str, str], base_url: str, limit: int) -> Listing:
    """One page of a delta round: every record (no `$deltatoken`), or what changed since the token."""
    state = _unpack(query["$skiptoken"]) if query.get("$skiptoken") else {}
    start = _moment(state["start"], "$skiptoken") if state else _round_start(data)
    token = query.get("$deltatoken")
    if token is None:
        items, position, total, after = _full_page(data, state.get("after", 0), limit)
    else:
        since = start if token == LATEST else decode_token(token)
        items, position, total, after = _change_page(data, since, start, state.get("after"), limit)
    return Listing(items, position, limit, total, base_url, query, data.spec.name,
                   skiptoken=_pack(start, after), delta_token=encode_token(start))


def _round_start(data: ResourceData) -> datetime:
    """Now, read under the lock mutations hold: every committed change is older, every later one newer."""
    with data.lock:
        return now()


def _full_page(data: ResourceData, after: Any, limit: int) -> tuple[list[dict[str, Any]], int, int, Any]:
    """The current records numbered after `after`: the normal listing's order and pages."""
    if not isinstance(after, int) or isinstance(after, bool) or after < 0:
        raise DeltaError("The $skiptoken is malformed.")
    view = data.view()
    position = view.rank(after)
    numbers = view.slice(position, limit)
    rows = [record for record in (data.record(n) for n in numbers) if record is not None]
    return rows, position, len(view), numbers[-1] if numbers else after


def _change_page(data: ResourceData, since: datetime, start: datetime, after: Any, limit: int) -> tuple[list[dict[str, Any]], int, int, Any]:
    """The changes in [since, start) after the key `after` (change time, id)."""
    changes = data.changes(since, start)
    position = 0 if after is None else bisect.bisect_right([(c.moment, c.id) for c in changes], _key(after))
    page = changes[position : position + limit]
    key = [iso(page[-1].moment), page[-1].id] if page else after
    return [_entry(data, change) for change in page], position, len(changes), key


def _entry(data: ResourceData, change: Change) -> dict[str, Any]:
    if change.record is not None:
        return change.record
    return {"id": data.spec.id_format(change.number), "@removed": {"reason": "deleted"}}


def _key(after: Any) -> tuple[datetime, str]:
    if not (isinstance(after, list) and len(after) == 2 and isinstance(after[1], str)):
        raise DeltaError("The $skiptoken is malformed.")
    return _moment(after[0], "$skiptoken"), after[1]


# --- tokens: urlsafe base64, opaque to clients -------------------------------------------------------
def encode_token(moment: datetime) -> str:
    return _b64(f"d:{iso(moment)}")


def decode_token(token: str) -> datetime:
    text = _unb64(token, "$deltatoken")
    if not text.startswith("d:"):
        raise DeltaError("The $deltatoken is malformed.")
    return _moment(text[2:], "$deltatoken")


def _pack(start: datetime, after: Any) -> str:
    return _b64(json.dumps({"start": iso(start), "after": after}, separators=(",", ":")))


def _unpack(token: str) -> dict[str, Any]:
    try:
        state = json.loads(_unb64(token, "$skiptoken"))
    except json.JSONDecodeError:
        raise DeltaError("The $skiptoken is malformed.") from None
    if not isinstance(state, dict) or "start" not in state:
        raise DeltaError("The $skiptoken is malformed.")
    return state


def _moment(text: Any, name: str) -> datetime:
    if not isinstance(text, str):
        raise DeltaError(f"The {name} is malformed.")
    try:
        return parse_iso(text)
    except ValueError:
        raise DeltaError(f"The {name} is malformed.") from None


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _unb64(token: str, name: str) -> str:
    """Strictly: a token with characters outside the alphabet is not one of ours (never echoed back)."""
    try:
        return base64.b64decode(token + "=" * (-len(token) % 4), altchars=b"-_", validate=True).decode()
    except ValueError:  # binascii.Error and UnicodeDecodeError are ValueErrors
        raise DeltaError(f"The {name} is malformed.") from None
