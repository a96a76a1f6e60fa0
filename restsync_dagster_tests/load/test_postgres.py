"""Postgres as the destination, chosen by configuration: a full load, then an incremental merge, on a real server."""

from __future__ import annotations

import logging
from typing import Any

import psycopg2
import pytest

from restsync_dagster.config.model import ApiConfig, Resource
from restsync_dagster.orchestration.assets import build_api_assets
from restsync_dagster.simulator import Simulator
from restsync_dagster_tests.support.expected import expected_keys, key_columns, key_rows
from restsync_dagster_tests.support.helpers import run_assets, shipped


@pytest.fixture
def pg_env(sim_env: Simulator, postgres_dsn: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The shipped configs against the simulator, loading into a fresh Postgres database (dlt's own variables)."""
    monkeypatch.setenv("RESTSYNC_DESTINATION", "postgres")
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", postgres_dsn)
    return postgres_dsn


def pg_rows(dsn: str, schema: str, table: str, columns: str = "*") -> list[tuple[Any, ...]]:
    with psycopg2.connect(dsn) as connection, connection.cursor() as cursor:
        cursor.execute(f'SELECT {columns} FROM "{schema}"."{table}"')
        rows = cursor.fetchall()
    connection.close()
    return rows


def pg_tables(dsn: str, schema: str) -> set[str]:
    with psycopg2.connect(dsn) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,))
        names = {row[0] for row in cursor.fetchall()}
    connection.close()
    return names


def pg_keys(dsn: str, api: ApiConfig, resource: Resource) -> list[tuple[str, ...]]:
    return key_rows(resource, pg_rows(dsn, api.name, resource.name, key_columns(resource)))


def assert_postgres_matches_simulator(sim: Simulator, dsn: str, api: ApiConfig) -> dict[str, int]:
    tables = pg_tables(dsn, api.name)
    counts = {}
    for resource in api.resources:
        expected = expected_keys(sim, api, resource)
        assert expected, f"{api.name}.{resource.name}: the simulator serves nothing"
        assert resource.name in tables, f"{api.name}.{resource.name}: no table in Postgres"
        loaded = pg_keys(dsn, api, resource)
        assert len(loaded) == len(set(loaded)), f"{api.name}.{resource.name}: duplicate keys"
        assert loaded == expected, f"{api.name}.{resource.name}: {len(loaded)} rows in Postgres, {len(expected)} served"
        counts[resource.name] = len(loaded)
    return counts


@pytest.mark.parametrize("api_name", ["service_desk", "ticket_desk"])
def test_full_load_into_postgres_has_exactly_the_served_records(pg_env: str, sim_env: Simulator, api_name: str) -> None:
    api = shipped(api_name)
    assert run_assets(api).success
    counts = assert_postgres_matches_simulator(sim_env, pg_env, api)
    assert sum(counts.values()) > len(api.resources)
    # dlt's own bookkeeping (state with the incremental cursors) lives in Postgres with the data
    assert {"_dlt_loads", "_dlt_pipeline_state"} <= pg_tables(pg_env, api_name)

    assert run_assets(api).success, "a second full run must merge, not fail"
    assert assert_postgres_matches_simulator(sim_env, pg_env, api) == counts


def test_incremental_merge_into_postgres_updates_inserts_and_adds_no_duplicates(pg_env: str, sim_env: Simulator) -> None:
    api = shipped("service_desk")
    assert run_assets(api, ["tickets", "conversations"]).success
    changed = sim_env.mutate("service_desk", "tickets", updates=5, inserts=3)
    sim_env.mutate("service_desk", "conversations", inserts=4)
    sim_env.clear_request_log()

    assert run_assets(api, ["tickets", "conversations"]).success

    ticket_requests = [e for e in sim_env.request_log if e["api"] == "service_desk" and e["resource"] == "tickets"]
    assert ticket_requests and all("updated_since" in e["query"] for e in ticket_requests), "the second run was not incremental"
    served = {r["id"]: r for r in sim_env.records("service_desk", "tickets")}
    rows = pg_rows(pg_env, "service_desk", "tickets", "id, updated_at, subject")
    ids = [row[0] for row in rows]
    assert len(ids) == len(set(ids)), "duplicate tickets after the merge"
    assert set(ids) == set(served)
    assert set(changed["inserted"]) <= set(ids)
    stored = {row[0]: row for row in rows}
    for ticket_id in changed["updated"]:
        updated_at = stored[ticket_id][1].strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        assert updated_at == served[ticket_id]["updated_at"], f"ticket {ticket_id} not updated in Postgres"
        assert stored[ticket_id][2] == served[ticket_id]["subject"]
    resource = api.resource("conversations")
    assert pg_keys(pg_env, api, resource) == expected_keys(sim_env, api, resource)


def test_a_delta_round_deletes_removed_records_in_postgres(pg_env: str, sim_env: Simulator) -> None:
    api = shipped("directory")
    assert run_assets(api, ["users"]).success
    changed = sim_env.mutate("directory", "users", updates=2, inserts=1, deletes=3)
    sim_env.clear_request_log()

    assert run_assets(api, ["users"]).success

    assert all("$deltatoken" in e["query"] for e in sim_env.request_log if e["api"] == "directory"), "the second run read everything"
    served = {r["id"]: r["displayName"] for r in sim_env.records("directory", "users")}
    stored = dict(pg_rows(pg_env, "directory", "users", "id, display_name"))
    assert not set(changed["deleted"]) & set(stored)
    assert stored == served


def test_a_child_alone_reads_its_parent_keys_from_postgres(pg_env: str, sim_env: Simulator) -> None:
    api = shipped("service_desk")
    assert run_assets(api, ["tickets"]).success
    sim_env.clear_request_log()

    assert run_assets(api, ["conversations"]).success

    paths = [e["path"] for e in sim_env.request_log if e["api"] == "service_desk"]
    assert not [p for p in paths if p.endswith("/v1/tickets")], "the parent list was crawled again instead of read from Postgres"
    resource = api.resource("conversations")
    assert pg_keys(pg_env, api, resource) == expected_keys(sim_env, api, resource)


def test_assets_name_postgres_as_their_kind(pg_env: str) -> None:
    specs = list(build_api_assets(shipped("ticket_desk")).specs)
    assert specs and all({"dlt", "postgres"} <= set(spec.kinds) for spec in specs)


def test_the_postgres_password_appears_in_no_event_or_log(
    pg_env: str, postgres_server: Any, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    result = run_assets(shipped("ticket_desk"))
    assert result.success
    events = "\n".join(repr(event) for event in result.all_events)
    captured = capfd.readouterr()
    logs = "\n".join([caplog.text, captured.out, captured.err])
    assert "ticket_desk" in events and "ticket_desk" in logs
    assert postgres_server.password not in events + logs
