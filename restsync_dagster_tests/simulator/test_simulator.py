"""The simulator speaks each API's auth and pagination exactly, and changes over time on request."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from typing import Any, Iterator

import pytest
import requests

from restsync_dagster.simulator import Simulator
from restsync_dagster.simulator.__main__ import main as simulator_main
from restsync_dagster_tests.support.postgres_server import free_port
from restsync_dagster_tests.support.simulator_tokens import token


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(port=0, login_port=0) as simulator:
        yield simulator


def walk(sim: Simulator, api: str, path: str, **params: Any) -> list[dict[str, Any]]:
    """Follow the API's own pagination to the end, the way its documentation says."""
    session = requests.Session()
    if api == "service_desk":
        session.auth = (sim.credentials[api]["api_key"], "X")
    elif api == "messaging":
        session.headers["Authorization"] = f"Bearer {sim.credentials[api]['access_token']}"
    else:
        session.headers["Authorization"] = f"Bearer {token(sim, api)}"
    url: Any = sim.base_url(api) + path
    rows: list[dict[str, Any]] = []
    page, offset, cursor = 1, 0, None
    for _ in range(10_000):
        query = dict(params)
        if api == "service_desk" and path == "/v1/tickets":
            query["page"] = page
        if api == "ticket_desk":
            query["offset"] = offset
        if api == "messaging" and cursor:
            query["next"] = cursor
        response = session.get(url, params=query if not str(url).count("?") else None, timeout=5)
        assert response.status_code == 200, response.text
        body = response.json()
        if api == "shared_inbox":
            items = next(iter(body["_embedded"].values()))
            url = body["_links"].get("next", {}).get("href")
        elif api == "service_desk":
            items = body["data"]
            url = response.links.get("next", {}).get("url") if path != "/v1/tickets" else (url if items else None)
            page += 1
        elif api == "directory":
            items, url = body["value"], body.get("@odata.nextLink")
        elif api == "messaging":
            items = body["data"] if isinstance(body["data"], list) else next(iter(body["data"].values()))
            cursor = body.get("next")
            url = url if cursor else None
        else:
            items = body["data"]
            offset += len(items)
            url = url if items else None
        rows += items
        if not url:
            return rows
    raise AssertionError("pagination did not end")


@pytest.mark.parametrize(
    ("api", "resource", "path", "params"),
    [
        ("shared_inbox", "customers", "/v2/customers", {"limit": 50}),
        ("service_desk", "agents", "/v1/agents", {"per_page": 100}),
        ("service_desk", "tickets", "/v1/tickets", {"per_page": 100}),
        ("directory", "users", "/v1/resource/users", {"$top": 100}),
        ("messaging", "accounts", "/v1/accounts", {"limit": 40}),
        ("ticket_desk", "tickets", "/tickets", {"limit": 50}),
    ],
)
def test_each_pagination_style_walks_to_exactly_the_records(sim: Simulator, api: str, resource: str, path: str, params: dict) -> None:
    rows = walk(sim, api, path, **params)
    ids = [row["id"] for row in rows]
    assert len(ids) == len(set(ids))
    assert ids == [r["id"] for r in sim.records(api, resource)]


def test_page_size_is_capped(sim: Simulator) -> None:
    body = requests.get(sim.base_url("shared_inbox") + "/v2/customers", params={"limit": 500},
                        headers={"Authorization": f"Bearer {token(sim, 'shared_inbox')}"}, timeout=5).json()
    assert len(body["_embedded"]["customers"]) == 50


def test_wrong_credentials_and_expired_tokens_are_refused(sim: Simulator) -> None:
    bad = requests.post(str(sim.token_url("directory")), data={"grant_type": "client_credentials", "client_id": "x", "client_secret": "y", "scope": "a/.default"}, timeout=5)
    assert bad.status_code == 401
    no_scope = dict(grant_type="client_credentials", **sim.credentials["directory"])
    assert requests.post(str(sim.token_url("directory")), data=no_scope, timeout=5).status_code == 400
    assert requests.get(sim.base_url("service_desk") + "/v1/agents", auth=("wrong", "X"), timeout=5).status_code == 401
    good = token(sim, "ticket_desk")
    headers = {"Authorization": f"Bearer {good}"}
    assert requests.get(sim.base_url("ticket_desk") + "/agents", headers=headers, timeout=5).status_code == 200
    sim.inject_fault("ticket_desk", "expire_token")
    assert requests.get(sim.base_url("ticket_desk") + "/agents", headers=headers, timeout=5).status_code == 401


