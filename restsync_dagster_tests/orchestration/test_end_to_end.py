"""Every resource of the five APIs, materialized against the simulator, lands in DuckDB exactly."""

from __future__ import annotations

from typing import Any

import pytest

from restsync_dagster.config.loading import load_api_config
from restsync_dagster.simulator import Simulator
from restsync_dagster_tests.conftest import API_NAMES, SEEDS
from restsync_dagster_tests.support.expected import (  # noqa: F401
    assert_matches_simulator,
    expected_keys,
    loaded_keys,
)
from restsync_dagster_tests.support.helpers import (
    run_assets,
    shipped,
    table_exists,
    table_rows,
)


@pytest.mark.parametrize("api_name", API_NAMES)
def test_full_load_has_exactly_the_served_records_and_rerun_adds_none(sim_env: Simulator, api_name: str) -> None:
    api = shipped(api_name)
    result = run_assets(api)
    assert result.success
    first = assert_matches_simulator(sim_env, api)

    assert run_assets(api).success
    assert assert_matches_simulator(sim_env, api) == first


def test_every_page_of_a_multi_page_resource_is_requested(sim_env: Simulator) -> None:
    api = shipped("ticket_desk")
    run_assets(api, ["tickets"])
    offsets = [int(r["query"].get("offset", 0)) for r in sim_env.request_log if r["api"] == "ticket_desk" and r["resource"] == "tickets"]
    served = len(sim_env.records("ticket_desk", "tickets"))
    # offset paging by 50 until an empty page: every page plus the empty one that ends it, each once;
    # read-ahead may also have asked for a few pages past the end (test_readahead.py)
    pages = list(range(0, served + 1, 50))
    assert sorted(offsets)[: len(pages)] == pages
    assert len(set(offsets)) == len(offsets) <= len(pages) + api.client.read_ahead_pages
    assert len(table_rows("ticket_desk", "tickets", "id")) == served


def test_a_child_alone_reads_its_parents_from_the_destination(sim_env: Simulator) -> None:
    api = shipped("service_desk")
    assert run_assets(api, ["tickets"]).success
    sim_env.clear_request_log()

    assert run_assets(api, ["conversations"]).success

    paths = [r["path"] for r in sim_env.request_log if r["api"] == "service_desk"]
    assert not [p for p in paths if p.endswith("/v1/tickets")], "the parent list was crawled again"
    tickets = sim_env.records("service_desk", "tickets")
    assert len([p for p in paths if p.endswith("/conversations")]) >= len(tickets)
    assert loaded_keys(api, api.resource("conversations")) == expected_keys(sim_env, api, api.resource("conversations"))


def test_a_child_alone_without_a_loaded_parent_crawls_the_parent_without_loading_it(sim_env: Simulator) -> None:
    api = shipped("shared_inbox")
    assert run_assets(api, ["team_members"]).success
    assert not table_exists("shared_inbox", "teams")
    resource = api.resource("team_members")
    assert loaded_keys(api, resource) == expected_keys(sim_env, api, resource)


def test_a_parent_alone_loads_only_the_parent(sim_env: Simulator) -> None:
    api = shipped("messaging")
    assert run_assets(api, ["conversations"]).success
    assert table_exists("messaging", "conversations")
    assert not table_exists("messaging", "messages")
    assert not [r for r in sim_env.request_log if r["path"].endswith("/messages")]


def test_a_grandchild_alone_uses_its_loaded_parent_only(sim_env: Simulator) -> None:
    api = shipped("service_desk")
    assert run_assets(api, ["discussion_categories", "discussion_forums", "discussion_topics"]).success
    sim_env.clear_request_log()
    assert run_assets(api, ["discussion_comments"]).success
    paths = {r["path"] for r in sim_env.request_log}
    assert all("/comments" in p for p in paths), sorted(paths)[:5]
    resource = api.resource("discussion_comments")
    assert loaded_keys(api, resource) == expected_keys(sim_env, api, resource)


@pytest.mark.parametrize("api_name", API_NAMES)
def test_a_pasted_seed_config_loads_the_same_rows_as_the_shipped_one(sim_env: Simulator, api_name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    seed = load_api_config(SEEDS / f"{api_name}.yaml").model_copy(update={"name": api_name})
    if api_name == "directory":
        monkeypatch.setenv("SOURCES__DIRECTORY__SCOPE", "ignored-by-the-seed")
    assert run_assets(seed).success
    shipped_api = shipped(api_name)
    for resource in shipped_api.resources:
        if resource.name == "team_members":
            # the seed merges on `id` alone: one row per user, which is why the shipped key is (team, user)
            served_users = {key[-1] for key in expected_keys(sim_env, shipped_api, resource)}
            assert {str(row[0]) for row in table_rows(api_name, "team_members", "id")} == served_users
            continue
        assert loaded_keys(shipped_api, resource) == expected_keys(sim_env, shipped_api, resource), resource.name


def test_missing_secret_fails_naming_the_api_and_variable(sim_env: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOURCES__SERVICE_DESK__API_KEY")
    result = run_assets(shipped("service_desk"), ["agents"], raise_on_error=False)
    assert not result.success
    message = _failure_message(result)
    assert "SOURCES__SERVICE_DESK__API_KEY" in message and "client.auth.username" in message and "service_desk.yaml" in message


def test_missing_setting_fails_only_its_resource(sim_env: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOURCES__MESSAGING__EMAIL")
    result = run_assets(shipped("messaging"), ["users", "contacts"], raise_on_error=False)
    assert not result.success
    assert "SOURCES__MESSAGING__EMAIL" in _failure_message(result)
    assert table_exists("messaging", "users")
    assert not table_exists("messaging", "contacts")


def _failure_message(result: Any) -> str:
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert failures
    return "\n".join(str(e.event_specific_data.error.to_string()) for e in failures)
