"""The `freshdesk` (service_desk) and `helpscout` (shared_inbox) flavours answer as the real vendors do
(docs/vendors.md sections 1 and 2), and the shipped configs load them exactly: what the server saw,
what it answered, what landed in DuckDB."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

import duckdb
import pytest
import requests

from restsync_dagster.load.destination import duckdb_path
from restsync_dagster.simulator import Simulator
from restsync_dagster.simulator.data import parse_iso
from restsync_dagster_tests.support.expected import assert_matches_simulator
from restsync_dagster_tests.support.helpers import run_assets, shipped, table_rows

COUNTS = {"service_desk.tickets": 210, "service_desk.contacts": 150, "service_desk.satisfaction_ratings": 40,
          "shared_inbox.conversations": 120, "shared_inbox.customers": 110}
LONG_AGO = "2000-01-01T00:00:00Z"


@pytest.fixture
def vendors(workdir: object, monkeypatch: pytest.MonkeyPatch) -> Iterator[Simulator]:
    """One simulator answering service_desk as Freshdesk and shared_inbox as Help Scout, the shipped
    configs pointed at it."""
    with Simulator(port=0, login_port=0, scale=0.02, counts=COUNTS, flavors={"service_desk": "freshdesk", "shared_inbox": "helpscout"}) as sim:
        for key, value in sim.env().items():
            monkeypatch.setenv(key, value)
        yield sim


def desk(sim: Simulator, path: str, **params: Any) -> requests.Response:
    return requests.get(sim.base_url("service_desk") + path, params=params, auth=(sim.credentials["service_desk"]["api_key"], "X"), timeout=5)


def inbox(sim: Simulator, path: str, **params: Any) -> requests.Response:
    creds = sim.credentials["shared_inbox"]
    form = {"grant_type": "client_credentials", "client_id": creds["client_id"], "client_secret": creds["client_secret"]}
    token = requests.post(str(sim.token_url("shared_inbox")), data=form, timeout=5).json()["access_token"]
    return requests.get(sim.base_url("shared_inbox") + path, params=params, headers={"Authorization": f"Bearer {token}"}, timeout=5)


def requests_to(sim: Simulator, api: str, resource: str) -> list[dict[str, Any]]:
    return [e for e in sim.request_log if e["api"] == api and e["resource"] == resource]


# --- Freshdesk ------------------------------------------------------------------------------------------
def test_freshdesk_lists_bare_arrays_and_settings_as_a_bare_object_without_id(vendors: Simulator) -> None:
    agents = desk(vendors, "/v1/agents", per_page=100).json()
    assert isinstance(agents, list) and [a["id"] for a in agents] == [a["id"] for a in vendors.records("service_desk", "agents")]
    settings = desk(vendors, "/v1/settings/helpdesk").json()
    assert settings == {"primary_language": "en", "supported_languages": ["de", "fr", "es"], "portal_languages": ["en", "de"]}
    assert vendors.records("service_desk", "settings") == [settings]


@pytest.mark.parametrize(("path", "params", "field"), [
    ("/v1/contacts", {"order_by": "updated_at", "order_type": "desc"}, "order_by"),  # contacts have no sort
    ("/v1/agents", {"per_page": "10", "limit": "10"}, "limit"),
    ("/v1/surveys/satisfaction_ratings", {"updated_since": LONG_AGO}, "updated_since"),
    ("/v1/tickets", {"sortField": "updated_at"}, "sortField"),
], ids=["contacts order_by", "agents limit", "ratings updated_since", "tickets sortField"])
def test_freshdesk_answers_400_invalid_field_to_a_parameter_the_endpoint_does_not_know(
    vendors: Simulator, path: str, params: dict[str, str], field: str,
) -> None:
    answer = desk(vendors, path, **params)
    assert answer.status_code == 400
    assert answer.json() == {"description": "Validation failed",
                             "errors": [{"field": field, "message": "Unexpected/invalid field in request", "code": "invalid_field"}]}
    assert requests_to(vendors, "service_desk", path.rsplit("/", 1)[-1] if "ratings" not in path else "satisfaction_ratings")[-1]["status"] == 400


def test_freshdesk_accepts_each_endpoints_own_parameters(vendors: Simulator) -> None:
    assert desk(vendors, "/v1/tickets", updated_since=LONG_AGO, order_by="updated_at", order_type="asc", include="description", page=2, per_page=100).status_code == 200
    assert desk(vendors, "/v1/contacts", _updated_since=LONG_AGO, state="blocked", per_page=100).status_code == 200
    assert desk(vendors, "/v1/surveys/satisfaction_ratings", created_since=LONG_AGO, per_page=100).status_code == 200
    too_big = desk(vendors, "/v1/agents", per_page=101)
    assert too_big.status_code == 400 and too_big.json()["errors"][0]["field"] == "per_page"


def test_freshdesk_refuses_tickets_past_page_300(vendors: Simulator) -> None:
    assert desk(vendors, "/v1/tickets", updated_since=LONG_AGO, page=300, per_page=100).json() == []  # the last page it serves
    past = desk(vendors, "/v1/tickets", updated_since=LONG_AGO, page=301, per_page=100)
    assert past.status_code == 400
    assert past.json()["errors"][0]["field"] == "page" and "beyond the 300th page" in past.json()["errors"][0]["message"]


def test_freshdesk_lists_only_last_30_days_of_tickets_and_ratings_without_their_filter(vendors: Simulator) -> None:
    vendors.mutate("service_desk", "tickets", inserts=8)
    vendors.mutate("service_desk", "satisfaction_ratings", inserts=8)
    month_ago = datetime.now(timezone.utc) - timedelta(days=30)
    for path, resource, param in (("/v1/tickets", "tickets", "updated_since"), ("/v1/surveys/satisfaction_ratings", "satisfaction_ratings", "created_since")):
        everything = vendors.records("service_desk", resource)
        recent = desk(vendors, path, per_page=100).json()
        assert recent and all(parse_iso(r["created_at"]) >= month_ago for r in recent)
        assert len(recent) == sum(parse_iso(r["created_at"]) >= month_ago for r in everything) < len(everything)
        pages = [desk(vendors, path, per_page=100, page=n, **{param: LONG_AGO}).json() for n in (1, 2, 3)]
        assert sorted(r["id"] for page in pages for r in page) == sorted(r["id"] for r in everything)


def test_freshdesk_hides_blocked_and_deleted_contacts_unless_state_asks(vendors: Simulator) -> None:
    stored = vendors.store.records("service_desk", "contacts")
    listed = desk(vendors, "/v1/contacts", per_page=100).json() + desk(vendors, "/v1/contacts", per_page=100, page=2).json()
    assert {r["state"] for r in listed} <= {"verified", "unverified"} and len(listed) < len(stored)
    assert sorted(r["id"] for r in listed) == sorted(r["id"] for r in vendors.records("service_desk", "contacts"))
    blocked = desk(vendors, "/v1/contacts", per_page=100, state="blocked").json()
    deleted = desk(vendors, "/v1/contacts", per_page=100, state="deleted").json()
    assert blocked and {r["state"] for r in blocked} == {"blocked"}
    assert deleted and {(r["state"], r["deleted"]) for r in deleted} == {("deleted", True)}
    assert len(listed) + len(blocked) + len(deleted) == len(stored)


def test_service_desk_loads_freshdesk_exactly_sending_only_parameters_it_knows(vendors: Simulator) -> None:
    api = shipped("service_desk")
    assert run_assets(api).success
    assert_matches_simulator(vendors, api)
    served = [e for e in vendors.request_log if e["api"] == "service_desk"]
    assert served and not [e for e in served if e["status"] != 200], "a request Freshdesk refused"
    tickets = requests_to(vendors, "service_desk", "tickets")
    assert all(e["query"]["updated_since"] == LONG_AGO and e["query"]["order_type"] == "asc" and e["query"]["include"] == "description" for e in tickets)
    assert all(e["query"]["created_since"] == LONG_AGO for e in requests_to(vendors, "service_desk", "satisfaction_ratings"))
    # the bare settings object is the row: its languages, no id (replaced whole, keyless)
    assert table_rows("service_desk", "settings", "primary_language") == [("en",)]
    with duckdb.connect(str(duckdb_path("service_desk")), read_only=True) as con:
        columns = {row[0] for row in con.execute('DESCRIBE "service_desk"."settings"').fetchall()}
    assert "id" not in columns and "primary_language" in columns
    states = {row[0] for row in table_rows("service_desk", "contacts", "state")}
    assert states <= {"verified", "unverified"}

    # changes: updated and new tickets come with the cursor's updated_since, the ratings with created_since again
    vendors.clear_request_log()
    vendors.mutate("service_desk", "tickets", updates=4, inserts=3)
    vendors.mutate("service_desk", "satisfaction_ratings", updates=2, inserts=2)
    assert run_assets(api, ["tickets", "satisfaction_ratings", "contacts"]).success
    assert not [e for e in vendors.request_log if e["api"] == "service_desk" and e["status"] != 200]
    assert requests_to(vendors, "service_desk", "tickets")[0]["query"]["updated_since"] > LONG_AGO
    for name in ("tickets", "satisfaction_ratings"):
        assert sorted(row[0] for row in table_rows("service_desk", name, "id")) == sorted(r["id"] for r in vendors.records("service_desk", name))


# --- Help Scout -------------------------------------------------------------------------------------------
def test_helpscout_pages_are_fixed_25_conversations_50_elsewhere_and_limit_is_ignored(vendors: Simulator) -> None:
    conversations = inbox(vendors, "/v2/conversations", status="all", limit=100).json()
    assert len(conversations["_embedded"]["conversations"]) == 25 and conversations["page"]["size"] == 25
    assert conversations["page"]["totalPages"] == 120 // 25 + 1
    customers = inbox(vendors, "/v2/customers", limit=5).json()
    assert len(customers["_embedded"]["customers"]) == 50 and customers["page"]["totalPages"] == 3
    # the next link carries the query as sent and the page, no size
    assert conversations["_links"]["next"]["href"].endswith("/v2/conversations?status=all&page=2")
    assert "limit" not in customers["_links"]["next"]["href"]


def test_helpscout_lists_only_active_conversations_unless_status_all(vendors: Simulator) -> None:
    def walk(**params: str) -> list[dict[str, Any]]:
        rows, page = [], 1
        while True:
            body = inbox(vendors, "/v2/conversations", page=page, **params).json()
            rows += body["_embedded"]["conversations"]
            if page >= body["page"]["totalPages"]:
                return rows
            page += 1

    active, everything, closed = walk(), walk(status="all"), walk(status="closed")
    assert active and {r["status"] for r in active} == {"active"}
    assert {r["status"] for r in everything} == {"active", "pending", "closed"}
    assert closed and {r["status"] for r in closed} == {"closed"}
    assert sorted(r["id"] for r in everything) == sorted(r["id"] for r in vendors.records("shared_inbox", "conversations"))
    assert len(active) < len(everything)


def test_helpscout_change_times_and_sort_are_its_own(vendors: Simulator) -> None:
    conversation = inbox(vendors, "/v2/conversations", status="all").json()["_embedded"]["conversations"][0]
    assert "updatedAt" not in conversation and len(conversation["userUpdatedAt"]) == len("2024-01-01T00:00:00Z")
    workflow = inbox(vendors, "/v2/workflows").json()["_embedded"]["workflows"][0]
    assert "updatedAt" not in workflow and "modifiedAt" in workflow
    assert "updatedAt" in inbox(vendors, "/v2/customers").json()["_embedded"]["customers"][0]
    newest = max(vendors.records("shared_inbox", "customers"), key=lambda r: r["updatedAt"])
    assert inbox(vendors, "/v2/customers", sortField="modifiedAt", sortOrder="desc").json()["_embedded"]["customers"][0]["id"] == newest["id"]
    unknown = inbox(vendors, "/v2/customers", sortField="updatedAt", sortOrder="desc").json()["_embedded"]["customers"][0]
    assert unknown["id"] == vendors.records("shared_inbox", "customers")[0]["id"]  # not a sortField of Help Scout's


def test_shared_inbox_loads_helpscout_exactly_closed_conversations_included(vendors: Simulator) -> None:
    api = shipped("shared_inbox")
    assert run_assets(api).success
    assert_matches_simulator(vendors, api)
    served = [e for e in vendors.request_log if e["api"] == "shared_inbox" and e["resource"]]
    assert served and not [e for e in served if "limit" in e["query"]], "a page size Help Scout does not have"
    conversations = requests_to(vendors, "shared_inbox", "conversations")
    assert all(e["query"]["status"] == "all" and e["query"]["sortField"] == "modifiedAt" for e in conversations)
    assert set(range(1, 120 // 25 + 2)) <= {int(e["query"]["page"]) for e in conversations}  # 5 pages of 25 (read-ahead may ask past)
    statuses = {row[0] for row in table_rows("shared_inbox", "conversations", "status")}
    assert statuses == {"active", "pending", "closed"}
    assert table_rows("shared_inbox", "conversations", "max(user_updated_at) IS NOT NULL") == [(True,)]

    # a change: the next run asks modifiedSince from the userUpdatedAt cursor, with status=all still
    vendors.clear_request_log()
    vendors.mutate("shared_inbox", "conversations", updates=3, inserts=2)
    assert run_assets(api, ["conversations"]).success
    first = requests_to(vendors, "shared_inbox", "conversations")[0]["query"]
    assert first["status"] == "all" and first["modifiedSince"] > "2024-01-01T00:00:00Z"
    assert sorted(row[0] for row in table_rows("shared_inbox", "conversations", "id")) == sorted(
        r["id"] for r in vendors.records("shared_inbox", "conversations"))
