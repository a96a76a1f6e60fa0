"""Every fault the simulator injects, against the real client: nothing lost, nothing duplicated, clear errors.

Each test materializes shipped configs (sometimes with quicker retries) against the session
simulator with a fault injected, then checks the rows in DuckDB against what the simulator serves,
the requests in the simulator's log, and the failure message.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Iterator

import pytest
import requests

from restsync_dagster.config.model import ApiConfig, Resource
from restsync_dagster.config.settings import resolve_client
from restsync_dagster.http.auth import build_auth
from restsync_dagster.http.session import ApiSession
from restsync_dagster.simulator import Simulator
from restsync_dagster_tests.conftest import PROJECT_ROOT
from restsync_dagster_tests.support.faults_helpers import (
    QUICK,
    assert_exact,
    failure_text,
    ids_of,
    loaded_ids,
    log_for,
    materialization_metadata,
    resource_handling,
    served_ids,
    statuses,
    with_client,
    with_handling,
    with_resource,
)
from restsync_dagster_tests.support.helpers import (
    run_assets,
    shipped,
    table_exists,
    table_rows,
)


@pytest.fixture
def own_sim(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Simulator]:
    """A simulator of the test's own, for tests that change many records: the session simulator's
    data must stay as the incremental tests expect (few recent changes)."""
    with Simulator(port=0, login_port=0) as sim:
        for key, value in sim.env().items():
            monkeypatch.setenv(key, value)
        yield sim


# --- retries ---------------------------------------------------------------------------------------


def test_bursts_of_5xx_and_429_are_retried_and_nothing_is_lost(sim_env: Simulator) -> None:
    api = with_handling(shipped("service_desk"), **QUICK)
    # the second page of agents, and the first pages of three others, fail twice each
    sim_env.inject_fault("service_desk", "status", "agents", count=2, status=500, after=1)
    sim_env.inject_fault("service_desk", "status", "companies", count=2, status=502)
    sim_env.inject_fault("service_desk", "status", "groups", count=2, status=503)
    sim_env.inject_fault("service_desk", "status", "roles", count=2, status=504)
    sim_env.inject_fault("service_desk", "status", "skills", count=3, status=429)
    names = ["agents", "companies", "groups", "roles", "skills"]
    result = run_assets(api, names)
    assert result.success
    for name in names:
        assert_exact(sim_env, "service_desk", name)
    assert statuses(sim_env, "service_desk", "agents") == [200, 500, 500, 200]
    assert statuses(sim_env, "service_desk", "skills") == [429, 429, 429, 200]
    assert materialization_metadata(result, "skills")["retries"] == 3


def recorded_waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The waits the HTTP session asks for, recorded instead of slept (no timing in the test)."""
    waits: list[float] = []
    monkeypatch.setattr(ApiSession, "_sleep", staticmethod(waits.append))
    return waits


