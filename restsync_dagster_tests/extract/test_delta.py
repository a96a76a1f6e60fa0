"""Graph-style delta queries (directory users and groups): a first round reads everything, later
runs only the changes, deletions included; the link lives with the data (a wiped dlt home:
test_incremental.py); the sensor follows it."""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest
from dagster import SensorDefinition, build_sensor_context

from restsync_dagster.config.errors import ConfigErrors
from restsync_dagster.config.loading import load_api_config
from restsync_dagster.extract.delta import DELETED_COLUMN, DeltaRound
from restsync_dagster.extract.plan import resolve_plan
from restsync_dagster.extract.source import delta_round
from restsync_dagster.http.session import ApiSession
from restsync_dagster.orchestration.automation import api_job, change_sensor
from restsync_dagster.simulator import Simulator
from restsync_dagster_tests.support.faults_helpers import (
    assert_exact,
    die_before_load,
    log_for,
    materialization_metadata,
)
from restsync_dagster_tests.support.helpers import (
    CONFIGS,
    run_assets,
    shipped,
    table_rows,
)


def names_by_id(sim: Simulator) -> dict[str, str]:
    return {r["id"]: r["displayName"] for r in sim.records("directory", "users")}


def loaded_names_by_id() -> dict[str, str]:
    return {row[0]: row[1] for row in table_rows("directory", "users", "id, display_name")}


def directory_sensor() -> SensorDefinition:
    api = shipped("directory")
    sensor = change_sensor(api, api_job(api))
    assert sensor is not None
    return sensor


@contextmanager
def users_round() -> Iterator[DeltaRound]:
    """A delta round of the shipped directory's users, over a session closed afterwards."""
    plan = resolve_plan(shipped("directory"))
    with ApiSession(plan.name, "users", plan.client.base_url, None, plan.error_handling) as session:
        yield delta_round(plan, plan.resource("users"), session)


def refusal_of(tmp_path: Path, users_lines: str) -> str:
    """The error of the shipped directory config with `users_lines` added under the users' delta."""
    delta = "    delta:\n      path: /v1/resource/users/delta\n"
    broken = tmp_path / "directory.yaml"
    broken.write_text((CONFIGS / "directory.yaml").read_text().replace(delta, delta + users_lines))
    with pytest.raises(ConfigErrors) as raised:
        load_api_config(broken)
    return str(raised.value)


def test_the_first_run_reads_every_record_through_the_delta_and_keeps_its_link(sim_env: Simulator) -> None:
    result = run_assets(shipped("directory"), ["users"])
    assert result.success
    requests = log_for(sim_env, "directory", "users")
    assert requests and all(e["path"].endswith("/users/delta") for e in requests)
    assert not any("$deltatoken" in e["query"] for e in requests)  # a first round starts from the delta path
    assert_exact(sim_env, "directory", "users")
    assert "$deltatoken" in materialization_metadata(result, "users")["incremental_cursor"]


def test_a_later_run_reads_only_the_changes_and_deletes_what_was_removed(sim_env: Simulator) -> None:
    api = shipped("directory")
    assert run_assets(api, ["users"]).success
    changes = sim_env.mutate("directory", "users", updates=3, inserts=2, deletes=2)
    sim_env.clear_request_log()

    result = run_assets(api, ["users"])

    assert result.success
    requests = log_for(sim_env, "directory", "users")
    assert len(requests) == 1 and "$deltatoken" in requests[0]["query"]  # one page of changes, not 7 of users
    assert_exact(sim_env, "directory", "users")
    assert not set(changes["deleted"]) & set(loaded_names_by_id())
    assert loaded_names_by_id() == names_by_id(sim_env)  # the updated names too
    metadata = materialization_metadata(result, "users")
    assert (metadata["rows_inserted"], metadata["rows_updated"], metadata["rows_deleted"]) == (2, 3, 2)
    assert table_rows("directory", "users", f"count(*) FILTER (WHERE {DELETED_COLUMN})") == [(0,)]


