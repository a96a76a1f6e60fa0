"""Years of history, bounded range filters, window faults: the simulator side of backfills.

Every range form (each API's "updated since" beside its "updated before", Help Scout's
`query=(modifiedAt:[a TO b])`, Zoho Desk's `/tickets/search?modifiedTimeRange=a,b`) returns exactly
`Simulator.records_between` over HTTP; bounds are [since, before). `window_fail` hits only its window.
The vendor flavours keep their refusals and their ignorance.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

import pytest
import requests

from restsync_dagster.simulator import Simulator
from restsync_dagster.simulator.__main__ import parse_args, parse_fault
from restsync_dagster.simulator.data import BASE_END, parse_iso

UTC = timezone.utc
THREE_YEARS = 1095
# three adjacent windows in the middle of a three-year history
W0, W1, W2, W3 = (datetime(2024, 3, 1, tzinfo=UTC) + timedelta(days=45 * k) for k in range(4))
UPDATED = {"shared_inbox": "updatedAt", "service_desk": "updated_at", "messaging": "updatedAt", "ticket_desk": "modifiedTime"}


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(port=0, login_port=0, history_days=THREE_YEARS) as simulator:
        yield simulator


def z(moment: datetime, millis: bool = False) -> str:
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    return text + (".000Z" if millis else "Z")


def session_for(sim: Simulator, api: str) -> requests.Session:
    session = requests.Session()
    creds = sim.credentials[api]
    if api == "service_desk":
        session.auth = (creds["api_key"], "X")
    elif api == "messaging":
        session.headers["Authorization"] = f"Bearer {creds['access_token']}"
    else:
        data = {"grant_type": "client_credentials", "client_id": creds["client_id"], "client_secret": creds["client_secret"]}
        if api == "ticket_desk":
            data.update(grant_type="refresh_token", refresh_token=creds["refresh_token"])
        answer = requests.post(str(sim.token_url(api)), data=data, timeout=5)
        answer.raise_for_status()
        session.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"
    return session


def walk(sim: Simulator, api: str, path: str, params: dict[str, Any], zoho: bool = False) -> list[dict[str, Any]]:
    """Every record of a listing, following the API's own paging (the zoho flavour: `from`, 1-based, to a 204)."""
    session, url = session_for(sim, api), sim.base_url(api) + path
    rows: list[dict[str, Any]] = []
    page, offset, cursor, link = 1, 0, None, None
    for _ in range(1000):
        query = dict(params)
        if api == "service_desk" and path == "/v1/tickets":
            query["page"] = page
        if api == "ticket_desk":
            query.update({"from": offset + 1} if zoho else {"offset": offset})
        if api == "messaging" and cursor:
            query["next"] = cursor
        answer = session.get(link or url, params=None if link else query, timeout=10)
        if answer.status_code == 204:
            return rows
        assert answer.status_code == 200, answer.text
        body = answer.json()
        if api == "shared_inbox":
            items = next(iter(body["_embedded"].values()))
            link = body["_links"].get("next", {}).get("href")
            done = not link
        elif api == "service_desk":
            items = body if isinstance(body, list) else body["data"]
            if path == "/v1/tickets":
                page, done = page + 1, not items
            else:
                link = answer.links.get("next", {}).get("url")
                done = not link
        elif api == "messaging":
            items, cursor = body["data"], body.get("next")
            done = not cursor
        else:
            items = body["data"]
            offset += len(items)
            done = not items
        rows += items
        if done:
            return rows
    raise AssertionError("paging did not end")


def ids(rows: list[dict[str, Any]]) -> list[Any]:
    return [row["id"] for row in rows]


