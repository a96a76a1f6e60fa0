"""The Drift, Zoho Desk and Microsoft Graph flavours answer as those vendors document (docs/vendors.md
§3-5), on the wire and through the shipped configs: requests the server saw, rows in DuckDB."""

from __future__ import annotations

from typing import Any, Iterator

import pytest
import requests

from restsync_dagster.simulator import Simulator
from restsync_dagster_tests.support.expected import expected_keys, loaded_keys
from restsync_dagster_tests.support.helpers import run_assets, shipped, table_rows
from restsync_dagster_tests.support.simulator_tokens import token

COUNTS = {"messaging.accounts": 120, "messaging.conversations": 130, "ticket_desk.tickets": 120,
          "ticket_desk.organizations": 3, "directory.users": 150, "directory.groups": 30, "messaging.contacts": 14}


@pytest.fixture
def vendors() -> Iterator[Simulator]:
    flavors = {"messaging": "drift", "ticket_desk": "zoho", "directory": "graph"}
    with Simulator(port=0, login_port=0, scale=0.02, counts=COUNTS, flavors=flavors) as sim:
        yield sim


def _get(sim: Simulator, api: str, path: str, scheme: str = "Bearer", headers: Any = None, **params: Any) -> requests.Response:
    bearer = sim.credentials[api]["access_token"] if api == "messaging" else token(sim, api)
    url = path if path.startswith("http") else (f"http://127.0.0.1:{sim.port}{path}" if path.startswith(f"/{api}/") else sim.base_url(api) + path)
    return requests.get(url, params=params or None, headers={"Authorization": f"{scheme} {bearer}", **(headers or {})}, timeout=5)


# --- Drift -------------------------------------------------------------------------------------------
def test_drift_accounts_have_no_id_only_a_unique_account_id_and_epoch_ms_times(vendors: Simulator) -> None:
    accounts = _get(vendors, "messaging", "/v1/accounts", size=65).json()["data"]["accounts"]
    assert accounts and all("id" not in a for a in accounts)
    assert len({a["accountId"] for a in accounts}) == len(accounts)
    assert all(isinstance(a["createDateTime"], int) and a["createDateTime"] > 10**12 for a in accounts)
    assert all("updateDateTime" in a and "updatedAt" not in a for a in accounts)


def test_drift_accounts_page_by_index_and_size_with_data_next_and_total(vendors: Simulator) -> None:
    first = _get(vendors, "messaging", "/v1/accounts", limit=100).json()["data"]  # limit means nothing to accounts
    assert len(first["accounts"]) == 10 and first["total"] == 120  # size defaults to 10
    assert first["next"] == "/messaging/v1/accounts?index=10&size=10"  # a path, no host
    assert len(_get(vendors, "messaging", "/v1/accounts", size=500).json()["data"]["accounts"]) == 65  # max 65
    seen, path = [], "/v1/accounts?index=0&size=50"
    while path:
        data = _get(vendors, "messaging", path).json()["data"]
        seen += [a["accountId"] for a in data["accounts"]]
        path = data.get("next")
    assert sorted(seen) == sorted(r["accountId"] for r in vendors.records("messaging", "accounts"))
    ignored = _get(vendors, "messaging", "/v1/accounts", next="anything", size=10).json()["data"]
    assert ignored["accounts"][0]["accountId"] == first["accounts"][0]["accountId"]


def test_drift_conversations_newest_updated_first_capped_at_50_without_a_since_filter(vendors: Simulator) -> None:
    body = _get(vendors, "messaging", "/v1/conversations", limit=100, order="asc", updated_after="2030-01-01T00:00:00Z").json()
    times = [c["updatedAt"] for c in body["data"]]
    assert len(times) == 50 and times == sorted(times, reverse=True)  # newest first whatever was asked
    assert body["pagination"]["more"] is True and body["pagination"]["next"] and "next" not in body
    rows, cursor = list(body["data"]), body["pagination"]["next"]
    while cursor:
        page = _get(vendors, "messaging", "/v1/conversations", limit=50, next=cursor).json()
        rows += page["data"]
        cursor = page.get("pagination", {}).get("next")
    assert "pagination" not in page  # the last page carries none
    assert len(rows) == 130  # updated_after=2030 filtered nothing


def test_intercom_accounts_still_carry_their_id() -> None:
    with Simulator(port=0, login_port=0, scale=0.02, flavors={"messaging": "intercom"}) as sim:
        body = _get(sim, "messaging", "/v1/accounts", per_page=5).json()
        assert "pages" in body and all("id" in a for a in body["data"]["accounts"])


# --- Zoho Desk ---------------------------------------------------------------------------------------
def test_zoho_pages_from_1_with_limit_and_answers_204_past_the_end(vendors: Simulator) -> None:
    served = [t["id"] for t in vendors.records("ticket_desk", "tickets")]
    assert [t["id"] for t in _get(vendors, "ticket_desk", "/tickets", **{"from": 1, "limit": 50}).json()["data"]] == served[:50]
    assert [t["id"] for t in _get(vendors, "ticket_desk", "/tickets", **{"from": 51, "limit": 50}).json()["data"]] == served[50:100]
    assert [t["id"] for t in _get(vendors, "ticket_desk", "/tickets", offset=50, limit=50).json()["data"]] == served[:50]  # offset unknown
    past = _get(vendors, "ticket_desk", "/tickets", **{"from": 121, "limit": 50})
    assert past.status_code == 204 and past.content == b""