def test_backoff_follows_the_config_without_retry_after(sim_env: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    api = with_handling(shipped("service_desk"), backoff_factor=0.4, max_retries=2)
    sim_env.inject_fault("service_desk", "status", "roles", count=2, status=429)
    waits = recorded_waits(monkeypatch)
    assert run_assets(api, ["roles"]).success
    assert statuses(sim_env, "service_desk", "roles") == [429, 429, 200]
    # exponential: backoff_factor * 2**attempt (plus jitter)
    assert len(waits) == 2 and waits[0] >= 0.4 and waits[1] >= 0.8


@pytest.mark.parametrize("form", ["seconds", "http-date"])
def test_retry_after_is_honoured_as_seconds_and_as_http_date(sim_env: Simulator, form: str, monkeypatch: pytest.MonkeyPatch) -> None:
    api = with_handling(shipped("service_desk"), backoff_factor=0.0)  # without Retry-After: no wait at all
    params = {"retry_after": "2"} if form == "seconds" else {"retry_after": "date", "retry_after_seconds": 2}
    sim_env.inject_fault("service_desk", "status", "roles", count=1, status=429, **params)
    waits = recorded_waits(monkeypatch)
    assert run_assets(api, ["roles"]).success
    assert statuses(sim_env, "service_desk", "roles") == [429, 200]
    assert len(waits) == 1 and waits[0] >= 1.0  # an HTTP date has whole seconds: at least 1 s of the 2 remain
    assert_exact(sim_env, "service_desk", "roles")


def test_retry_after_longer_than_max_retry_wait_fails_at_once_and_others_load(sim_env: Simulator) -> None:
    api = shipped("service_desk")
    sim_env.inject_fault("service_desk", "status", "agents", count=1, status=429, retry_after="3600")
    result = run_assets(api, ["agents", "roles"], raise_on_error=False)
    assert not result.success
    text = failure_text(result)
    assert "API 'service_desk', resource 'agents'" in text and "/service_desk/v1/agents" in text
    assert "Retry-After of 3600s" in text and "max_retry_wait" in text
    assert statuses(sim_env, "service_desk", "agents") == [429]
    assert_exact(sim_env, "service_desk", "roles")


def test_exhausted_retries_fail_naming_api_resource_path_and_status_and_others_load(sim_env: Simulator) -> None:
    api = with_handling(shipped("service_desk"), backoff_factor=0.0, max_retries=2)
    sim_env.inject_fault("service_desk", "status", "agents", count=-1, status=503)
    result = run_assets(api, ["agents", "roles", "groups"], raise_on_error=False)
    assert not result.success
    text = failure_text(result)
    assert "API 'service_desk', resource 'agents': GET /service_desk/v1/agents answered 503" in text
    assert "after 3 attempt(s)" in text
    assert sim_env.credentials["service_desk"]["api_key"] not in text
    assert statuses(sim_env, "service_desk", "agents") == [503, 503, 503]
    assert not table_exists("service_desk", "agents")
    assert_exact(sim_env, "service_desk", "roles")
    assert_exact(sim_env, "service_desk", "groups")


def test_slow_responses_time_out_and_are_retried(sim_env: Simulator) -> None:
    api = with_handling(shipped("ticket_desk"), backoff_factor=0.0, timeout=0.5)
    sim_env.inject_fault("ticket_desk", "slow", "tickets", count=2, seconds=1.5, after=3)
    assert run_assets(api, ["tickets"]).success
    assert_exact(sim_env, "ticket_desk", "tickets")
    # both slow answers were served (they are logged only when sent, after the client gave up)
    assert [f.remaining for f in sim_env.state.faults if f.kind == "slow"] == [0]
    # and each slow answer was followed by one more request for its page: the retries (the second
    # slow answer may be the first one's retry). A slow answer enters the log when the server sends
    # it, 1.5 s after it began: wait for both.
    def asked_again() -> int:
        asked = Counter(json.dumps(e["query"], sort_keys=True) for e in log_for(sim_env, "ticket_desk", "tickets"))
        return sum(times - 1 for times in asked.values())

    deadline = time.monotonic() + 10
    while asked_again() < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert asked_again() == 2


def test_dropped_connections_are_retried(sim_env: Simulator) -> None:
    api = with_handling(shipped("directory"), **QUICK)
    sim_env.inject_fault("directory", "drop", "users", count=2, after=2)
    assert run_assets(api, ["users"]).success
    assert_exact(sim_env, "directory", "users")
    assert statuses(sim_env, "directory", "users").count(0) == 2


# --- OAuth2 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("api_name", "resource"), [("shared_inbox", "customers"), ("ticket_desk", "tickets"), ("directory", "users")])
def test_a_token_expiring_mid_run_is_renewed_once_without_restarting(sim_env: Simulator, api_name: str, resource: str) -> None:
    """Client-credentials (shared_inbox, directory with scope) and refresh-token (ticket_desk) grants."""
    issued = sim_env.tokens_issued
    sim_env.inject_fault(api_name, "expire_token", resource, after=4)
    api = shipped(api_name)
    result = run_assets(api, [resource])
    assert result.success
    assert_exact(sim_env, api_name, resource)
    seen = statuses(sim_env, api_name, resource)
    # the requests in flight with the expired token (read-ahead) are each refused once, then resent
    assert seen[:4] == [200] * 4 and seen[4] == 401
    assert 1 <= seen.count(401) <= 1 + api.client.read_ahead_pages
    pages = [e for e in log_for(sim_env, api_name, resource) if e["status"] == 200]
    assert len(pages) == len({str(sorted(e["query"].items())) for e in pages}), "a page was fetched twice: the run restarted"
    assert sim_env.tokens_issued - issued == 2
    assert materialization_metadata(result, resource)["token_renewals"] == 1


def test_parallel_children_share_one_token_renewal(sim_env: Simulator) -> None:
    api = shipped("shared_inbox")
    assert run_assets(api, ["conversations"]).success
    sim_env.clear_request_log()
    issued = sim_env.tokens_issued
    sim_env.inject_fault("shared_inbox", "expire_token", "conversation_threads", after=40)
    assert run_assets(api, ["conversation_threads"]).success
    assert sim_env.tokens_issued - issued == 2  # the run's first token and exactly one renewal
    assert statuses(sim_env, "shared_inbox", "conversation_threads").count(401) >= 1
    expected = sorted(str(c["id"]) for children in sim_env.children_by_parent("shared_inbox", "conversation_threads").values() for c in children)
    assert ids_of(table_rows("shared_inbox", "conversation_threads", "id")) == expected


def test_a_request_retried_after_a_wait_is_signed_with_the_current_token(sim_env: Simulator) -> None:
    """dlt resends a retried request as first signed; after a long wait that token may be gone."""
    api = shipped("shared_inbox")
    client = resolve_client(api)
    auth = build_auth(api.name, client)
    waiting = ApiSession("shared_inbox", "customers", client.base_url, auth, api.error_handling)
    other = ApiSession("shared_inbox", "users", client.base_url, auth, api.error_handling)
    sim_env.inject_fault("shared_inbox", "status", "customers", count=1, status=503, retry_after="3")
    outcome: dict[str, int] = {}

    def slow_request() -> None:
        outcome["status"] = waiting.get(client.base_url + "/v2/customers", timeout=10).status_code

    thread = threading.Thread(target=slow_request)
    thread.start()
    # while it waits out Retry-After, another request finds the token revoked and renews it
    for _ in range(100):
        if log_for(sim_env, "shared_inbox", "customers"):
            break
        time.sleep(0.05)
    sim_env.inject_fault("shared_inbox", "expire_token", "users")
    assert other.get(client.base_url + "/v2/users", timeout=10).status_code == 200
    thread.join(timeout=20)
    waiting.close()
    other.close()
    assert outcome == {"status": 200}
    assert statuses(sim_env, "shared_inbox", "users") == [401, 200]
    assert statuses(sim_env, "shared_inbox", "customers") == [503, 200]  # no 401: re-signed before resending


def test_a_failing_token_endpoint_is_retried(sim_env: Simulator) -> None:
    sim_env.inject_fault("ticket_desk", "token_endpoint_error", count=2, status=503)
    assert run_assets(shipped("ticket_desk"), ["agents"]).success
    assert_exact(sim_env, "ticket_desk", "agents")


def test_a_token_endpoint_that_keeps_failing_fails_clearly(sim_env: Simulator) -> None:
    sim_env.inject_fault("shared_inbox", "token_endpoint_error", count=-1, status=500)
    result = run_assets(shipped("shared_inbox"), ["users"], raise_on_error=False)
    assert not result.success
    text = failure_text(result)
    assert "API 'shared_inbox': token endpoint" in text and "500" in text
    assert sim_env.credentials["shared_inbox"]["client_secret"] not in text


# --- pagination ---------------------------------------------------------------------------------------


def linked(api_name: str) -> ApiConfig:
    """The shipped config, shared_inbox paged by its HAL `_links.next.href` (the shipped one pages by
    `page` up to page.totalPages, docs/vendors.md section 1): the next-link guards need a config that
    follows the links the faults bend."""
    api = shipped(api_name)
    if api_name != "shared_inbox":
        return api

    def by_link(resource: Resource) -> Resource:
        endpoint = resource.endpoint
        if endpoint.paginator is None or endpoint.paginator.type != "page_number":
            return resource
        hal = {"type": "json_link", "next_url_path": "_links.next.href"}
        return resource.model_copy(update={"endpoint": type(endpoint).model_validate({**endpoint.model_dump(), "paginator": hal})})

    return api.model_copy(update={"resources": tuple(by_link(r) for r in api.resources)})


@pytest.mark.parametrize(
    ("api_name", "resource"),
    [("shared_inbox", "customers"), ("service_desk", "agents"), ("directory", "users"), ("messaging", "accounts")],
    ids=["hal-json-link", "link-header", "odata-next-link", "body-cursor"],
)
def test_a_next_link_that_repeats_forever_is_stopped(sim_env: Simulator, api_name: str, resource: str) -> None:
    sim_env.inject_fault(api_name, "next_loop", resource, count=-1)
    result = run_assets(linked(api_name), [resource], raise_on_error=False)
    assert not result.success
    text = failure_text(result)
    assert f"API '{api_name}', resource '{resource}'" in text and "same next page twice" in text
    assert len(log_for(sim_env, api_name, resource)) <= 3


@pytest.mark.parametrize(("api_name", "resource"), [("shared_inbox", "customers"), ("directory", "users"), ("messaging", "accounts")])
def test_endless_empty_pages_that_announce_a_next_page_are_stopped(sim_env: Simulator, api_name: str, resource: str) -> None:
    sim_env.inject_fault(api_name, "empty_page_with_next", resource, count=-1)
    api = linked(api_name)
    result = run_assets(api, [resource], raise_on_error=False)
    assert not result.success
    assert "empty pages in a row still announce a next page" in failure_text(result)
    assert len(log_for(sim_env, api_name, resource)) <= 5 + api.client.read_ahead_pages


def test_one_empty_page_with_a_next_link_is_followed(sim_env: Simulator) -> None:
    # an empty page in the middle that still links on: the rest of the listing is fetched
    sim_env.inject_fault("directory", "empty_page_with_next", "users", count=1, after=2)
    assert run_assets(shipped("directory"), ["users"]).success
    served = served_ids(sim_env, "directory", "users")
    loaded = loaded_ids("directory", "users")
    assert len(loaded) == len(set(loaded)) and set(loaded) < set(served)
    assert len(served) - len(loaded) == 100  # exactly the page the server blanked, nothing more


def test_an_empty_first_page_loads_nothing_and_fails_nothing(sim_env: Simulator) -> None:
    sim_env.inject_fault("service_desk", "empty_page", "agents")
    result = run_assets(shipped("service_desk"), ["agents", "roles"])
    assert result.success
    assert not table_exists("service_desk", "agents") or table_rows("service_desk", "agents", "id") == []
    assert_exact(sim_env, "service_desk", "roles")


# one resource of each pagination style the five APIs use
EVERY_PAGINATOR = pytest.mark.parametrize(
    ("api_name", "resource"),
    [("ticket_desk", "tickets"), ("service_desk", "tickets"), ("service_desk", "agents"), ("shared_inbox", "customers"),
     ("directory", "users"), ("messaging", "accounts")],
    ids=["offset", "page-number", "link-header", "hal", "odata", "cursor"],
)


@EVERY_PAGINATOR
def test_a_server_capping_the_page_size_loses_nothing(sim_env: Simulator, api_name: str, resource: str) -> None:
    sim_env.inject_fault(api_name, "page_cap", resource, cap=7)
    assert run_assets(shipped(api_name), [resource]).success
    assert_exact(sim_env, api_name, resource)
    assert all(e.get("fault") == "page_cap" for e in log_for(sim_env, api_name, resource))


@EVERY_PAGINATOR
def test_the_same_record_on_two_pages_collapses_on_the_primary_key(sim_env: Simulator, api_name: str, resource: str) -> None:
    sim_env.inject_fault(api_name, "duplicate_record", resource, count=3, after=1)
    assert run_assets(shipped(api_name), [resource]).success
    assert_exact(sim_env, api_name, resource)
    assert [e.get("fault") for e in log_for(sim_env, api_name, resource)].count("duplicate_record") >= 1


# --- hostile links and ids -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["next_other_host", "next_userinfo"])
def test_a_next_link_to_another_host_or_with_userinfo_is_refused(sim_env: Simulator, kind: str) -> None:
    params = {"host": "evil.example:80"} if kind == "next_other_host" else {"userinfo": "api"}
    sim_env.inject_fault("shared_inbox", kind, "customers", **params)
    result = run_assets(linked("shared_inbox"), ["customers", "users"], raise_on_error=False)
    assert not result.success
    text = failure_text(result)
    assert "shared_inbox.customers: refused" in text
    assert ("evil.example" in text) if kind == "next_other_host" else ("userinfo" in text)
    assert statuses(sim_env, "shared_inbox", "customers") == [200]  # the link was never followed
    assert_exact(sim_env, "shared_inbox", "users")


def test_a_next_link_to_an_allowed_host_is_followed(sim_env: Simulator) -> None:
    other = f"localhost:{sim_env.port}"  # another host name for the same server
    sim_env.inject_fault("shared_inbox", "next_other_host", "customers", count=-1, host=other)
    refused = run_assets(linked("shared_inbox"), ["customers"], raise_on_error=False)
    assert not refused.success and "client.allowed_hosts" in failure_text(refused)
    api = linked("shared_inbox")
    allowed = api.model_copy(update={"client": api.client.model_copy(update={"allowed_hosts": (other,)})})
    assert run_assets(allowed, ["customers"]).success
    assert_exact(sim_env, "shared_inbox", "customers")


def test_parent_values_are_url_encoded_into_child_paths(sim_env: Simulator) -> None:
    api = resource_handling(shipped("service_desk"), "conversations", ignore_statuses=(404,), **QUICK)
    sim_env.inject_fault("service_desk", "hostile_id", "tickets", value="../admin")
    sim_env.inject_fault("service_desk", "hostile_id", "tickets", value="a/b", after=1)
    # the child alone, with its parent never loaded: the parent list is crawled live and feeds it
    result = run_assets(api, ["conversations"])
    assert result.success
    paths = [e["path"] for e in sim_env.request_log]
    assert "/service_desk/v1/tickets/..%2Fadmin/conversations" in paths
    assert "/service_desk/v1/tickets/a%2Fb/conversations" in paths
    assert all(p == "/service_desk/v1/tickets" or p.startswith("/service_desk/v1/tickets/") for p in paths), sorted(set(paths))[:5]
    assert materialization_metadata(result, "conversations")["ignored"] == 2


# --- ignored statuses, malformed bodies -------------------------------------------------------------------


@pytest.mark.parametrize("status", [403, 404])
def test_ignored_statuses_are_skipped_with_a_warning_and_counted(sim_env: Simulator, status: int, caplog: pytest.LogCaptureFixture) -> None:
    sim_env.inject_fault("directory", "status", "groups", status=status)
    result = run_assets(shipped("directory"), ["users", "groups"])
    assert result.success
    assert materialization_metadata(result, "groups")["ignored"] == 1
    assert materialization_metadata(result, "users")["ignored"] == 0
    assert_exact(sim_env, "directory", "users")
    assert any(f"answered {status}, ignored as configured" in r.getMessage() for r in caplog.records)


def test_malformed_responses_fail_clearly_and_nothing_half_parsed_is_merged(own_sim: Simulator) -> None:
    api = shipped("service_desk")
    names = ["agents", "companies", "contacts"]
    assert run_assets(api, names).success
    before = {name: sorted(table_rows("service_desk", name, "id, updated_at")) for name in names}
    for name in names:
        own_sim.mutate("service_desk", name, updates=150)  # page 1 of each now has changes
    own_sim.inject_fault("service_desk", "malformed_json", "agents", after=1)
    own_sim.inject_fault("service_desk", "truncated_json", "companies", after=1)
    own_sim.inject_fault("service_desk", "html_200", "contacts", after=1)
    result = run_assets(api, names + ["roles"], raise_on_error=False)
    assert not result.success
    text = failure_text(result)
    for name in names:
        assert f"API 'service_desk', resource '{name}': GET /service_desk/v1/{name} answered 200 with a body that is not valid JSON" in text
        assert sorted(table_rows("service_desk", name, "id, updated_at")) == before[name], f"{name}: a half-read listing was merged"
    assert "text/html" in text
    assert_exact(own_sim, "service_desk", "roles")


# --- schema drift -------------------------------------------------------------------------------------------


def columns_of(api: str, table: str) -> set[str]:
    import duckdb

    from restsync_dagster.load.destination import duckdb_path

    with duckdb.connect(str(duckdb_path(api)), read_only=True) as con:
        return {row[0] for row in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ?", [api, table]
        ).fetchall()}