# --- each range form is exactly records_between --------------------------------------------------------
RANGE_FORMS = [
    ("service_desk", "tickets", "/v1/tickets", lambda a, b: {"updated_since": z(a), "updated_before": z(b), "per_page": 30}),
    ("service_desk", "contacts", "/v1/contacts", lambda a, b: {"_updated_since": z(a), "_updated_before": z(b), "per_page": 50}),
    ("messaging", "conversations", "/v1/conversations", lambda a, b: {"updated_after": z(a), "updated_before": z(b), "limit": 20}),
    ("shared_inbox", "conversations", "/v2/conversations", lambda a, b: {"modifiedSince": z(a), "modifiedBefore": z(b), "limit": 20}),
    ("shared_inbox", "customers", "/v2/customers", lambda a, b: {"modifiedSince": z(a), "modifiedBefore": z(b)}),
    ("shared_inbox", "conversations", "/v2/conversations", lambda a, b: {"query": f"(modifiedAt:[{z(a)} TO {z(b)}])", "limit": 20}),
    ("shared_inbox", "customers", "/v2/customers", lambda a, b: {"query": f"(modifiedAt:[{z(a)} TO {z(b)}])"}),
    ("ticket_desk", "tickets", "/tickets", lambda a, b: {"modifiedAfter": z(a), "modifiedBefore": z(b), "limit": 25}),
    ("ticket_desk", "tickets", "/tickets/search", lambda a, b: {"modifiedTimeRange": f"{z(a, True)},{z(b, True)}", "limit": 25}),
    ("ticket_desk", "tickets", "/tickets/search",
     lambda a, b: {"modifiedTimeRange": f"{z(a, True)},{z(b, True)}", "sortBy": "modifiedTime", "limit": 25}),
]
FORM_IDS = ["freshdesk-tickets", "freshdesk-contacts", "drift-conversations", "hs-conversations-before", "hs-customers-before",
            "hs-conversations-query", "hs-customers-query", "zoho-tickets-before", "zoho-search", "zoho-search-sorted"]


@pytest.mark.parametrize("api, resource, path, params", RANGE_FORMS, ids=FORM_IDS)
def test_each_range_form_returns_exactly_records_between(sim: Simulator, api: str, resource: str, path: str, params: Any) -> None:
    sim.mutate(api, resource, updates=5, inserts=3, deletes=2)  # the overlay: updated records leave their old window
    windows = [(W0, W1), (W1, W2), (W2, W3)]
    served = [walk(sim, api, path, params(a, b)) for a, b in windows]
    expected = [sim.records_between(api, resource, a, b) for a, b in windows]
    for rows, want, (a, b) in zip(served, expected, windows):
        assert want, "each window holds records"
        assert rows == want  # the same records, in the same (updated ascending) order
        stamps = [parse_iso(r[UPDATED[api]]) for r in rows]
        assert all(a <= s < b for s in stamps) and stamps == sorted(stamps)
    all_ids = [i for rows in served for i in ids(rows)]
    assert len(all_ids) == len(set(all_ids))  # adjacent windows share nothing
    # the windows together are the listing since W0 up to W3
    whole = [r for r in sim.records(api, resource) if W0 <= parse_iso(r[UPDATED[api]]) < W3]
    assert sorted(all_ids, key=str) == sorted(ids(whole), key=str)


def test_an_updated_record_moves_to_the_window_of_its_new_timestamp(sim: Simulator) -> None:
    before = sim.records_between("service_desk", "tickets", W0, W3)
    changed = sim.mutate("service_desk", "tickets", updates=150)["updated"]
    moved = set(changed) & set(ids(before))
    assert moved, "some updated ticket was in the window"
    now = datetime.now(UTC)
    served = walk(sim, "service_desk", "/v1/tickets", {"updated_since": z(W0), "updated_before": z(W3)})
    assert not moved & set(ids(served)) and ids(served) == ids(sim.records_between("service_desk", "tickets", W0, W3))
    assert set(ids(served)) == set(ids(before)) - moved
    recent = walk(sim, "service_desk", "/v1/tickets", {"updated_since": z(now - timedelta(minutes=5))})
    assert set(changed) <= set(ids(recent))