def test_children_and_unknown_parent(sim: Simulator) -> None:
    auth = (sim.credentials["service_desk"]["api_key"], "X")
    by_parent = sim.children_by_parent("service_desk", "conversations")
    parent, children = next((p, c) for p, c in by_parent.items() if c)
    body = requests.get(f"{sim.base_url('service_desk')}/v1/tickets/{parent}/conversations", auth=auth, timeout=5).json()
    assert [r["id"] for r in body["data"]] == [c["id"] for c in children]
    assert requests.get(f"{sim.base_url('service_desk')}/v1/tickets/999999/conversations", auth=auth, timeout=5).status_code == 404
    members = sim.children_by_parent("shared_inbox", "team_members")
    all_ids = [m["id"] for rows in members.values() for m in rows]
    assert len(all_ids) > len(set(all_ids)), "team members must overlap between teams (the key is (team, user))"


def test_filters_sorting_and_mutations(sim: Simulator) -> None:
    auth = (sim.credentials["service_desk"]["api_key"], "X")
    url = sim.base_url("service_desk") + "/v1/tickets"
    before = time.time()
    changed = sim.mutate("service_desk", "tickets", updates=3, inserts=2, deletes=1)
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(before - 1))
    rows = requests.get(url, params={"updated_since": since, "per_page": 100}, auth=auth, timeout=5).json()["data"]
    assert sorted(r["id"] for r in rows) == sorted(changed["updated"] + changed["inserted"])
    newest = requests.get(url, params={"order_by": "updated_at", "order_type": "desc", "per_page": 1}, auth=auth, timeout=5).json()["data"]
    assert newest[0]["id"] in changed["updated"] + changed["inserted"]
    ids = {r["id"] for r in sim.records("service_desk", "tickets")}
    assert changed["deleted"][0] not in ids and set(changed["inserted"]) <= ids


def test_child_insert_moves_the_parent(sim: Simulator) -> None:
    before = {c["id"]: c["updatedAt"] for c in sim.records("messaging", "conversations")}
    sim.mutate("messaging", "messages", inserts=1)
    after = {c["id"]: c["updatedAt"] for c in sim.records("messaging", "conversations")}
    assert sum(1 for k in before if before[k] != after[k]) == 1


def test_request_log_faults_and_rate_limit(sim: Simulator) -> None:
    auth = (sim.credentials["service_desk"]["api_key"], "X")
    url = sim.base_url("service_desk") + "/v1/agents"
    sim.inject_fault("service_desk", "status", resource="agents", status=503, retry_after="2")
    first = requests.get(url, auth=auth, timeout=5)
    assert first.status_code == 503 and first.headers["Retry-After"] == "2"
    assert requests.get(url, auth=auth, timeout=5).status_code == 200
    sim.inject_fault("service_desk", "html_200", resource="agents")
    assert requests.get(url, auth=auth, timeout=5).headers["Content-Type"] == "text/html"
    log = [e for e in sim.request_log if e["resource"] == "agents"]
    assert [e["status"] for e in log] == [503, 200, 200] and log[0]["fault"] == "status"


def test_rate_limit_answers_429(tmp_path: Any) -> None:
    with Simulator(port=0, login_port=0, rate_limit_per_second=5) as sim:
        auth = (sim.credentials["service_desk"]["api_key"], "X")
        statuses = [requests.get(sim.base_url("service_desk") + "/v1/roles", auth=auth, timeout=5).status_code for _ in range(20)]
        assert 429 in statuses and statuses[0] == 200


def test_a_million_record_resource_is_lazy_and_fast() -> None:
    with Simulator(port=0, login_port=0, counts={"ticket_desk.tickets": 1_000_000}) as sim:
        headers = {"Authorization": f"Bearer {token(sim, 'ticket_desk')}"}
        deep = requests.get(sim.base_url("ticket_desk") + "/tickets", params={"offset": 999_950, "limit": 100}, headers=headers, timeout=5).json()["data"]
        assert [r["id"] for r in deep] == list(range(999_951, 1_000_001))
        assert len(sim.store.resource("ticket_desk", "tickets").overlay.updated) == 0  # nothing materialized