def test_schema_drift_adds_columns_and_variant_columns(sim_env: Simulator) -> None:
    api = shipped("service_desk")
    assert run_assets(api, ["agents"]).success
    assert "active" in columns_of("service_desk", "agents")
    sim_env.inject_fault("service_desk", "schema_add_field", "agents", field="loyalty_tier", value="gold")
    sim_env.inject_fault("service_desk", "schema_remove_field", "agents", field="phone")
    sim_env.inject_fault("service_desk", "schema_change_type", "agents", field="active", to="string")
    result = run_assets(api, ["agents"])
    assert result.success
    columns = columns_of("service_desk", "agents")
    assert {"loyalty_tier", "active__v_text", "phone", "active"} <= columns
    assert_exact(sim_env, "service_desk", "agents")
    schema = materialization_metadata(result, "agents")["dagster/column_schema"]
    assert {"loyalty_tier", "active__v_text"} <= {c.name for c in schema.columns}  # reported on the asset
    assert materialization_metadata(result, "agents")["variant_columns"] == "active__v_text"


def test_a_frozen_schema_fails_the_asset_on_drift(sim_env: Simulator) -> None:
    base = shipped("service_desk")
    frozen = Resource.model_validate({**base.resource("agents").model_dump(), "schema_contract": "freeze"})
    api = with_resource(base, "agents", schema_contract=frozen.schema_contract)
    assert run_assets(api, ["agents"]).success
    sim_env.inject_fault("service_desk", "schema_add_field", "agents", field="loyalty_tier")
    result = run_assets(api, ["agents", "roles"], raise_on_error=False)
    assert not result.success
    text = failure_text(result)
    assert "agents" in text and "loyalty_tier" in text and "freeze" in text
    assert "loyalty_tier" not in columns_of("service_desk", "agents")
    assert_exact(sim_env, "service_desk", "roles")