def test_since_is_inclusive_and_before_exclusive_at_a_records_own_instant(sim: Simulator) -> None:
    records = sim.records_between("ticket_desk", "tickets", W0, W1)
    pivot = parse_iso(records[10]["modifiedTime"])  # a window boundary exactly on a record's timestamp
    exact = pivot.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    left = walk(sim, "ticket_desk", "/tickets", {"modifiedAfter": z(W0), "modifiedBefore": exact})
    right = walk(sim, "ticket_desk", "/tickets", {"modifiedAfter": exact, "modifiedBefore": z(W1)})
    assert ids(left) == ids(records[:10]) and ids(right) == ids(records[10:])
    assert ids(sim.records_between("ticket_desk", "tickets", W0, pivot)) == ids(records[:10])


def test_open_ends_and_a_bound_alone(sim: Simulator) -> None:
    start, end = sim.history
    everything = sim.records_between("shared_inbox", "customers", None, None)
    assert len(everything) == len(sim.records("shared_inbox", "customers"))
    open_left = walk(sim, "shared_inbox", "/v2/customers", {"query": f"(modifiedAt:[* TO {z(W1)}])"})
    open_right = walk(sim, "shared_inbox", "/v2/customers", {"query": f"(modifiedAt:[{z(W1)} TO *])"})
    assert open_left == sim.records_between("shared_inbox", "customers", None, W1)
    assert open_right == sim.records_between("shared_inbox", "customers", W1, None)
    assert len(open_left) + len(open_right) == len(everything)
    before_only = walk(sim, "service_desk", "/v1/tickets", {"updated_before": z(W1)})
    assert before_only == sim.records_between("service_desk", "tickets", start, W1)
    descending = walk(sim, "ticket_desk", "/tickets/search",
                      {"modifiedTimeRange": f"{z(W0, True)},{z(W1, True)}", "sortBy": "-modifiedTime"})
    assert descending == sim.records_between("ticket_desk", "tickets", W0, W1)[::-1]


def test_bad_range_values_answer_400(sim: Simulator) -> None:
    desk, inbox = session_for(sim, "ticket_desk"), session_for(sim, "shared_inbox")
    assert desk.get(sim.base_url("ticket_desk") + "/tickets/search", params={"modifiedTimeRange": "2024-01-01T00:00:00.000Z"}, timeout=5).status_code == 400
    assert desk.get(sim.base_url("ticket_desk") + "/tickets", params={"modifiedBefore": "soon"}, timeout=5).status_code == 400
    assert inbox.get(sim.base_url("shared_inbox") + "/v2/customers", params={"query": "(modifiedAt:2024)"}, timeout=5).status_code == 400
    # other search terms are not simulated: read as no filter
    assert inbox.get(sim.base_url("shared_inbox") + "/v2/customers", params={"query": '(email:"a@b.example")'}, timeout=5).status_code == 200


def test_the_search_answers_its_count_and_pages_from_1(sim: Simulator) -> None:
    desk = session_for(sim, "ticket_desk")
    window = {"modifiedTimeRange": f"{z(W0, True)},{z(W1, True)}", "limit": 10}
    want = sim.records_between("ticket_desk", "tickets", W0, W1)
    first = desk.get(sim.base_url("ticket_desk") + "/tickets/search", params={**window, "from": 1}, timeout=5).json()
    second = desk.get(sim.base_url("ticket_desk") + "/tickets/search", params={**window, "from": 11}, timeout=5).json()
    assert first["count"] == len(want) and first["data"] == want[:10] and second["data"] == want[10:20]


# --- history ---------------------------------------------------------------------------------------------
def test_history_days_spreads_the_timestamps_and_defaults_to_730() -> None:
    with Simulator(port=0, login_port=0) as default, Simulator(port=0, login_port=0, history_days=THREE_YEARS) as long:
        assert default.history == (datetime(2024, 1, 1, tzinfo=UTC), BASE_END)
        assert long.history == (BASE_END - timedelta(days=THREE_YEARS), BASE_END)
        for sim, days in ((default, 730), (long, THREE_YEARS)):
            tickets = sim.records("service_desk", "tickets")
            updated = [parse_iso(t["updated_at"]) for t in tickets]
            created = [parse_iso(t["created_at"]) for t in tickets]
            start, end = sim.history
            assert start <= min(updated) < start + timedelta(days=days / 100) and end - timedelta(days=days / 100) < max(updated) <= end
            assert min(created) < start + timedelta(days=61) and all(c <= u for c, u in zip(created, updated))
        # the same records, only their times differ
        assert [t["subject"] for t in default.records("service_desk", "tickets")] == [t["subject"] for t in long.records("service_desk", "tickets")]
    with pytest.raises(ValueError, match="history_days"):
        Simulator(port=0, login_port=0, history_days=0)
    assert parse_args(["--history-days", "1095"]).history_days == 1095 and parse_args([]).history_days == 730