def test_cli_starts_and_stops() -> None:
    stop = threading.Event()
    thread = threading.Thread(target=simulator_main, args=(["--port", "0", "--login-port", "0"],), kwargs={"stop": stop})
    thread.start()
    time.sleep(0.5)
    stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive()


def test_cli_injects_faults_with_parameters() -> None:

    from restsync_dagster.simulator.__main__ import parse_fault

    assert parse_fault("directory:page_cap:users?cap=7") == ("directory", "page_cap", "users", None, {"cap": "7"})
    assert parse_fault("ticket_desk:expire_token") == ("ticket_desk", "expire_token", None, None, {})
    assert parse_fault("service_desk:status::-1?status=429&retry_after=3600")[2:4] == (None, -1)
    ports = [free_port(), free_port()]
    stop = threading.Event()
    argv = ["--port", str(ports[0]), "--login-port", str(ports[1]), "--fault", "service_desk:status:agents:2?status=503&retry_after=7"]
    thread = threading.Thread(target=simulator_main, args=(argv,), kwargs={"stop": stop})
    thread.start()
    try:
        url = f"http://127.0.0.1:{ports[0]}/service_desk/v1/agents"
        for _ in range(100):
            try:
                requests.get(f"http://127.0.0.1:{ports[0]}/_sim/health", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.05)
        answers = [requests.get(url, auth=("sim-service-desk-key", "X"), timeout=5) for _ in range(3)]
        assert [a.status_code for a in answers] == [503, 503, 200]
        assert answers[0].headers["Retry-After"] == "7"
    finally:
        stop.set()
        thread.join(timeout=5)


@pytest.mark.parametrize(
    ("kind", "params", "check"),
    [
        ("next_userinfo", {}, lambda body, sim: "api@127.0.0.1" in body["_links"]["next"]["href"]),
        ("next_other_host", {"host": "evil.example:80"}, lambda body, sim: body["_links"]["next"]["href"].startswith("http://evil.example:80/shared_inbox/v2/customers?")),
        ("empty_page_with_next", {}, lambda body, sim: body["_embedded"]["customers"] == [] and "next" in body["_links"]),
        ("empty_page", {}, lambda body, sim: body["_embedded"]["customers"] == [] and "next" not in body["_links"]),
        ("page_cap", {"cap": 7}, lambda body, sim: len(body["_embedded"]["customers"]) == 7 and "limit=7" in body["_links"]["next"]["href"]),
        ("hostile_id", {"value": "a/b"}, lambda body, sim: body["_embedded"]["customers"][0]["id"] == "a/b"),
    ],
)
def test_page_faults_shape_the_page(sim: Simulator, kind: str, params: dict, check: Any) -> None:
    sim.inject_fault("shared_inbox", kind, "customers", **params)
    body = requests.get(sim.base_url("shared_inbox") + "/v2/customers", params={"limit": 50},
                        headers={"Authorization": f"Bearer {token(sim, 'shared_inbox')}"}, timeout=5).json()
    assert check(body, sim), body.get("_links")


def test_an_inserted_record_updated_later_is_served_once() -> None:
    from restsync_dagster.simulator import Simulator

    sim = Simulator(port=0, login_port=0, counts={"service_desk.tickets": 20})
    inserted = sim.mutate("service_desk", "tickets", inserts=5)["inserted"]
    for _ in range(6):  # updates pick among all live records, the inserted ones too
        sim.mutate("service_desk", "tickets", updates=10)
    ids = [r["id"] for r in sim.records("service_desk", "tickets")]
    assert len(ids) == len(set(ids)) == 25 and set(inserted) <= set(ids)
    since = sim.store.resource("service_desk", "tickets").view(since=datetime(2000, 1, 1, tzinfo=timezone.utc))
    assert len(since.slice(0, len(since))) == len(set(since.slice(0, len(since)))) == 25


# --- directory: Graph-style delta queries ----------------------------------------------------------------
def directory_session(sim: Simulator) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token(sim, 'directory')}"
    return session


