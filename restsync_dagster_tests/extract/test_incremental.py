"""Incremental merges: only changes are fetched, merged on the key, and no cursor outruns the data."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from dagster import AssetKey, RunRequest, build_sensor_context

from restsync_dagster.definitions import build_definitions
from restsync_dagster.orchestration.automation import api_job, change_sensor
from restsync_dagster.simulator import Simulator
from restsync_dagster_tests.support.faults_helpers import (
    assert_exact,
    die_before_load,
    log_for,
    materialization_metadata,
    numbered_pages,
    with_resource,
)
from restsync_dagster_tests.support.helpers import run_assets, shipped, table_rows


def requests_for(sim: Simulator, resource: str) -> list[dict]:
    return [e for e in sim.request_log if e["api"] == "service_desk" and e["resource"] == resource]


def assert_tickets_match(sim: Simulator) -> None:
    served = {r["id"]: r["updated_at"] for r in sim.records("service_desk", "tickets")}
    loaded = table_rows("service_desk", "tickets", "id, updated_at")
    assert len(loaded) == len({row[0] for row in loaded}), "duplicate rows"
    stored = {row[0]: row[1].strftime("%Y-%m-%dT%H:%M:%S.%fZ") if hasattr(row[1], "strftime") else row[1] for row in loaded}
    assert stored.keys() >= served.keys(), f"missing {sorted(served.keys() - stored.keys())[:10]}"
    assert {k: stored[k] for k in served} == served


def test_one_percent_changed_fetches_only_the_changes(sim_env: Simulator) -> None:
    api = shipped("service_desk")
    assert run_assets(api, ["tickets", "conversations"]).success
    full_ticket_requests = len(requests_for(sim_env, "tickets"))
    full_child_requests = len(requests_for(sim_env, "conversations"))
    changed = sim_env.mutate("service_desk", "tickets", updates=5, inserts=2)
    sim_env.mutate("service_desk", "conversations", inserts=3)
    sim_env.clear_request_log()

    assert run_assets(api, ["tickets", "conversations"]).success

    ticket_requests = requests_for(sim_env, "tickets")
    assert all("updated_since" in e["query"] for e in ticket_requests)
    assert len(ticket_requests) <= 2 < full_ticket_requests
    child_parents = {int(e["path"].split("/")[-2]) for e in requests_for(sim_env, "conversations")}
    assert set(changed["updated"]) | set(changed["inserted"]) <= child_parents
    assert len(child_parents) <= 12 < full_child_requests  # changed tickets (+ the lag window), not all 500
    assert_tickets_match(sim_env)
    served_children = sorted(c["id"] for c in sim_env.records("service_desk", "conversations"))
    assert sorted(row[0] for row in table_rows("service_desk", "conversations", "id")) == served_children


def test_a_run_killed_between_extract_and_load_loses_nothing(sim_env: Simulator) -> None:
    api = shipped("service_desk")
    assert run_assets(api, ["tickets"]).success
    sim_env.mutate("service_desk", "tickets", updates=5, inserts=3)
    die_before_load(api, {"tickets"})

    assert run_assets(api, ["tickets"]).success
    assert_tickets_match(sim_env)


@pytest.mark.parametrize("api_name, resource", [("service_desk", "tickets"), ("directory", "users")], ids=["cursor", "delta link"])
def test_the_cursor_lives_with_the_data_and_survives_a_wiped_dlt_home(sim_env: Simulator, workdir: Path, api_name: str, resource: str) -> None:
    api = shipped(api_name)
    assert run_assets(api, [resource]).success
    shutil.rmtree(workdir / "dlt")
    sim_env.mutate(api_name, resource, updates=2, inserts=1)
    sim_env.clear_request_log()
    assert run_assets(api, [resource]).success
    assert len(log_for(sim_env, api_name, resource)) <= 2  # the changes, not the 5 (tickets) or 7 (users) pages of all
    assert_exact(sim_env, api_name, resource)


def test_a_child_alone_then_its_parent_alone_loses_no_parent_change(sim_env: Simulator) -> None:
    api = shipped("service_desk")
    assert run_assets(api, ["tickets", "conversations"]).success
    changed = sim_env.mutate("service_desk", "tickets", updates=6, inserts=2)
    assert run_assets(api, ["conversations"]).success
    assert run_assets(api, ["tickets"]).success
    loaded = {row[0] for row in table_rows("service_desk", "tickets", "id")}
    assert set(changed["inserted"]) <= loaded
    assert_tickets_match(sim_env)


def test_full_refresh_reconciles_deletions(sim_env: Simulator) -> None:
    from dagster import materialize
    from dagster_dlt import DagsterDltResource

    from restsync_dagster.orchestration.assets import build_api_assets

    api = shipped("service_desk")
    assert run_assets(api, ["tickets"]).success
    deleted = sim_env.mutate("service_desk", "tickets", deletes=4)["deleted"]
    assert run_assets(api, ["tickets"]).success
    assert set(deleted) <= {row[0] for row in table_rows("service_desk", "tickets", "id")}, "merge keeps deleted rows"
    result = materialize(
        [build_api_assets(api)], resources={"dlt": DagsterDltResource()},
        selection=[AssetKey(["service_desk", "tickets"])], tags={"restsync/full_refresh": "true"},
    )
    assert result.success
    assert sorted(row[0] for row in table_rows("service_desk", "tickets", "id")) == sorted(r["id"] for r in sim_env.records("service_desk", "tickets"))


def test_change_sensor_requests_exactly_the_changed_assets_or_skips(sim_env: Simulator) -> None:
    # the shipped contacts probe has no sort (Freshdesk's contacts have none): until a load gives the
    # sensor a cursor it cannot trust "nothing newer" there (test_sensor_probe); here both probes sort
    api = shipped("service_desk")
    contacts = api.resource("contacts")
    assert contacts.incremental is not None
    sorted_probe = contacts.incremental.model_copy(update={"probe_params": {"order_by": "updated_at", "order_type": "desc", "per_page": 1}})
    api = with_resource(api, "contacts", incremental=sorted_probe)
    sensor = change_sensor(api, api_job(api))
    assert sensor is not None
    first = sensor.evaluate_tick(build_sensor_context(cursor=None))
    assert {key.path[1] for r in first.run_requests for key in r.asset_selection} == {"tickets", "contacts", "conversations"}

    quiet = sensor.evaluate_tick(build_sensor_context(cursor=first.cursor))
    assert not quiet.run_requests and "no changes upstream" in (quiet.skip_message or "")

    sim_env.mutate("service_desk", "tickets", updates=1)
    changed = sensor.evaluate_tick(build_sensor_context(cursor=quiet.cursor))
    assert len(changed.run_requests) == 1
    request: RunRequest = changed.run_requests[0]
    assert sorted(key.path[1] for key in request.asset_selection) == ["conversations", "tickets"]
    assert json.loads(changed.cursor)["tickets"] > json.loads(quiet.cursor)["tickets"]
    probes = [e for e in sim_env.request_log if e["query"].get("order_type") == "desc"]
    # a few records (per_page 1 widened to 5, so the order can be checked), filtered on the sensor's cursor once it has one
    assert probes and all(e["query"].get("per_page") == "5" for e in probes)
    # until the sensor has a cursor the tickets probe sends the config's early updated_since (Freshdesk
    # lists only the last 30 days of tickets without one), then the cursor
    sent = [e["query"].get("updated_since") for e in probes if e["resource"] == "tickets"]
    assert len(sent) == 3 and sent[0] == "2000-01-01T00:00:00Z" and all(value > sent[0] for value in sent[1:])


def test_schedules_target_each_api_and_children_follow_parents() -> None:
    from restsync_dagster.config.loading import load_config_dir
    from restsync_dagster_tests.conftest import CONFIGS

    apis, _ = load_config_dir(CONFIGS)
    defs = build_definitions(apis)
    graph = defs.resolve_asset_graph()
    for api in apis:
        schedule = defs.resolve_schedule_def(f"{api.name}_schedule")
        assert schedule.cron_schedule == api.schedule.cron
        job = defs.resolve_job_def(f"{api.name}_job")
        assert {key for key in job.asset_layer.selected_asset_keys} == {AssetKey([api.name, r.name]) for r in api.resources}
        for resource in api.resources:
            condition = graph.get(AssetKey([api.name, resource.name])).automation_condition
            assert (condition is not None) == (resource.parent is not None)


def test_concurrency_pool_keeps_one_writer_per_api() -> None:
    import yaml

    from restsync_dagster.cli.demo import INSTANCE_TEMPLATE
    from restsync_dagster.config.loading import load_config_dir
    from restsync_dagster_tests.conftest import CONFIGS

    apis, _ = load_config_dir(CONFIGS)
    defs = build_definitions(apis)
    pools = {a.op.pool for a in defs.assets or []}  # type: ignore[union-attr]
    assert pools == {f"restsync/{api.name}" for api in apis}
    assert yaml.safe_load(INSTANCE_TEMPLATE.read_text())["concurrency"]["pools"]["default_limit"] == 1


def test_metadata_tells_inserted_from_updated_and_the_cursor_reached(sim_env: Simulator) -> None:
    api = shipped("service_desk")
    first = materialization_metadata(run_assets(api, ["tickets"]), "tickets")
    served = sim_env.records("service_desk", "tickets")
    assert (first["rows_inserted"], first["rows_updated"]) == (len(served), 0)
    assert first["dagster/row_count"] == len(served)
    assert first["incremental_cursor"] == max(r["updated_at"] for r in served)
    ticket_requests = [e for e in sim_env.request_log if e["resource"] == "tickets" and e["status"] == 200]
    assert first["pages"] == numbered_pages(len(served))
    assert first["requests"] == len(ticket_requests)
    assert first["pages_read_ahead"] > 0 and first["requests"] - first["pages"] <= api.client.read_ahead_pages

    sim_env.mutate("service_desk", "tickets", updates=5, inserts=2)
    second = materialization_metadata(run_assets(api, ["tickets"]), "tickets")
    served = sim_env.records("service_desk", "tickets")
    assert second["rows_inserted"] == 2
    assert second["rows_updated"] == second["rows_loaded"] - 2 >= 5  # the changed ones, plus the lag window
    assert second["dagster/row_count"] == len(served)
    assert second["incremental_cursor"] == max(r["updated_at"] for r in served) > first["incremental_cursor"]
    assert second["duration_seconds"] > 0


def test_full_refresh_from_the_launchpad_config_reconciles_one_asset(sim_env: Simulator) -> None:
    from dagster import materialize
    from dagster_dlt import DagsterDltResource

    from restsync_dagster.orchestration.assets import build_api_assets

    api = shipped("service_desk")
    assert run_assets(api, ["tickets", "contacts"]).success
    deleted_tickets = sim_env.mutate("service_desk", "tickets", deletes=3)["deleted"]
    deleted_contacts = sim_env.mutate("service_desk", "contacts", deletes=3)["deleted"]
    result = materialize(
        [build_api_assets(api)], resources={"dlt": DagsterDltResource()},
        selection=[AssetKey(["service_desk", "tickets"]), AssetKey(["service_desk", "contacts"])],
        run_config={"ops": {"service_desk_dlt": {"config": {"full_refresh": True}}}},
    )
    assert result.success
    assert sorted(row[0] for row in table_rows("service_desk", "tickets", "id")) == sorted(r["id"] for r in sim_env.records("service_desk", "tickets"))
    assert not set(deleted_contacts) & {row[0] for row in table_rows("service_desk", "contacts", "id")}
    assert not set(deleted_tickets) & {row[0] for row in table_rows("service_desk", "tickets", "id")}


def test_full_refresh_schedules_follow_each_resources_cadence() -> None:
    from restsync_dagster.config.loading import load_config_dir
    from restsync_dagster.orchestration.automation import full_refresh_schedules
    from restsync_dagster_tests.conftest import CONFIGS

    apis, _ = load_config_dir(CONFIGS)
    defs = build_definitions(apis)
    for api in apis:
        schedules = full_refresh_schedules(api)
        assert len(schedules) == len({r.full_refresh_cron for r in api.resources if r.full_refresh_cron}) == 1
        schedule = defs.resolve_schedule_def(f"{api.name}_full_refresh")
        assert schedule.cron_schedule == "0 3 * * 0"
        job = defs.resolve_job_def(schedule.job_name)
        assert job.tags["restsync/full_refresh"] == "true"
        assert set(job.asset_layer.selected_asset_keys) == {AssetKey([api.name, r.name]) for r in api.resources if r.full_refresh_cron}

    custom = shipped("ticket_desk").model_copy(deep=True)
    resources = [r.model_copy(update={"full_refresh_cron": "0 1 * * *" if r.name == "agents" else r.full_refresh_cron}) for r in custom.resources]
    split = full_refresh_schedules(custom.model_copy(update={"resources": tuple(resources)}))
    assert sorted(s.cron_schedule for s in split) == ["0 1 * * *", "0 3 * * 0"]


def test_a_parent_materialized_alone_gets_its_children_requested(sim_env: Simulator) -> None:
    from dagster import DagsterInstance, evaluate_automation_conditions, materialize
    from dagster_dlt import DagsterDltResource

    from restsync_dagster.orchestration.assets import build_api_assets

    api = shipped("messaging")
    defs = build_definitions([api])
    sensor = defs.resolve_sensor_def("children_follow_parents")
    assert sensor.default_status.value == "RUNNING"
    instance = DagsterInstance.ephemeral()
    keys = {AssetKey(["messaging", r.name]) for r in api.resources}
    assert materialize([build_api_assets(api)], resources={"dlt": DagsterDltResource()}, instance=instance).success
    settled = evaluate_automation_conditions(defs=defs, instance=instance)
    assert settled.total_requested == 0, "everything is fresh after a full run"

    parents = {AssetKey(["messaging", r.parent]) for r in api.resources if r.parent}
    assert materialize(
        [build_api_assets(api)], resources={"dlt": DagsterDltResource()}, instance=instance, selection=sorted(parents)
    ).success
    after = evaluate_automation_conditions(defs=defs, instance=instance, cursor=settled.cursor)
    children = {AssetKey(["messaging", r.name]) for r in api.resources if r.parent}
    requested = {key for key in keys if after.get_num_requested(key)}
    assert requested == children