def test_a_million_tickets_over_three_years_answer_a_window_page_quickly() -> None:
    counts = {"service_desk.tickets": 1_000_000, "ticket_desk.tickets": 1_000_000}
    with Simulator(port=0, login_port=0, history_days=THREE_YEARS, counts=counts) as sim:
        day = (datetime(2024, 7, 1, tzinfo=UTC), datetime(2024, 7, 2, tzinfo=UTC))
        started = time.perf_counter()
        want = sim.records_between("service_desk", "tickets", *day)
        helper = time.perf_counter() - started
        assert 850 < len(want) < 1000  # 1M over 1095 days: ~913 a day
        session = session_for(sim, "service_desk")
        timings = []
        for page in (1, 5, 10):
            started = time.perf_counter()
            answer = session.get(sim.base_url("service_desk") + "/v1/tickets", timeout=10,
                                 params={"updated_since": z(day[0]), "updated_before": z(day[1]), "per_page": 100, "page": page})
            timings.append(time.perf_counter() - started)
            assert answer.status_code == 200 and answer.json()["data"] == want[(page - 1) * 100 : page * 100]
        desk = session_for(sim, "ticket_desk")
        started = time.perf_counter()
        search = desk.get(sim.base_url("ticket_desk") + "/tickets/search", timeout=10,
                          params={"modifiedTimeRange": f"{z(day[0], True)},{z(day[1], True)}", "from": 101, "limit": 100}).json()
        timings.append(time.perf_counter() - started)
        assert search["data"] == sim.records_between("ticket_desk", "tickets", *day)[100:200]
        print(f"\n1M tickets, 3 years: records_between one day {helper * 1000:.1f} ms; window pages "
              + ", ".join(f"{t * 1000:.1f} ms" for t in timings))

    with Simulator(port=0, login_port=0, history_days=THREE_YEARS, counts=counts, flavors={"service_desk": "freshdesk"}) as sim:
        since = BASE_END - timedelta(days=2)  # Freshdesk has no upper bound: the window runs to the end
        want = sim.records_between("service_desk", "tickets", since, None)
        started = time.perf_counter()
        answer = session_for(sim, "service_desk").get(sim.base_url("service_desk") + "/v1/tickets", timeout=30,
                                                      params={"updated_since": z(since), "per_page": 100, "page": 3})
        print(f"1M tickets, freshdesk flavour: a page since two days ago {(time.perf_counter() - started) * 1000:.1f} ms")
        assert answer.status_code == 200 and answer.json() == want[200:300]


# --- window_fail ------------------------------------------------------------------------------------------
def window_statuses(sim: Simulator, windows: list[tuple[datetime, datetime]]) -> list[int]:
    session = session_for(sim, "service_desk")
    return [session.get(sim.base_url("service_desk") + "/v1/tickets", timeout=10,
                        params={"updated_since": z(a), "updated_before": z(b)}).status_code for a, b in windows]


def test_window_fail_hits_only_the_window_that_holds_its_instant(sim: Simulator) -> None:
    windows = [(W0, W1), (W1, W2), (W2, W3)]
    sim.inject_fault("service_desk", "window_fail", "tickets", count=-1, since=z(W1 + timedelta(days=3)), status=503)
    assert window_statuses(sim, windows) == [200, 503, 200]
    assert window_statuses(sim, windows) == [200, 503, 200]  # until cleared
    session = session_for(sim, "service_desk")
    plain = session.get(sim.base_url("service_desk") + "/v1/tickets", timeout=10)  # no window: never hit
    other = session.get(sim.base_url("service_desk") + "/v1/contacts", timeout=10,
                        params={"_updated_since": z(W1), "_updated_before": z(W2)})  # another resource
    assert plain.status_code == 200 and other.status_code == 200
    failed = [e for e in sim.request_log if e["status"] == 503]
    assert len(failed) == 2 and all(e["fault"] == "window_fail" and e["query"]["updated_since"] == z(W1) for e in failed)
    sim.clear_faults()
    assert window_statuses(sim, windows) == [200, 200, 200]


