"""Asset checks against real loads: pass after a load, fail on a duplicate key written into DuckDB."""

from __future__ import annotations

from datetime import timedelta

import duckdb
from dagster import AssetCheckKey, AssetKey, DagsterInstance, Definitions, materialize
from dagster_dlt import DagsterDltResource

from restsync_dagster.load.destination import duckdb_path
from restsync_dagster.orchestration.assets import build_api_assets
from restsync_dagster.orchestration.checks import (
    PK_CHECK,
    ROWS_CHECK,
    api_checks,
    freshness_lower_bound,
    schedule_interval,
    table_checks,
)
from restsync_dagster_tests.support.helpers import shipped


def _check_results(result) -> dict[tuple[str, str], bool]:  # type: ignore[no-untyped-def]
    return {
        (evaluation.asset_key.path[-1], evaluation.check_name): evaluation.passed
        for evaluation in result.get_asset_check_evaluations()
    }


def test_checks_pass_after_a_load(sim_env) -> None:  # type: ignore[no-untyped-def]
    api = shipped("ticket_desk")
    instance = DagsterInstance.ephemeral()
    result = materialize(
        [build_api_assets(api), *api_checks(api)], resources={"dlt": DagsterDltResource()}, instance=instance
    )
    assert result.success
    outcomes = _check_results(result)
    for name in ("organizations", "agents", "tickets"):
        assert outcomes[(name, ROWS_CHECK)] is True
        assert outcomes[(name, PK_CHECK)] is True
        # dagster's freshness check, just after a materialization
        freshness = [passed for (asset, check), passed in outcomes.items() if asset == name and "fresh" in check]
        assert freshness == [True]


def test_primary_key_check_fails_on_a_duplicate_row(sim_env) -> None:  # type: ignore[no-untyped-def]
    api = shipped("ticket_desk")
    assert materialize([build_api_assets(api)], resources={"dlt": DagsterDltResource()}).success
    with duckdb.connect(str(duckdb_path("ticket_desk"))) as con:
        con.execute("INSERT INTO ticket_desk.agents SELECT * FROM ticket_desk.agents LIMIT 1")
    # run only the checks (no asset): they read what is in DuckDB now
    defs = Definitions(assets=[build_api_assets(api)], asset_checks=[table_checks(api)], resources={"dlt": DagsterDltResource()})
    job = defs.resolve_implicit_global_asset_job_def().get_subset(
        asset_selection=set(),
        asset_check_selection={AssetCheckKey(AssetKey(["ticket_desk", r]), PK_CHECK) for r in ("agents", "organizations")},
    )
    outcome = job.execute_in_process(raise_on_error=False)
    evaluations = {e.asset_key.path[-1]: e for e in outcome.get_asset_check_evaluations()}
    assert evaluations["agents"].passed is False
    assert evaluations["agents"].metadata["duplicate_keys"].value == 1
    assert evaluations["organizations"].passed is True


def test_freshness_bound_follows_the_cron() -> None:
    assert schedule_interval("*/15 * * * *") == timedelta(minutes=15)
    assert schedule_interval("0 3 * * *") == timedelta(days=1)
    assert freshness_lower_bound(shipped("ticket_desk")) == timedelta(minutes=35)
