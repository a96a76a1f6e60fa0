"""A local simulator of the five APIs the shipped configs describe.

It serves each API's auth flows, pagination, parent/child paths, page caps, rate limits and faults
with deterministic data that can change over time, so the demo, the tests and the benchmarks run
offline against real HTTP. See README.md in this folder.
"""

from __future__ import annotations

import copy
import threading
from typing import Any, Optional

from restsync_dagster.simulator.auth import DEFAULT_CREDENTIALS
from restsync_dagster.simulator.catalog import APIS, DEMO_EMAIL
from restsync_dagster.simulator.delta import DELTA_APIS
from restsync_dagster.simulator.flavours import Flavour, flavour_names, flavours_for
from restsync_dagster.simulator.server import FAULT_KINDS, PERSISTENT_FAULTS, TOKEN_PATHS, SimulatorState, make_server
from restsync_dagster.simulator.store import Store

DEFAULT_PORT, DEFAULT_LOGIN_PORT = 8765, 8766
DEFAULT_SCOPE = "api://restsync-simulator/.default"

__all__ = ["Simulator", "DEFAULT_CREDENTIALS", "DEFAULT_PORT", "DEFAULT_LOGIN_PORT", "flavour_names"]


class Simulator:
    """The five APIs on 127.0.0.1: `port` for the APIs, `login_port` for the directory's token host.

    `flavors` picks, per API, a real vendor's way of answering instead of the default one the shipped
    configs describe (`{"ticket_desk": "zoho"}`; `flavours.py` lists them)."""

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
    ) -> None:
        merged = copy.deepcopy(DEFAULT_CREDENTIALS)
        for api, values in (credentials or {}).items():
            merged[api].update(values)
        self.credentials = merged
        self.host = host
        self.store = Store(seed=seed, scale=scale, counts=counts, pad_bytes=pad_bytes)
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
        return self.state.add_fault(api, kind, resource, count, params)

    def clear_faults(self) -> None:
        with self.state.fault_lock:
            self.state.faults.clear()

    @property
    def tokens_issued(self) -> int:
        return self.state.tokens.issued