def test_fault_kinds_are_all_known_to_the_control_plane(sim_env: Simulator) -> None:
    from restsync_dagster.simulator.state import FAULT_KINDS

    with pytest.raises(ValueError, match="unknown fault kind"):
        sim_env.inject_fault("service_desk", "gremlins")
    answer = requests.post(f"http://127.0.0.1:{sim_env.port}/_sim/faults", data={"api": "service_desk", "kind": "gremlins"}, timeout=5)
    assert answer.status_code == 400 and sorted(answer.json()["known"]) == sorted(FAULT_KINDS)


# --- tokens renewed before they expire ---------------------------------------------------------------


def test_a_short_lived_token_is_renewed_before_it_expires(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # 6 s tokens, 61 pages of at least 150 ms each, one at a time: the run outlives its first token
    api = with_client(shipped("ticket_desk"), read_ahead_pages=0)
    with Simulator(port=0, login_port=0, token_ttl_seconds=6, latency_ms=150, counts={"ticket_desk.tickets": 3000}) as sim:
        for key, value in sim.env().items():
            monkeypatch.setenv(key, value)
        assert run_assets(api, ["tickets"]).success
        assert sim.tokens_issued >= 2
        assert 401 not in statuses(sim, "ticket_desk", "tickets")  # renewed ahead of expiry, never refused
        assert_exact(sim, "ticket_desk", "tickets")


# --- killed runs ----------------------------------------------------------------------------------------


def assert_service_desk_matches(sim: Simulator) -> None:
    served = {str(r["id"]): r["updated_at"] for r in sim.records("service_desk", "tickets")}
    loaded = table_rows("service_desk", "tickets", "id, updated_at")
    assert len(loaded) == len({row[0] for row in loaded}), "duplicated tickets"
    stored = {str(row[0]): row[1].strftime("%Y-%m-%dT%H:%M:%S.%fZ") if hasattr(row[1], "strftime") else row[1] for row in loaded}
    assert stored == served
    expected = sorted(str(c["id"]) for children in sim.children_by_parent("service_desk", "conversations").values() for c in children)
    assert ids_of(table_rows("service_desk", "conversations", "id")) == expected


@pytest.mark.parametrize("point", ["extract", "normalize", "load"])
def test_a_run_killed_at_any_point_then_rerun_has_exactly_the_served_data(own_sim: Simulator, point: str) -> None:
    api = shipped("service_desk")
    names = ["tickets", "conversations"]
    assert run_assets(api, names).success
    own_sim.mutate("service_desk", "tickets", updates=150, inserts=5)
    own_sim.mutate("service_desk", "conversations", inserts=10)
    own_sim.clear_request_log()
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    child = subprocess.Popen([sys.executable, "-m", "restsync_dagster_tests.support.kill_driver", point, "service_desk", *names], env=env)
    try:
        if point == "extract":
            own_sim.state.latency = 0.02  # keep the child fetching long enough to be killed in the middle
            while child.poll() is None and len(log_for(own_sim, "service_desk", "conversations")) < 40:
                time.sleep(0.01)
            child.send_signal(signal.SIGKILL)
        child.wait(timeout=300)
    finally:
        own_sim.state.latency = 0.0
        if child.poll() is None:
            child.kill()
    assert child.returncode in (-signal.SIGKILL, 137), f"the run was not killed at {point} (exit {child.returncode})"

    assert run_assets(api, names).success
    assert_service_desk_matches(own_sim)
    # and the cursors it left behind are consistent: the next change arrives, nothing else moves
    own_sim.mutate("service_desk", "tickets", updates=3, inserts=1)
    assert run_assets(api, names).success
    assert_service_desk_matches(own_sim)
