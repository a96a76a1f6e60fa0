"""Table checks of an asset whose last load failed: they never report the stale rows as fresh.

In the failing run itself Dagster does not run the check step (its upstream step failed); a later
check-only execution (the UI's "Execute checks") used to query the table and pass on the rows of
an earlier load. Now the checks of an asset whose last planned materialization did not happen say
so (WARN, not passed, naming the failed run) until it is loaded again; the other assets of the
run, which did load, are checked as usual."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest
from dagster import AssetCheckKey, AssetKey, AssetSelection, DagsterInstance, materialize
from dagster_dlt import DagsterDltResource

from restsync_dagster.config.loading import parse_api_config
from restsync_dagster.orchestration.assets import build_api_assets
from restsync_dagster.orchestration.checks import table_checks
from restsync_dagster_tests.support.local_server import JsonServer, Reply

GOOD, BAD = AssetKey(["desk", "good"]), AssetKey(["desk", "bad"])


@pytest.fixture
def failing(workdir: Path) -> Iterator[tuple[JsonServer, dict[str, bool]]]:
    state = {"fail": False}

    def answer(path: str) -> Any:
        if path.startswith("/bad") and state["fail"]:
            return Reply(500, {"error": "down"})
        return {"data": [{"id": 1}, {"id": 2}]}

    server = JsonServer(answer)
    yield server, state
    server.stop()


def _api(url: str) -> Any:
    raw = {
        "client": {"base_url": url},
        "error_handling": {"max_retries": 0},
        "resource_defaults": {"endpoint": {"data_selector": "data", "paginator": {"type": "single_page"}}},
        "resources": [{"name": "good", "endpoint": {"path": "/good"}}, {"name": "bad", "endpoint": {"path": "/bad"}}],
    }
    return parse_api_config(raw, source_file="configs/desk.yaml", default_name="desk")


def _evaluations(result: Any) -> dict[tuple[str, str], Any]:
    return {(e.asset_key.path[-1], e.check_name): e for e in result.get_asset_check_evaluations()}


def test_checks_never_pass_on_the_rows_of_a_failed_load(failing: Any) -> None:
    server, state = failing
    api = _api(server.url)
    instance = DagsterInstance.ephemeral()
    defs = [build_api_assets(api), table_checks(api)]
    resources = {"dlt": DagsterDltResource()}
    first = materialize(defs, resources=resources, instance=instance)
    assert all(e.passed for e in first.get_asset_check_evaluations())

    state["fail"] = True
    failed = materialize(defs, resources=resources, instance=instance, raise_on_error=False)
    assert not failed.success
    # the failing run checks nothing: no stale result of 'bad' reported in it
    assert not any(e.asset_key == BAD and e.passed for e in failed.get_asset_check_evaluations())
    history = instance.event_log_storage.get_asset_check_execution_history(AssetCheckKey(BAD, "rows"), limit=1)
    assert history[0].run_id == failed.run_id and history[0].status.value != "SUCCEEDED"

    # checks executed on their own afterwards: 'bad' says it was not checked, 'good' (loaded) is checked
    checks_only = materialize(defs, resources=resources, instance=instance, selection=AssetSelection.checks_for_assets(GOOD, BAD))
    found = _evaluations(checks_only)
    for name in ("rows", "primary_key_unique"):
        bad = found[("bad", name)]
        assert not bad.passed and bad.severity.value == "WARN"
        assert f"not checked: run {failed.run_id[:8]}, the last to load this asset, did not materialize it" in str(bad.description)
        assert f"rows loaded by run {first.run_id[:8]}" in str(bad.description)
        assert bad.metadata["failed_run_id"].value == failed.run_id
        assert found[("good", name)].passed and found[("good", name)].description is None

    state["fail"] = False  # loaded again: checked again
    again = materialize(defs, resources=resources, instance=instance)
    assert all(e.passed for e in again.get_asset_check_evaluations())
    assert {key for key in _evaluations(again)} >= {("bad", "rows"), ("bad", "primary_key_unique")}