def delta_round(session: requests.Session, url: str, params: Any = None, after_first_page: Any = None) -> tuple[list[dict[str, Any]], str, list[dict[str, Any]]]:
    """Follow one delta round from `url` to its delta link: (entries, delta link, page bodies)."""
    entries: list[dict[str, Any]] = []
    bodies: list[dict[str, Any]] = []
    next_url: Any = url
    for _ in range(1000):
        response = session.get(next_url, params=params if not bodies else None, timeout=5)
        assert response.status_code == 200, response.text
        body = response.json()
        bodies.append(body)
        entries += body["value"]
        if len(bodies) == 1 and after_first_page:
            after_first_page()
        next_url = body.get("@odata.nextLink")
        if not next_url:
            assert "@odata.deltaLink" in body, body
            return entries, body["@odata.deltaLink"], bodies
        assert "@odata.deltaLink" not in body
    raise AssertionError("the delta round did not end")


def merged(mirror: dict[str, dict[str, Any]], entries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """What a client holds after applying a round: upsert on the id, drop the removed."""
    for entry in entries:
        if "@removed" in entry:
            mirror.pop(entry["id"], None)
        else:
            mirror[entry["id"]] = entry
    return mirror


@pytest.mark.parametrize(("resource", "size"), [("users", 700), ("groups", 80)])
def test_directory_delta_first_round_pages_like_the_listing_and_ends_with_a_delta_link(sim: Simulator, resource: str, size: int) -> None:
    resource_url = f"{sim.base_url('directory')}/v1/resource/{resource}"
    entries, link, bodies = delta_round(directory_session(sim), f"{resource_url}/delta", params={"$top": 50})
    ids = [e["id"] for e in entries]
    assert ids == [r["id"] for r in sim.records("directory", resource)] == [r["id"] for r in walk(sim, "directory", f"/v1/resource/{resource}", **{"$top": 50})]
    assert len(ids) == len(set(ids)) == size
    assert [len(b["value"]) for b in bodies] == [50] * (size // 50) + ([size % 50] if size % 50 else [])
    assert all("@odata.nextLink" in b for b in bodies[:-1]) and "@odata.nextLink" not in bodies[-1]
    assert all(b["@odata.nextLink"].startswith(f"{resource_url}/delta?") and "$skiptoken=" in b["@odata.nextLink"] for b in bodies[:-1])
    assert link.startswith(f"{resource_url}/delta?$deltatoken=")


def test_directory_delta_round_returns_the_changes_and_the_removals(sim: Simulator) -> None:
    session = directory_session(sim)
    url = sim.base_url("directory") + "/v1/resource/users/delta"
    _, link, _ = delta_round(session, url, params={"$top": 999})
    changed = sim.mutate("directory", "users", updates=3, inserts=2, deletes=2)
    entries, new_link, bodies = delta_round(session, link, params={"$top": 2})
    current = {r["id"]: r for r in sim.records("directory", "users")}
    records = [e for e in entries if "@removed" not in e]
    assert sorted(e["id"] for e in records) == sorted(changed["updated"] + changed["inserted"])
    assert all(e == current[e["id"]] for e in records)
    removed = [e for e in entries if "@removed" in e]
    assert sorted(removed, key=lambda e: e["id"]) == [{"id": i, "@removed": {"reason": "deleted"}} for i in sorted(changed["deleted"])]
    token = link.split("$deltatoken=", 1)[1]
    assert len(bodies) == 4 and all(f"$deltatoken={token}" in b["@odata.nextLink"] for b in bodies[:-1])
    assert new_link != link and new_link.startswith(url + "?$deltatoken=")
    quiet = session.get(new_link, timeout=5).json()
    assert quiet["value"] == [] and "@odata.nextLink" not in quiet and quiet["@odata.deltaLink"].startswith(url + "?$deltatoken=")


def test_directory_delta_a_change_while_paging_comes_in_the_next_round(sim: Simulator) -> None:
    session = directory_session(sim)
    url = sim.base_url("directory") + "/v1/resource/users/delta"
    before = [r["id"] for r in sim.records("directory", "users")]
    during: list[dict[str, list[Any]]] = []
    mutate = lambda **counts: during.append(sim.mutate("directory", "users", **counts))  # noqa: E731
    first, link, _ = delta_round(session, url, params={"$top": 50}, after_first_page=lambda: mutate(updates=20, inserts=5, deletes=20))
    # records deleted while the client paged shift nothing: every record that lived through the round is in it
    assert set(before) - set(during[0]["deleted"]) <= {e["id"] for e in first}
    second, link, _ = delta_round(session, link, params={"$top": 7}, after_first_page=lambda: mutate(updates=10, inserts=3, deletes=10))
    third, link, _ = delta_round(session, link, params={"$top": 7})
    touched = [set(d["updated"] + d["inserted"] + d["deleted"]) for d in during]
    # a change during a round is in the next one; a record changed again meanwhile may come only in the later round
    assert {e["id"] for e in second} >= touched[0] - touched[1] and {e["id"] for e in third} >= touched[1]
    assert {e["id"] for e in second} | {e["id"] for e in third} >= touched[0]
    mirror = merged(merged(merged({}, first), second), third)
    assert mirror == {r["id"]: r for r in sim.records("directory", "users")}


def test_directory_delta_latest_and_malformed_tokens(sim: Simulator) -> None:
    session = directory_session(sim)
    url = sim.base_url("directory") + "/v1/resource/users/delta"
    latest = session.get(url, params={"$deltatoken": "latest"}, timeout=5).json()
    assert latest["value"] == [] and "@odata.nextLink" not in latest
    updated = sim.mutate("directory", "users", updates=1)["updated"]
    entries, _, _ = delta_round(session, latest["@odata.deltaLink"])
    assert [e["id"] for e in entries] == updated
    for params in ({"$deltatoken": "not-a-token"}, {"$deltatoken": "aGVsbG8"}, {"$skiptoken": "garbage!"}):
        response = session.get(url, params=params, timeout=5)
        assert response.status_code == 400, params
        error = response.json()["error"]
        assert error["code"] == "badRequest" and "$" in error["message"] and "garbage" not in error["message"]


def test_directory_delta_needs_the_bearer_token_and_shares_the_faults_and_log(sim: Simulator) -> None:
    url = sim.base_url("directory") + "/v1/resource/users/delta"
    assert requests.get(url, timeout=5).status_code == 401
    assert requests.get(url, headers={"Authorization": "Bearer forged"}, timeout=5).status_code == 401
    session = directory_session(sim)
    sim.inject_fault("directory", "status", "users", status=503, retry_after="1")
    assert session.get(url, timeout=5).status_code == 503
    assert session.get(url, timeout=5).status_code == 200
    log = [e for e in sim.request_log if e["path"] == "/directory/v1/resource/users/delta"]
    assert [(e["resource"], e["status"]) for e in log] == [("users", 401), ("users", 401), ("users", 503), ("users", 200)]
    assert requests.get(sim.base_url("messaging") + "/v1/accounts/delta", headers={"Authorization": "Bearer sim-messaging-token"}, timeout=5).status_code == 404


def test_the_demo_movement_deletes_only_where_a_delta_reports_it(sim: Simulator) -> None:
    """Each round updates and inserts everywhere; it deletes only in the directory, whose delta
    tells clients; elsewhere a deletion would leave the tables unequal to the data until a full refresh."""
    before = {api: {r["id"] for r in sim.records(api, name)} for api, name in (("directory", "users"), ("service_desk", "tickets"))}
    sim.mutate_all(0.01)
    users, tickets = ({r["id"] for r in sim.records(api, name)} for api, name in (("directory", "users"), ("service_desk", "tickets")))
    assert before["directory"] - users, "no directory user was deleted"
    assert users - before["directory"], "no directory user was inserted"
    assert before["service_desk"] <= tickets and tickets - before["service_desk"], "tickets: inserted only, none deleted"


# --- flavours: each serves what it claims ----------------------------------------------------------------


def flavoured(**flavors: str) -> Simulator:
    return Simulator(port=0, login_port=0, flavors=flavors, counts={"ticket_desk.tickets": 60, "messaging.conversations": 120})


def test_the_default_flavour_is_what_the_configs_describe(sim: Simulator) -> None:
    assert {api: sim.flavor(api) for api in ("shared_inbox", "service_desk", "directory", "messaging", "ticket_desk")} == dict.fromkeys(
        ("shared_inbox", "service_desk", "directory", "messaging", "ticket_desk"), "default")
    assert isinstance(sim.records("messaging", "conversations")[0]["updatedAt"], str)


def test_unknown_flavours_are_refused_naming_the_known_ones() -> None:
    with pytest.raises(ValueError, match="ticket_desk has no flavour 'nope'; known: default, zoho"):
        Simulator(port=0, login_port=0, flavors={"ticket_desk": "nope"})
    with pytest.raises(ValueError, match="unknown APIs"):
        Simulator(port=0, login_port=0, flavors={"crm": "zoho"})


def test_zoho_pages_from_1_ignores_offset_and_answers_204_past_the_end() -> None:
    with flavoured(ticket_desk="zoho") as sim:
        headers = {"Authorization": f"Bearer {token(sim, 'ticket_desk')}"}
        url = sim.base_url("ticket_desk") + "/tickets"
        served = [r["id"] for r in sim.records("ticket_desk", "tickets")]
        first = requests.get(url, params={"from": 1, "limit": 50}, headers=headers, timeout=5)
        second = requests.get(url, params={"from": 51, "limit": 50}, headers=headers, timeout=5)
        assert [r["id"] for r in first.json()["data"] + second.json()["data"]] == served
        past = requests.get(url, params={"from": 61, "limit": 50}, headers=headers, timeout=5)
        assert past.status_code == 204 and past.content == b"" and "Content-Type" not in past.headers
        # `offset` is not Zoho's: the first page again; modifiedAfter and sortBy=-modifiedTime neither
        assert [r["id"] for r in requests.get(url, params={"offset": 50, "limit": 50}, headers=headers, timeout=5).json()["data"]] == served[:50]
        newest = requests.get(url, params={"sortBy": "-modifiedTime", "limit": 1}, headers=headers, timeout=5).json()["data"]
        assert newest[0]["id"] == served[0]
        assert len(requests.get(url, params={"modifiedAfter": "2030-01-01T00:00:00Z", "limit": 100}, headers=headers, timeout=5).json()["data"]) == 60
        assert [e["query"].get("offset") for e in sim.request_log if e["resource"] == "tickets"][3] == "50"  # logged as sent
        modified = first.json()["data"][0]["modifiedTime"]
        assert modified.endswith("Z") and len(modified.split(".")[1]) == 4  # milliseconds: .000Z
        assert first.json()["data"][0] == sim.records("ticket_desk", "tickets")[0]


def test_drift_serves_epoch_milliseconds_newest_first_with_its_cursor_at_pagination_next() -> None:
    with flavoured(messaging="drift") as sim:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {sim.credentials['messaging']['access_token']}"
        url = sim.base_url("messaging") + "/v1/conversations"
        body = session.get(url, params={"limit": 100, "order": "asc"}, timeout=5).json()
        rows = body["data"]
        assert len(rows) == 50 and body["pagination"]["more"] is True and "next" not in body  # 50 at most, cursor nested
        assert all(isinstance(r["updatedAt"], int) and r["updatedAt"] > 10**12 for r in rows)  # epoch ms
        assert [r["updatedAt"] for r in rows] == sorted((r["updatedAt"] for r in rows), reverse=True)  # newest first
        while "pagination" in body:
            body = session.get(url, params={"limit": 100, "next": body["pagination"]["next"]}, timeout=5).json()
            rows += body["data"]
        by_id = {r["id"]: r for r in sim.records("messaging", "conversations")}
        assert sorted(r["id"] for r in rows) == sorted(by_id) and all(by_id[r["id"]] == r for r in rows)
        # no updated_after filter in Drift: everything comes back
        since = session.get(url, params={"limit": 50, "updated_after": "2030-01-01T00:00:00Z"}, timeout=5).json()
        assert len(since["data"]) == 50


def test_intercom_serves_snake_case_epoch_seconds_and_its_cursor_at_pages_next() -> None:
    with flavoured(messaging="intercom") as sim:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {sim.credentials['messaging']['access_token']}"
        url = sim.base_url("messaging") + "/v1/conversations"
        body = session.get(url, params={"limit": 100}, timeout=5).json()
        assert len(body["data"]) == 20 and "next" not in body  # per_page, default 20: `limit` is not its parameter
        record = body["data"][0]
        assert "updatedAt" not in record and isinstance(record["updated_at"], int) and 10**9 < record["updated_at"] < 10**11
        rows = list(body["data"])
        while "next" in body["pages"]:
            body = session.get(url, params={"starting_after": body["pages"]["next"]["starting_after"]}, timeout=5).json()
            rows += body["data"]
        assert [r["id"] for r in rows] == [r["id"] for r in sim.records("messaging", "conversations")]
        assert rows[0] == sim.records("messaging", "conversations")[0]


def test_helpscout_and_graph_gzip_their_bodies_and_serve_timestamps_to_the_second() -> None:
    with flavoured(shared_inbox="helpscout", directory="graph") as sim:
        answer = requests.get(sim.base_url("shared_inbox") + "/v2/customers", params={"limit": 50},
                              headers={"Authorization": f"Bearer {token(sim, 'shared_inbox')}"}, timeout=5)
        assert answer.headers["Content-Encoding"] == "gzip"
        assert len(answer.json()["_embedded"]["customers"][0]["updatedAt"]) == len("2024-01-01T00:00:00Z")
        # sortField=updatedAt is not Help Scout's (modifiedAt is): the probe gets the first record, not the newest
        probe = requests.get(sim.base_url("shared_inbox") + "/v2/customers", params={"sortField": "updatedAt", "sortOrder": "desc", "limit": 1},
                             headers={"Authorization": f"Bearer {token(sim, 'shared_inbox')}"}, timeout=5).json()
        assert probe["_embedded"]["customers"][0]["id"] == sim.records("shared_inbox", "customers")[0]["id"]
        graph = requests.get(sim.base_url("directory") + "/v1/resource/users/delta", params={"$top": 5, "$select": "id,lastModifiedDateTime"},  # users: default set without $select
                             headers={"Authorization": f"Bearer {token(sim, 'directory')}"}, timeout=5)
        assert graph.headers["Content-Encoding"] == "gzip"
        assert len(graph.json()["value"]) == 100  # $top is not supported on delta queries
        assert len(graph.json()["value"][0]["lastModifiedDateTime"]) == len("2024-01-01T00:00:00Z")


def test_freshdesk_and_camelcase_desks() -> None:
    with flavoured(service_desk="freshdesk") as sim:
        auth = (sim.credentials["service_desk"]["api_key"], "X")
        tickets = requests.get(sim.base_url("service_desk") + "/v1/tickets", params={"per_page": 100, "updated_since": "2000-01-01T00:00:00Z"},
                               auth=auth, timeout=5)
        assert 'rel="next"' in tickets.headers["Link"] and "page=2" in tickets.headers["Link"]
        probe = requests.get(sim.base_url("service_desk") + "/v1/contacts", params={"order_by": "updated_at", "order_type": "desc", "per_page": 1},
                             auth=auth, timeout=5)
        assert probe.status_code == 400 and probe.json()["errors"][0]["code"] == "invalid_field"  # no order_by on Freshdesk contacts
    with flavoured(service_desk="camelcase") as sim:
        auth = (sim.credentials["service_desk"]["api_key"], "X")
        row = requests.get(sim.base_url("service_desk") + "/v1/tickets", params={"per_page": 1}, auth=auth, timeout=5).json()["data"][0]
        assert "updated_at" not in row and "updatedAt" in row and "createdAt" in row
        assert row == sim.records("service_desk", "tickets")[0]


def test_an_epoch_cursor_sent_back_filters_like_an_iso_one(sim: Simulator) -> None:
    from restsync_dagster.simulator.apis import parse_moment

    iso_moment = parse_moment("2024-06-01T00:00:00Z")
    assert parse_moment(str(int(iso_moment.timestamp()))) == iso_moment == parse_moment(str(int(iso_moment.timestamp() * 1000)))


def test_cli_selects_flavours() -> None:
    from restsync_dagster.simulator.__main__ import parse_flavors

    assert parse_flavors(["ticket_desk:zoho", "messaging:drift"]) == {"ticket_desk": "zoho", "messaging": "drift"}
    with pytest.raises(SystemExit):
        parse_flavors(["ticket_desk"])
    with pytest.raises(SystemExit, match="has no flavour"):
        simulator_main(["--port", "0", "--login-port", "0", "--flavor", "ticket_desk:nope"])
    from restsync_dagster.cli.commands import build_parser

    args = build_parser().parse_args(["simulate", "--flavor", "ticket_desk:zoho", "--", "--port", "0"])
    assert args.flavor == ["ticket_desk:zoho"] and args.simulator_args[-2:] == ["--port", "0"]
