"""What the simulator's request handlers share: the data, the faults to inject, rate limits, the request log.

Apart from the handler (server.py) so that each reads in one sitting: this is the state and the
fault bookkeeping (which kinds exist, which last, how one is checked, matched and counted down).
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Optional

from restsync_dagster.simulator.apis import TICKET_SEARCH, parse_moment
from restsync_dagster.simulator.auth import TokenIssuer
from restsync_dagster.simulator.catalog import APIS
from restsync_dagster.simulator.delta import DELTA_APIS
from restsync_dagster.simulator.flavours import Flavour, flavours_for
from restsync_dagster.simulator.store import Store

# search endpoints beside a listing, serving its records in a bounded window (Zoho Desk's
# /tickets/search?modifiedTimeRange=): (api, resource) -> the filter name the styles and flavours read
SEARCH_ROUTES = {("ticket_desk", "tickets"): TICKET_SEARCH}
SCHEMA_FAULTS = {"schema_add_field", "schema_remove_field", "schema_change_type"}
# faults that describe how a server behaves, not one incident: they last until cleared unless a count is given
PERSISTENT_FAULTS = SCHEMA_FAULTS | {"page_cap"}
PRE_FAULTS = {"status", "slow", "drop", "expire_token"}
BODY_FAULTS = {"malformed_json", "truncated_json", "html_200"}
PAGE_FAULTS = {
    "empty_page", "duplicate_record", "next_other_host", "next_userinfo", "next_loop", "empty_page_with_next", "hostile_id",
}
CAP_FAULTS = {"page_cap"}
TOKEN_FAULTS = {"token_endpoint_error"}
WINDOW_FAULTS = {"window_fail"}  # a request whose updated-time window holds (or starts at) an instant
FAULT_KINDS = frozenset(PRE_FAULTS | BODY_FAULTS | PAGE_FAULTS | CAP_FAULTS | SCHEMA_FAULTS | TOKEN_FAULTS | WINDOW_FAULTS)
LIMIT_PARAMS = ("limit", "per_page", "$top")


@dataclass
class Fault:
    id: int
    api: str
    kind: str
    resource: Optional[str]
    remaining: int
    params: dict[str, Any] = field(default_factory=dict)
    skip: int = 0  # matching requests to let through first (`after=N`): a fault in the middle of a run


class RateLimiter:
    """Token bucket per API: `rate` requests per second, bursts up to `rate`."""

    def __init__(self, rate: Optional[float]) -> None:
        self.rate = rate
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def allow(self, api: str) -> bool:
        if not self.rate:
            return True
        with self._lock:
            tokens, stamp = self._buckets.get(api, (self.rate, time.monotonic()))
            current = time.monotonic()
            tokens = min(self.rate, tokens + (current - stamp) * self.rate)
            allowed = tokens >= 1
            self._buckets[api] = (tokens - 1 if allowed else tokens, current)
            return allowed


class SimulatorState:
    """Everything the handlers share: data, credentials, tokens, faults, limits, the request log."""

    def __init__(
        self, store: Store, credentials: dict[str, dict[str, str]], token_ttl: int, latency_ms: float, rate_limit: Optional[float],
        flavours: Optional[dict[str, Flavour]] = None,
    ) -> None:
        self.store = store
        self.flavours = flavours or flavours_for(None, APIS)  # how each API answers: its default or a vendor's manner
        self.credentials = credentials
        self.tokens = TokenIssuer(token_ttl)
        self.latency = latency_ms / 1000.0
        self.limiter = RateLimiter(rate_limit)
        self.faults: list[Fault] = []
        self.fault_lock = threading.Lock()
        self.next_fault_id = 1
        self.request_log: list[dict[str, Any]] = []
        self.log_lock = threading.Lock()
        self.routes = self._routes()

    def _routes(self) -> dict[str, list[tuple[re.Pattern[str], str, str]]]:
        """(path pattern, resource, kind) per API: each listing ("list"), `<path>/delta` where the API
        has Graph-style delta queries (top-level resources only, as in Graph), `<path>/search` where it
        has a bounded search (SEARCH_ROUTES)."""
        routes: dict[str, list[tuple[re.Pattern[str], str, str]]] = {api: [] for api in APIS}
        for (api, name), data in self.store.data.items():
            pattern = re.escape(data.spec.path).replace(r"\{id\}", "(?P<parent>[^/]+)")
            routes[api].append((re.compile(f"^{pattern}/?$"), name, "list"))
            if api in DELTA_APIS and data.spec.parent is None:
                routes[api].append((re.compile(f"^{pattern}/delta/?$"), name, "delta"))
            if (api, name) in SEARCH_ROUTES:
                routes[api].append((re.compile(f"^{pattern}/search/?$"), name, "search"))
        return routes

    def add_fault(self, api: str, kind: str, resource: Optional[str], count: int, params: dict[str, Any]) -> int:
        with self.fault_lock:
            fault = Fault(self.next_fault_id, api, kind, resource, count, params, skip=int(params.get("after", 0)))
            self.next_fault_id += 1
            self.faults.append(fault)
            return fault.id

    def take_fault(self, api: str, resource: Optional[str], kinds: set[str], match: Optional[Callable[[Fault], bool]] = None) -> Optional[Fault]:
        """The first live fault of `kinds` for this request (and `match`, when given), counted down."""
        with self.fault_lock:
            for fault in self.faults:
                if (fault.api == api and fault.kind in kinds and fault.remaining != 0 and fault.resource in (None, resource)
                        and (match is None or match(fault))):
                    if fault.skip > 0:
                        fault.skip -= 1
                        continue
                    if fault.remaining > 0:
                        fault.remaining -= 1
                    return fault
        return None

    def log(self, entry: dict[str, Any]) -> None:
        with self.log_lock:
            self.request_log.append(entry)


def check_fault(kind: str, params: dict[str, Any]) -> None:
    """Refuse a fault whose parameters cannot work (ValueError), before it is added."""
    if kind in WINDOW_FAULTS:
        raw = str(params.get("since") or params.get("at") or "")
        if not raw:
            raise ValueError("window_fail needs since=<instant> (ISO 8601 or epoch): the window it hits holds it")
        parse_moment(raw)
        if params.get("match", "covers") not in ("covers", "start"):
            raise ValueError(f"window_fail match={params['match']!r}: expected covers or start")
        for name in ("status", "seconds"):
            if params.get(name) is not None:
                float(params[name])


def window_hits(fault: Fault, since: Optional[datetime], until: Optional[datetime]) -> bool:
    """Whether a request's window [since, until) is the fault's: it holds the instant `since`
    (`match=covers`, the default; an open end reaches all the way) or starts there (`match=start`)."""
    instant = parse_moment(str(fault.params.get("since") or fault.params.get("at") or ""))
    if fault.params.get("match", "covers") == "start":
        return since == instant
    return (since is None or since <= instant) and (until is None or instant < until)


def capped(query: dict[str, str], cap: int, default_param: str) -> dict[str, str]:
    """The query as a server that serves at most `cap` records per page reads it."""
    capped = dict(query)
    present = [name for name in LIMIT_PARAMS if name in capped]
    for name in present or [default_param]:
        try:
            asked = int(capped.get(name, cap))
        except ValueError:
            asked = cap
        capped[name] = str(min(asked, cap))
    return capped
