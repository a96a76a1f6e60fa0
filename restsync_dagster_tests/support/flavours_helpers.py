"""The flavour matrix: every shipped API against every flavour of its simulated API, small enough to
run in minutes, with the faults a real vendor throws mid-run."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator

import pytest

from restsync_dagster.config.model import ApiConfig
from restsync_dagster.simulator import Simulator, flavour_names
from restsync_dagster_tests.conftest import API_NAMES
from restsync_dagster_tests.support.expected import expected_keys, loaded_keys

# (api, flavour) for every flavour the simulator ships, the default included
FLAVOURED = [(api, name) for api in API_NAMES for name in flavour_names(api)]
FLAVOUR_IDS = [f"{api}:{name}" for api, name in FLAVOURED]

# a few pages of each API's main listings (at the configs' page sizes), the rest kept tiny
SCALE = 0.02
COUNTS = {
    "shared_inbox.conversations": 120, "shared_inbox.customers": 110,   # 50 a page
    "service_desk.tickets": 210, "service_desk.contacts": 150,          # 100 a page
    "directory.users": 150, "directory.groups": 30,                     # 100 a page
    "messaging.conversations": 130, "messaging.accounts": 120,          # 100 a page (Drift: 50, Intercom: 20)
    "messaging.contacts": 14,                                           # the 7th is the looked-up email
    "ticket_desk.tickets": 120, "ticket_desk.agents": 60,               # 50 a page
}

# per API: the resource that pages most (429 burst, then a 500 mid-listing) and another one (a dropped connection)
FAULTED = {
    "shared_inbox": ("conversations", "customers"),
    "service_desk": ("tickets", "contacts"),
    "directory": ("users", "groups"),
    "messaging": ("conversations", "accounts"),
    "ticket_desk": ("tickets", "agents"),
}


def inject_run_faults(sim: Simulator, api: str, full: bool) -> None:
    """A full load: a 429 burst (Retry-After 1) on the first request of the main listing, a 500 on
    its second page, and a connection dropped without an answer on another resource's first request.
    An incremental one (a page or two of changes): a 500 on the main listing's first request, a
    dropped connection on the other resource's."""
    main, other = FAULTED[api]
    if full:
        sim.inject_fault(api, "status", main, count=2, status=429, retry_after="1")
        sim.inject_fault(api, "status", main, count=1, status=500, after=1)
        sim.inject_fault(api, "drop", other, count=1)
    else:
        sim.inject_fault(api, "status", main, count=1, status=500)
        sim.inject_fault(api, "drop", other, count=1)


@pytest.fixture
def flavoured(api_name: str, flavor: str, workdir: object, monkeypatch: pytest.MonkeyPatch) -> Iterator[Simulator]:
    """A simulator of its own answering `api_name` in `flavor` (from the test's parameters), with the
    shipped configs pointed at it (SOURCES__<API>__... as `sim_env` does)."""
    with Simulator(port=0, login_port=0, scale=SCALE, counts=COUNTS, flavors={api_name: flavor}) as sim:
        for key, value in sim.env().items():
            monkeypatch.setenv(key, value)
        yield sim


def mismatches(sim: Simulator, api: ApiConfig) -> list[str]:
    """Every table that does not hold exactly the served records (by primary key, each once): all of
    them, so one failure tells everything a flavour broke."""
    found = []
    for resource in api.resources:
        expected, loaded = expected_keys(sim, api, resource), loaded_keys(api, resource)
        if not expected:
            found.append(f"{resource.name}: the simulator serves nothing; the test would prove nothing")
        elif loaded != expected:
            missing, extra = len(set(expected) - set(loaded)), len(loaded) - len(set(loaded))
            found.append(f"{resource.name}: {len(loaded)} rows loaded, {len(expected)} served ({missing} missing, {extra} duplicated)")
    return found


def unspent_faults(sim: Simulator) -> list[str]:
    """Injected faults the server never got to throw: a faulted run that did not meet its faults proves nothing."""
    with sim.state.fault_lock:
        return [f"{f.kind}:{f.resource} ({f.remaining} left)" for f in sim.state.faults if f.remaining > 0]


def request_budget(sim: Simulator, api: str) -> int:
    """Generously more requests than any correct run needs: a page per record (children included) and
    a few hundred for tokens, retries and read-ahead. A run past it pages without end."""
    records = sum(len(sim.records(a, name)) for (a, name) in sim.store.data if a == api)
    return 2 * records + 300


@contextmanager
def bounded_run(sim: Simulator, api: str) -> Iterator[dict[str, int]]:
    """Fail the API's run (every later request answers 400) once it has sent more than its budget of
    requests, so a listing that never ends fails its test instead of hanging the suite. Yields
    `{"budget": N, "exceeded": 0|1}`."""
    budget = request_budget(sim, api)
    start = len([e for e in sim.request_log if e["api"] == api])
    seen = {"budget": budget, "exceeded": 0}
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.5):
            if len([e for e in sim.request_log if e["api"] == api]) - start > budget:
                seen["exceeded"] = 1
                sim.inject_fault(api, "status", None, count=-1, status=400)
                return

    watcher = threading.Thread(target=watch, daemon=True, name="request-budget")
    watcher.start()
    try:
        yield seen
    finally:
        done.set()
        watcher.join()
        if seen["exceeded"]:
            sim.clear_faults()