def test_zoho_organizations_are_not_paged_and_tickets_have_no_modified_after_filter(vendors: Simulator) -> None:
    organizations = _get(vendors, "ticket_desk", "/organizations", **{"from": 2, "limit": 1}).json()["data"]
    assert len(organizations) == 3
    tickets = _get(vendors, "ticket_desk", "/tickets", modifiedAfter="2030-01-01T00:00:00.000Z", limit=50).json()["data"]
    assert len(tickets) == 50


def test_zoho_accepts_the_zoho_oauthtoken_scheme_and_needs_no_org_id(vendors: Simulator) -> None:
    assert _get(vendors, "ticket_desk", "/agents", scheme="Zoho-oauthtoken").status_code == 200
    assert _get(vendors, "ticket_desk", "/agents", scheme="Zoho-oauthtoken", headers={"orgId": "1"}).status_code == 200


# --- Microsoft Graph ---------------------------------------------------------------------------------
def test_graph_delta_ignores_top_and_honours_prefer_maxpagesize(vendors: Simulator) -> None:
    assert len(_get(vendors, "directory", "/v1/resource/users/delta", **{"$top": 7}).json()["value"]) == 100
    prefer = {"Prefer": "odata.maxpagesize=20"}
    assert len(_get(vendors, "directory", "/v1/resource/users/delta", headers=prefer, **{"$top": 7}).json()["value"]) == 20
    assert len(_get(vendors, "directory", "/v1/resource/users", headers=prefer).json()["value"]) == 20
    assert len(_get(vendors, "directory", "/v1/resource/users", headers=prefer, **{"$top": 7}).json()["value"]) == 7


def test_graph_select_returns_only_those_properties_and_is_carried_in_next_and_delta_links(vendors: Simulator) -> None:
    plain = _get(vendors, "directory", "/v1/resource/users/delta").json()["value"][0]
    assert "accountEnabled" not in plain and "displayName" in plain  # the default property set
    page = _get(vendors, "directory", "/v1/resource/users/delta", **{"$select": "displayName,accountEnabled"}).json()
    assert all(set(user) == {"id", "displayName", "accountEnabled"} for user in page["value"])
    while "@odata.nextLink" in page:
        assert "select" in page["@odata.nextLink"]
        page = _get(vendors, "directory", page["@odata.nextLink"]).json()
        assert all(set(user) <= {"id", "displayName", "accountEnabled"} for user in page["value"])
    assert "$select=displayName,accountEnabled" in page["@odata.deltaLink"]


def test_graph_change_round_opens_with_an_empty_page_and_reports_removals_as_changed(vendors: Simulator) -> None:
    page = _get(vendors, "directory", "/v1/resource/groups/delta", headers={"Prefer": "odata.maxpagesize=999"}).json()
    link = page["@odata.deltaLink"]
    changed = vendors.mutate("directory", "groups", updates=2, deletes=1)
    first = _get(vendors, "directory", link).json()
    assert first["value"] == [] and "@odata.nextLink" in first and "@odata.deltaLink" not in first
    entries = _get(vendors, "directory", first["@odata.nextLink"]).json()["value"]
    removed = [e for e in entries if "@removed" in e]
    assert [e["id"] for e in removed] == changed["deleted"] and removed[0]["@removed"] == {"reason": "changed"}
    assert {e["id"] for e in entries if "@removed" not in e} == set(changed["updated"])


# --- the shipped configs against them ---------------------------------------------------------------
@pytest.fixture
def vendor_env(vendors: Simulator, workdir: object, monkeypatch: pytest.MonkeyPatch) -> Simulator:
    for key, value in vendors.env().items():
        monkeypatch.setenv(key, value)
    return vendors


def test_directory_loads_from_graph_with_select_and_prefer(vendor_env: Simulator) -> None:
    api = shipped("directory")
    assert run_assets(api, raise_on_error=False).success
    for resource in api.resources:
        assert loaded_keys(api, resource) == expected_keys(vendor_env, api, resource)
    users = [e for e in vendor_env.request_log if e["api"] == "directory" and e["resource"] == "users"]
    assert users and "$top" not in users[0]["query"]  # the round the client starts asks no $top (later links are the server's)
    assert "accountEnabled" in users[0]["query"]["$select"]
    assert table_rows("directory", "users", "count(account_enabled)")[0][0] == 150  # selected, so loaded


def test_ticket_desk_loads_from_zoho_organizations_in_one_request(vendor_env: Simulator) -> None:
    api = shipped("ticket_desk")
    assert run_assets(api, raise_on_error=False).success
    for resource in api.resources:
        assert loaded_keys(api, resource) == expected_keys(vendor_env, api, resource)
    asked = [e for e in vendor_env.request_log if e["api"] == "ticket_desk"]
    assert len([e for e in asked if e["resource"] == "organizations"]) == 1
    assert any("from" in e["query"] for e in asked if e["resource"] == "tickets")  # the client moved to `from`


def test_messaging_loads_drift_accounts_keyed_on_account_id(vendor_env: Simulator) -> None:
    api = shipped("messaging")
    result = run_assets(api, resources=["accounts"], raise_on_error=False)
    assert result.success
    assert loaded_keys(api, api.resource("accounts")) == expected_keys(vendor_env, api, api.resource("accounts"))
    asked = [e["query"] for e in vendor_env.request_log if e["api"] == "messaging" and e["resource"] == "accounts"]
    assert [q.get("index", "0") for q in asked] == ["0", "50", "100"]