def test_a_run_that_died_before_its_load_leaves_the_link_where_the_data_is(sim_env: Simulator) -> None:
    api = shipped("directory")
    assert run_assets(api, ["users"]).success
    sim_env.mutate("directory", "users", updates=2, deletes=1)
    die_before_load(api, {"users"})

    assert run_assets(api, ["users"]).success
    assert_exact(sim_env, "directory", "users")
    assert loaded_names_by_id() == names_by_id(sim_env)


def test_a_full_refresh_starts_a_new_round(sim_env: Simulator) -> None:
    from dagster import AssetKey, materialize
    from dagster_dlt import DagsterDltResource

    from restsync_dagster.orchestration.assets import build_api_assets

    api = shipped("directory")
    assert run_assets(api, ["users"]).success
    sim_env.clear_request_log()
    result = materialize(
        [build_api_assets(api)], resources={"dlt": DagsterDltResource()},
        selection=[AssetKey(["directory", "users"])], tags={"restsync/full_refresh": "true"},
    )
    assert result.success
    requests = log_for(sim_env, "directory", "users")
    assert requests and all(e["path"].endswith("/users/delta") and "$deltatoken" not in e["query"] for e in requests)
    assert_exact(sim_env, "directory", "users")


def test_the_change_sensor_follows_the_delta_with_a_link_of_its_own(sim_env: Simulator) -> None:
    sensor = directory_sensor()
    first = sensor.evaluate_tick(build_sensor_context(cursor=None))
    assert {key.path[1] for r in first.run_requests for key in r.asset_selection} == {"users", "groups"}
    # the first check reads no record: it asks for a link that stands for now
    assert all(e["query"].get("$deltatoken") == "latest" for e in sim_env.request_log if e["api"] == "directory" and e["path"].endswith("/delta"))

    quiet = sensor.evaluate_tick(build_sensor_context(cursor=first.cursor))
    assert not quiet.run_requests and "users: no change in its delta" in (quiet.skip_message or "")

    sim_env.mutate("directory", "users", deletes=1)
    changed = sensor.evaluate_tick(build_sensor_context(cursor=quiet.cursor))
    assert [sorted(key.path[1] for key in r.asset_selection) for r in changed.run_requests] == [["users"]]
    assert "users: 1 change(s)" in changed.run_requests[0].tags["restsync/reason"]
    assert json.loads(changed.cursor)["users"] != json.loads(quiet.cursor)["users"]


def test_a_delta_with_an_incremental_cursor_is_refused_naming_file_and_resource(tmp_path: Path) -> None:
    message = refusal_of(tmp_path, "    incremental: {cursor_path: lastModifiedDateTime, param: since, initial_value: '2024-01-01'}\n")
    assert "directory.yaml" in message and "users" in message and "delta and incremental exclude each other" in message


def test_an_expired_link_starts_a_new_round_instead_of_failing(sim_env: Simulator) -> None:
    api = shipped("directory")
    assert run_assets(api, ["users"]).success
    sim_env.mutate("directory", "users", updates=1)
    sim_env.inject_fault("directory", "status", "users", count=1, status=410)  # Graph: the link expired
    sim_env.clear_request_log()

    assert run_assets(api, ["users"]).success

    requests = log_for(sim_env, "directory", "users")
    assert [e["status"] for e in requests[:2]] == [410, 200]
    assert "$deltatoken" in requests[0]["query"] and "$deltatoken" not in requests[1]["query"]
    assert loaded_names_by_id() == names_by_id(sim_env)


