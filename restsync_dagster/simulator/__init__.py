"""A local simulator of the five APIs the shipped configs describe.

It serves each API's auth flows, pagination, parent/child paths, page caps, rate limits and faults
with deterministic data that can change over time, so the demo, the tests and the benchmarks run
offline against real HTTP. See README.md in this folder.
"""

from __future__ import annotations

import copy
import threading
from datetime import datetime, timedelta, timezone
from typing import Any, Optional, Union

from restsync_dagster.simulator.apis import parse_moment
from restsync_dagster.simulator.auth import DEFAULT_CREDENTIALS
from restsync_dagster.simulator.catalog import APIS, DEMO_EMAIL
from restsync_dagster.simulator.data import BASE_END, BASE_SPAN, EARLIEST, history_start
from restsync_dagster.simulator.delta import DELTA_APIS
from restsync_dagster.simulator.flavours import Flavour, flavour_names, flavours_for
from restsync_dagster.simulator.server import TOKEN_PATHS, make_server
from restsync_dagster.simulator.state import (
    FAULT_KINDS,
    PERSISTENT_FAULTS,
    SimulatorState,
    check_fault,
)
from restsync_dagster.simulator.store import Store

DEFAULT_PORT, DEFAULT_LOGIN_PORT = 8765, 8766
DEFAULT_SCOPE = "api://restsync-simulator/.default"
DEFAULT_HISTORY_DAYS = BASE_SPAN.days  # 730
Moment = Union[datetime, str]  # a datetime (naive: UTC) or an ISO 8601 / epoch text

__all__ = ["Simulator", "DEFAULT_CREDENTIALS", "DEFAULT_PORT", "DEFAULT_LOGIN_PORT", "flavour_names"]