def test_window_fail_for_n_requests_at_the_start_and_in_every_range_form(sim: Simulator) -> None:
    windows = [(W0, W1), (W1, W2), (W2, W3)]
    sim.inject_fault("service_desk", "window_fail", "tickets", count=2, since=z(W1), match="start")
    assert window_statuses(sim, windows) == [200, 500, 200]  # W1 starts the second window only (before is exclusive)
    assert window_statuses(sim, windows) == [200, 500, 200]
    assert window_statuses(sim, windows) == [200, 200, 200]  # two requests, then served
    sim.fail_window("ticket_desk", None, W1 + timedelta(days=1), status=502)
    desk = session_for(sim, "ticket_desk")
    search = desk.get(sim.base_url("ticket_desk") + "/tickets/search", timeout=5, params={"modifiedTimeRange": f"{z(W1, True)},{z(W2, True)}"})
    elsewhere = desk.get(sim.base_url("ticket_desk") + "/tickets/search", timeout=5, params={"modifiedTimeRange": f"{z(W2, True)},{z(W3, True)}"})
    assert search.status_code == 502 and elsewhere.status_code == 200
    sim.fail_window("shared_inbox", "customers", W1, status=503)
    inbox = session_for(sim, "shared_inbox")
    query = inbox.get(sim.base_url("shared_inbox") + "/v2/customers", timeout=5, params={"query": f"(modifiedAt:[{z(W0)} TO {z(W2)}])"})
    since_only = inbox.get(sim.base_url("shared_inbox") + "/v2/customers", timeout=5, params={"modifiedSince": z(W2)})
    assert query.status_code == 503 and since_only.status_code == 200  # a since alone covers all after it, not W1


def test_window_fail_can_hang_a_window_so_a_run_is_killed_in_it(sim: Simulator) -> None:
    sim.fail_window("service_desk", "tickets", W1, seconds=3)
    session = session_for(sim, "service_desk")
    url = sim.base_url("service_desk") + "/v1/tickets"
    started = time.perf_counter()
    assert session.get(url, params={"updated_since": z(W0), "updated_before": z(W1)}, timeout=5).status_code == 200
    assert time.perf_counter() - started < 2
    with pytest.raises(requests.exceptions.ReadTimeout):
        session.get(url, params={"updated_since": z(W1), "updated_before": z(W2)}, timeout=0.5)
    sim.clear_faults()


def test_window_fail_is_checked_when_injected() -> None:
    assert parse_fault("service_desk:window_fail:tickets:-1?since=2024-03-01T00:00:00Z&status=503") == (
        "service_desk", "window_fail", "tickets", -1, {"since": "2024-03-01T00:00:00Z", "status": "503"})
    with Simulator(port=0, login_port=0) as sim:
        with pytest.raises(ValueError, match="since"):
            sim.inject_fault("service_desk", "window_fail", "tickets")
        with pytest.raises(ValueError):
            sim.inject_fault("service_desk", "window_fail", "tickets", since="yesterday")
        bad = requests.post(f"http://127.0.0.1:{sim.port}/_sim/faults", timeout=5, data={"api": "service_desk", "kind": "window_fail", "match": "x", "since": "2024-01-01T00:00:00Z"})
        good = requests.post(f"http://127.0.0.1:{sim.port}/_sim/faults", timeout=5, data={"api": "service_desk", "kind": "window_fail", "since": "2024-01-01T00:00:00Z"})
        assert bad.status_code == 400 and good.status_code == 200


# --- flavours keep what the vendor has, and only that ------------------------------------------------------
def flavoured(**flavors: str) -> Simulator:
    return Simulator(port=0, login_port=0, history_days=THREE_YEARS, flavors=flavors).start()