def test_the_last_entry_of_an_id_in_a_round_wins(sim_env: Simulator, tmp_path: Path) -> None:
    """Graph may list an object twice in one round (updated, then removed; removed, then restored):
    the rows are numbered in the round's order and dlt's merge keeps the last of each id."""
    import dlt

    from restsync_dagster.extract.delta import DELTA_COLUMNS
    from restsync_dagster.extract.source import resource_hints

    resource = shipped("directory").resource("users")
    pipeline = dlt.pipeline("delta_order", destination=dlt.destinations.duckdb(str(tmp_path / "order.duckdb")), dataset_name="d", pipelines_dir=str(tmp_path))

    def load(*pages: list[dict]) -> None:
        with users_round() as round_:
            rows = [round_.rows(page) for page in pages]
        pipeline.run(dlt.resource(rows, **resource_hints(resource), columns=DELTA_COLUMNS))

    load([{"id": "a", "displayName": "A1"}, {"id": "b", "displayName": "B1"}, {"id": "c", "displayName": "C1"}])
    removed = {"@removed": {"reason": "deleted"}}
    load([{"id": "a", "displayName": "A2"}, {"id": "b", **removed}], [{"id": "a", **removed}, {"id": "b", "displayName": "B3"}])

    with pipeline.sql_client() as sql:
        rows = sql.execute_sql("SELECT id, display_name FROM users ORDER BY id")
    assert [tuple(row) for row in rows] == [("b", "B3"), ("c", "C1")]


def test_an_expired_sensor_link_watches_again_from_now_and_requests_a_run(sim_env: Simulator) -> None:
    sensor = directory_sensor()
    first = sensor.evaluate_tick(build_sensor_context(cursor=None))
    sim_env.inject_fault("directory", "status", "users", count=1, status=410)
    sim_env.clear_request_log()

    tick = sensor.evaluate_tick(build_sensor_context(cursor=first.cursor))

    users = log_for(sim_env, "directory", "users")
    assert [e["status"] for e in users] == [410, 200] and users[1]["query"].get("$deltatoken") == "latest"  # not a full read
    assert [sorted(key.path[1] for key in r.asset_selection) for r in tick.run_requests] == [["users"]]
    assert "users: its delta link expired" in tick.run_requests[0].tags["restsync/reason"]


def test_a_delta_keyed_on_another_field_than_removed_entries_carry_is_refused(tmp_path: Path) -> None:
    message = refusal_of(tmp_path, "    primary_key: userPrincipalName\n")
    assert "users" in message and "delta needs primary_key 'id' (delta.removed_key" in message


def test_a_delta_link_carrying_a_secret_is_refused(sim_env: Simulator) -> None:
    """An API key sent as a query parameter may come back in the API's links; restsync keeps links
    in the pipeline state and the sensor cursor, so such a link fails the round instead."""
    import requests

    from restsync_dagster.config.redaction import protect
    from restsync_dagster.extract.delta import DeltaLinkSecretError

    protect(["k3y-only-for-this-test"])
    response = requests.Response()
    response.status_code = 200
    with users_round() as round_:
        response._content = json.dumps({"value": [], "@odata.deltaLink": f"{round_.client.base_url}/x?key=k3y-only-for-this-test&$deltatoken=1"}).encode()
        with pytest.raises(DeltaLinkSecretError, match="resource 'users'.*carries one of the configured secrets"):
            round_._remember_link(response)
    assert round_.next_link is None


def test_an_ignored_answer_to_the_sensor_says_so_and_keeps_its_link(sim_env: Simulator) -> None:
    sensor = directory_sensor()
    first = sensor.evaluate_tick(build_sensor_context(cursor=None))
    sim_env.mutate("directory", "users", updates=1)
    sim_env.inject_fault("directory", "status", "users", count=1, status=403)  # ignored as the config says

    tick = sensor.evaluate_tick(build_sensor_context(cursor=first.cursor))

    assert not tick.run_requests and "users: its delta answered a status error_handling.ignore_statuses skips" in (tick.skip_message or "")
    assert json.loads(tick.cursor)["users"] == json.loads(first.cursor)["users"]
    later = sensor.evaluate_tick(build_sensor_context(cursor=tick.cursor))  # the change is still found
    assert [sorted(key.path[1] for key in r.asset_selection) for r in later.run_requests] == [["users"]]