class Simulator:
    """The five APIs on 127.0.0.1: `port` for the APIs, `login_port` for the directory's token host.

    `flavors` picks, per API, a real vendor's way of answering instead of the default one the shipped
    configs describe (`{"ticket_desk": "zoho"}`; `flavours.py` lists them).

    `history_days` is how far back the generated records' created/updated timestamps reach (730 by
    default; e.g. 1095 for three years): the history always ends at BASE_END (2025-12-31), so a longer
    one starts earlier; records stay generated on demand (a million cost no memory)."""

    def __init__(
        self,
        port: int = DEFAULT_PORT,
        login_port: int = DEFAULT_LOGIN_PORT,
        seed: int = 42,
        scale: float = 1.0,
        latency_ms: float = 0,
        counts: Optional[dict[str, int]] = None,
        credentials: Optional[dict[str, dict[str, str]]] = None,
        token_ttl_seconds: int = 3600,
        rate_limit_per_second: Optional[float] = None,
        host: str = "127.0.0.1",
        pad_bytes: int = 0,
        flavors: Optional[dict[str, str]] = None,
        history_days: float = DEFAULT_HISTORY_DAYS,
    ) -> None:
        if not history_days > 0:
            raise ValueError(f"history_days must be positive, not {history_days!r}")
        merged = copy.deepcopy(DEFAULT_CREDENTIALS)
        for api, values in (credentials or {}).items():
            merged[api].update(values)
        self.credentials = merged
        self.host = host
        self.store = Store(seed=seed, scale=scale, counts=counts, pad_bytes=pad_bytes, span=timedelta(days=history_days))
        self.flavours: dict[str, Flavour] = flavours_for(flavors, APIS)
        self.state = SimulatorState(self.store, merged, token_ttl_seconds, latency_ms, rate_limit_per_second, self.flavours)
        self._api_server = make_server(self.state, host, port, login_host=False)
        self._login_server = make_server(self.state, host, login_port, login_host=True)
        self._threads: list[threading.Thread] = []
        self._mutator: Optional[threading.Thread] = None
        self._stop = threading.Event()

    # --- lifecycle -------------------------------------------------------------------------------
    def start(self) -> "Simulator":
        for server in (self._api_server, self._login_server):
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stop.set()
        for server in (self._api_server, self._login_server):
            server.shutdown()
            server.server_close()

    def __enter__(self) -> "Simulator":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # --- addresses and settings ---------------------------------------------------------------------
    @property
    def port(self) -> int:
        return int(self._api_server.server_address[1])

    @property
    def login_port(self) -> int:
        return int(self._login_server.server_address[1])

    def base_url(self, api: str) -> str:
        return f"http://{self.host}:{self.port}/{api}"

    def token_url(self, api: str) -> Optional[str]:
        if api == "directory":
            return f"http://{self.host}:{self.login_port}/oauth2/token"
        path = TOKEN_PATHS.get(api)
        return f"{self.base_url(api)}{path}" if path else None

    def env(self) -> dict[str, str]:
        """SOURCES__<API>__... variables that point the shipped configs at this simulator."""
        env = {f"SOURCES__{api.upper()}__BASE_URL": self.base_url(api) for api in APIS}
        for api in ("shared_inbox", "directory", "ticket_desk"):
            env[f"SOURCES__{api.upper()}__TOKEN_URL"] = str(self.token_url(api))
        env["SOURCES__TICKET_DESK__TOKEN_REFRESH_ENDPOINT"] = str(self.token_url("ticket_desk"))
        for api, values in self.credentials.items():
            for name, value in values.items():
                env[f"SOURCES__{api.upper()}__{name.upper()}"] = value
        env["SOURCES__DIRECTORY__SCOPE"] = DEFAULT_SCOPE
        env["SOURCES__MESSAGING__EMAIL"] = DEMO_EMAIL
        return env

    # --- data ----------------------------------------------------------------------------------------
    def flavor(self, api: str) -> str:
        """The name of the flavour `api` answers in (`default` unless chosen)."""
        return self.flavours[api].name

    def records(self, api: str, resource: str) -> list[dict[str, Any]]:
        """Every record of a resource as the API serves it now, in its flavour (e.g. epoch ms timestamps);
        where the vendor's listing leaves records out, those its complete listing shows (Flavour.complete)."""
        flavour, spec = self.flavours[api], self.store.resource(api, resource).spec
        return [flavour.record(spec, r) for r in flavour.listed(spec, self.store.records(api, resource))]

    @property
    def history(self) -> tuple[datetime, datetime]:
        """The first and last generated updated timestamps' bounds: [start, end) of the base history."""
        return history_start(self.store.span), BASE_END

    def records_between(self, api: str, resource: str, start: Optional[Moment], end: Optional[Moment]) -> list[dict[str, Any]]:
        """The records of a top-level resource, as served now in its flavour, whose updated timestamp is
        in [start, end) (start inclusive, end exclusive; None: open), oldest updated first: what a
        window request of every range filter returns (where the listing hides records, those of its
        complete listing, as `records`). Reads only the window (two binary searches), so a million-record
        resource answers a window quickly; updated and inserted records count with their new timestamp."""
        flavour, data = self.flavours[api], self.store.resource(api, resource)
        if data.spec.parent is not None:
            raise ValueError(f"{api}.{resource} is a child resource: it has no updated window")
        since, until = (_moment(m) for m in (start, end))
        view = data.view(since=since or EARLIEST, until=until)
        rows = [r for r in (data.record(n) for n in view.slice(0, len(view))) if r is not None]
        return [flavour.record(data.spec, r) for r in flavour.listed(data.spec, rows)]

    def children_by_parent(self, api: str, resource: str) -> dict[Any, list[dict[str, Any]]]:
        """Child records per parent id, as served in the API's flavour."""
        flavour, spec = self.flavours[api], self.store.resource(api, resource).spec
        return {parent: [flavour.record(spec, r) for r in rows] for parent, rows in self.store.children_by_parent(api, resource).items()}

    def mutate(self, api: str, resource: str, updates: int = 0, inserts: int = 0, deletes: int = 0) -> dict[str, list[Any]]:
        return self.store.mutate(api, resource, updates, inserts, deletes)

    def mutate_all(self, fraction: float = 0.01) -> None:
        """One round of the demo's movement: update `fraction` of every top-level resource and
        insert half as many, add a child to every child resource, and delete a few records of the
        APIs whose delta queries report deletions. (A deletion elsewhere stays in the tables until
        a full refresh, so those tables would no longer equal the data after each run.)"""
        for (api, name), data in self.store.data.items():
            if data.spec.parent is None and data.count > 1:
                size = max(1, int(len(data.view()) * fraction))
                deletes = max(1, size // 4) if api in DELTA_APIS else 0
                self.store.mutate(api, name, updates=size, inserts=max(1, size // 2), deletes=deletes)
            elif data.spec.parent is not None and not data.spec.members_of:
                self.store.mutate(api, name, inserts=1)

    def start_mutator(self, every_seconds: float, fraction: float = 0.01) -> None:
        """`mutate_all` every `every_seconds`, so a demo shows movement."""

        def loop() -> None:
            while not self._stop.wait(every_seconds):
                self.mutate_all(fraction)

        self._mutator = threading.Thread(target=loop, daemon=True, name="simulator-mutator")
        self._mutator.start()

    # --- request log and faults ---------------------------------------------------------------------------
    @property
    def request_log(self) -> list[dict[str, Any]]:
        with self.state.log_lock:
            return list(self.state.request_log)

    def clear_request_log(self) -> None:
        with self.state.log_lock:
            self.state.request_log.clear()

    def inject_fault(self, api: str, kind: str, resource: Optional[str] = None, count: Optional[int] = None, **params: Any) -> int:
        """Make the next `count` matching requests misbehave (see docs/faults.md for every kind).

        `count=-1` lasts until cleared; schema drift and page caps last by default, the rest
        happen once. `after=N` lets N matching requests through first.
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(sorted(FAULT_KINDS))}")
        if count is None:
            count = -1 if kind in PERSISTENT_FAULTS else 1
        check_fault(kind, params)
        return self.state.add_fault(api, kind, resource, count, params)

    def clear_faults(self) -> None:
        with self.state.fault_lock:
            self.state.faults.clear()

    def fail_window(self, api: str, resource: Optional[str], since: Moment, status: Optional[int] = None, count: int = -1, **params: Any) -> int:
        """`window_fail` for short: the requests whose window holds `since` answer `status` (500 by
        default; until cleared unless `count`); `seconds=N` makes them hang N seconds, then be served
        (or answer `status` when it is given too). `match="start"`: only windows starting at `since`."""
        instant = _moment(since)
        params = {"since": instant.isoformat() if instant else since, **params}
        if status is not None:
            params["status"] = status
        return self.inject_fault(api, "window_fail", resource, count=count, **params)

    @property
    def tokens_issued(self) -> int:
        return self.state.tokens.issued


def _moment(value: Optional[Moment]) -> Optional[datetime]:
    if value is None or isinstance(value, datetime):
        return value if value is None or value.tzinfo else value.replace(tzinfo=timezone.utc)
    return parse_moment(value)