def test_freshdesk_refuses_the_upper_bounds_it_does_not_have() -> None:
    sim = flavoured(service_desk="freshdesk")
    try:
        session = session_for(sim, "service_desk")
        for path, params in (("/v1/tickets", {"updated_since": z(W0), "updated_before": z(W1)}),
                             ("/v1/contacts", {"_updated_since": z(W0), "_updated_before": z(W1)})):
            answer = session.get(sim.base_url("service_desk") + path, params=params, timeout=5)
            assert answer.status_code == 400, path
            assert answer.json()["errors"][0]["code"] == "invalid_field" and answer.json()["errors"][0]["field"].endswith("updated_before")
        since = walk(sim, "service_desk", "/v1/tickets", {"updated_since": z(W2)})
        assert since == sim.records_between("service_desk", "tickets", W2, None)  # the lower bound alone still works
    finally:
        sim.stop()


def test_helpscout_honours_the_search_query_not_modified_before() -> None:
    sim = flavoured(shared_inbox="helpscout")
    try:
        window = walk(sim, "shared_inbox", "/v2/conversations", {"query": f"(modifiedAt:[{z(W0)} TO {z(W1)}])", "status": "all"})
        assert window == sim.records_between("shared_inbox", "conversations", W0, W1)
        assert all(W0 <= parse_iso(r["userUpdatedAt"]) < W1 for r in window)
        ignored = walk(sim, "shared_inbox", "/v2/customers", {"modifiedSince": z(W0), "modifiedBefore": z(W1)})
        assert ignored == sim.records_between("shared_inbox", "customers", W0, None)  # everything since: no upper bound
        customers = walk(sim, "shared_inbox", "/v2/customers", {"query": f"(modifiedAt:[{z(W0)} TO {z(W1)}])"})
        assert customers == sim.records_between("shared_inbox", "customers", W0, W1)
    finally:
        sim.stop()


def test_zoho_has_the_search_and_ignores_modified_before_on_tickets() -> None:
    sim = flavoured(ticket_desk="zoho")
    try:
        window = walk(sim, "ticket_desk", "/tickets/search", {"modifiedTimeRange": f"{z(W0, True)},{z(W1, True)}", "limit": 30}, zoho=True)
        assert window == sim.records_between("ticket_desk", "tickets", W0, W1) and window
        assert all(len(r["modifiedTime"]) == len("2024-01-01T00:00:00.000Z") for r in window)  # milliseconds
        newest = walk(sim, "ticket_desk", "/tickets/search",
                      {"modifiedTimeRange": f"{z(W0, True)},{z(W1, True)}", "sortBy": "-modifiedTime", "limit": 30}, zoho=True)
        assert newest == window[::-1]
        plain = walk(sim, "ticket_desk", "/tickets", {"modifiedBefore": z(W1), "limit": 100}, zoho=True)
        assert ids(plain) == ids(sim.records("ticket_desk", "tickets"))  # unknown: read as absent
        desk = session_for(sim, "ticket_desk")
        empty = desk.get(sim.base_url("ticket_desk") + "/tickets/search", timeout=5,
                         params={"modifiedTimeRange": "2000-01-01T00:00:00.000Z,2000-02-01T00:00:00.000Z"})
        assert empty.status_code == 204 and empty.content == b""
    finally:
        sim.stop()


def test_drift_has_no_filter_and_no_window_to_fail() -> None:
    sim = flavoured(messaging="drift")
    try:
        sim.fail_window("messaging", "conversations", W1)
        session = session_for(sim, "messaging")
        answer = session.get(sim.base_url("messaging") + "/v1/conversations", timeout=5,
                             params={"updated_after": z(W1), "updated_before": z(W2)})
        body = answer.json()
        assert answer.status_code == 200  # the window is unknown to Drift: nothing to fail
        served = [r["id"] for r in body["data"]]
        newest = sorted(sim.records("messaging", "conversations"), key=lambda r: r["updatedAt"], reverse=True)
        assert served == [r["id"] for r in newest[: len(served)]]  # everything, newest first
    finally:
        sim.stop()
