"""Assumptions a config makes about the wire, checked while running, against a vendor server of our own.

The server (127.0.0.1, started per test) stamps records in one vendor's form (epoch ms, numeric
strings, epoch seconds, ISO with offsets and fractions, a date alone, versions), parses the filter
it is sent in that form (400 otherwise, as strict vendors do), and can ignore its filter or sort.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any, Callable

import pytest
from dagster import (
    AssetCheckKey,
    AssetCheckSeverity,
    AssetKey,
    DagsterInstance,
    Definitions,
    build_sensor_context,
)
from dagster_dlt import DagsterDltResource

from restsync_dagster.config.cursor_values import parse_cursor
from restsync_dagster.orchestration.assets import build_api_assets
from restsync_dagster.orchestration.automation import api_job, change_sensor
from restsync_dagster.orchestration.checks import (
    INCREMENTAL_CHECK,
    PK_CHECK,
    ROWS_CHECK,
    table_checks,
)
from restsync_dagster_tests.support.faults_helpers import materialization_metadata
from restsync_dagster_tests.support.helpers import table_rows
from restsync_dagster_tests.support.vendor_server import Vendor, run, serve, vendor_api  # noqa: F401 - serve is a fixture


def loaded(field: str) -> dict[Any, Any]:
    column = "".join("_" + c.lower() if c.isupper() else c for c in field)
    return {row[0]: parse_cursor(row[1]).key for row in table_rows("vendor", "items", f"id, {column}")}  # type: ignore[union-attr]


def served(vendor: Vendor) -> dict[Any, Any]:
    return {r["id"]: parse_cursor(r[vendor.field]).key for r in vendor.records}  # type: ignore[union-attr]


def checks_of(result: Any) -> dict[str, Any]:
    return {e.check_name: e for e in result.get_asset_check_evaluations() if e.asset_key.path[-1] == "items"}


def _iso(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _date(text: str) -> datetime:
    if len(text) != 10:
        raise ValueError(text)
    return datetime.fromisoformat(text)


FLAVOURS = {
    # name: (records' field, server's parse of `since`, cursor values of 3 records, a newer one, initial_value, format, since sent on run 1)
    "epoch ms ints": ("updated", int, [1717000000000, 1717018000000, 1717007200000], 1717036000000, "2024-01-01T00:00:00Z", "epoch_ms", "1704067200000"),
    "epoch ms strings": ("updated", int, ["1717000000000", "1717018000000", "1717007200000"], "1717036000000", 1704067200000, "auto", "1704067200000"),
    "epoch seconds": ("updated", int, [1717000000, 1717018000, 1717007200], 1717036000, 1704067200, "auto", "1704067200"),
    "iso offsets and fractions": (
        "modifiedTime", _iso,
        ["2024-06-01T13:00:00.250+05:00", "2024-06-01T09:00:00.5Z", "2024-06-01T10:30:00+0200"], "2024-06-01T11:00:00.999999+01:00",
        "2024-01-01T00:00:00Z", "auto", "2024-01-01T00:00:00Z",
    ),
    "date only": ("updated", _date, ["2024-06-01", "2024-06-03", "2024-06-02"], "2024-06-05", "2024-01-01", "auto", "2024-01-01"),
    "versions": ("version", int, [5, 17, 9], 23, 0, "auto", "0"),
}


def _minus_lag(name: str, sent: str) -> str:
    """The run-2 filter: the cursor reached minus the 60 s lag, in the API's form (versions: no lag)."""
    if name in ("epoch ms ints", "epoch ms strings"):
        return str(int(sent) - 60_000)
    if name == "epoch seconds":
        return str(int(sent) - 60)
    if name == "iso offsets and fractions":  # the newest instant is 09:00:00.5Z (not the text max, 13:00+05:00)
        assert parse_cursor(sent) == parse_cursor("2024-06-01T09:00:00.5Z")
        return "2024-06-01T08:59:00Z"
    if name == "date only":  # 2024-06-03 00:00 minus 60 s
        return "2024-06-02"
    return sent


@pytest.mark.parametrize("name", sorted(FLAVOURS))
def test_cursor_values_of_every_usual_form_filter_the_next_run(serve: Callable[[Vendor], str], name: str) -> None:
    field, parse_since, values, newer, initial, fmt, first_since = FLAVOURS[name]
    vendor = Vendor(field, parse_since, [{"id": i + 1, field: value, "title": f"t{i}"} for i, value in enumerate(values)])
    api = vendor_api(serve(vendor), field, initial, fmt)

    first = run(api)
    assert first.success
    assert vendor.queries[0]["since"] == first_since
    assert loaded(field) == served(vendor)
    assert materialization_metadata(first, "items")["incremental_effective"] is True

    # record 1 changes, record 4 arrives; the next run asks from the cursor reached minus the lag
    vendor.records[0][field] = newer
    vendor.records.append({"id": 4, field: newer, "title": "new"})
    vendor.queries.clear()
    second = run(api)
    assert second.success
    metadata = materialization_metadata(second, "items")
    since = vendor.queries[0]["since"]
    assert since == _minus_lag(name, _cursor_of(first))
    # the changed and the new record, and those the lag re-reads: the filtered list, no more
    in_window = [r for r in vendor.records if parse_since(str(r[field])) >= parse_since(since)]
    assert 2 <= metadata["rows_loaded"] == len(in_window) < len(vendor.records) + (name == "date only")
    assert metadata["rows_inserted"] == 1
    assert loaded(field) == served(vendor)
    assert parse_cursor(metadata["incremental_cursor"]) == parse_cursor(newer)  # the newest as the records carry it
    assert metadata["incremental_effective"] is True
    assert checks_of(second)[INCREMENTAL_CHECK].passed is True


def _cursor_of(result: Any) -> str:
    return str(materialization_metadata(result, "items")["incremental_cursor"])


def _warnings(instance: DagsterInstance, run_id: str) -> list[str]:
    return [e.user_message for e in instance.all_logs(run_id) if e.level == logging.WARNING and e.user_message]


def test_a_cursor_field_the_records_lack_loads_everything_keeps_the_cursor_and_warns(serve: Callable[[Vendor], str]) -> None:
    vendor = Vendor("updatedAt", _iso, [
        {"id": i, "updatedAt": f"2024-06-0{i}T10:00:00Z", "createdAt": f"2024-05-0{i}T10:00:00Z", "subject": "2024 plans"} for i in (1, 2, 3)
    ])
    api = vendor_api(serve(vendor), "updated_at", "2024-01-01T00:00:00Z", children=True)
    instance = DagsterInstance.ephemeral()

    first = run(api, instance)
    assert first.success
    assert sorted(row[0] for row in table_rows("vendor", "items", "id")) == [1, 2, 3]
    assert sorted(row[0] for row in table_rows("vendor", "notes", "id")) == ["n1", "n2", "n3"]  # its children still run
    expected = (
        "configs/vendor.yaml: resource 'items': field 'incremental.cursor_path': records have no 'updated_at'; "
        "fields that look like one: 'updatedAt', 'createdAt'"
    )
    check = checks_of(first)[INCREMENTAL_CHECK]
    assert check.passed is False and check.severity == AssetCheckSeverity.WARN
    assert check.description.startswith(expected)
    assert [m for m in _warnings(instance, first.run_id) if m.startswith(expected)] != []
    assert "incremental_cursor" not in materialization_metadata(first, "items")

    vendor.records.append({"id": 4, "updatedAt": "2024-06-09T10:00:00Z", "createdAt": "2024-06-09T10:00:00Z"})
    vendor.queries.clear()
    assert run(api, instance).success
    assert vendor.queries[0]["since"] == "2024-01-01T00:00:00Z"  # the cursor did not move on a guess
    assert sorted(row[0] for row in table_rows("vendor", "items", "id")) == [1, 2, 3, 4]


def test_a_filter_the_api_ignores_keeps_the_data_right_and_says_so(serve: Callable[[Vendor], str]) -> None:
    vendor = Vendor("updated", int, [{"id": i, "updated": 1717000000000 + i * 3_600_000} for i in (1, 2, 3)])
    api = vendor_api(serve(vendor), "updated", 1704067200000)
    assert run(api).success
    vendor.honour_filter = False
    vendor.records[0]["updated"] = 1717000000000 + 9 * 3_600_000
    vendor.queries.clear()

    second = run(api)
    assert second.success
    assert vendor.queries[0]["since"] == str(1717000000000 + 3 * 3_600_000 - 60_000)
    assert loaded("updated") == served(vendor)
    metadata = materialization_metadata(second, "items")
    assert metadata["incremental_effective"] is False
    assert metadata["incremental_cursor"] == str(1717000000000 + 9 * 3_600_000)
    check = checks_of(second)[INCREMENTAL_CHECK]
    assert check.passed is False and check.severity == AssetCheckSeverity.WARN
    assert "field 'incremental.param': the API ignored the filter since=" in check.description
    assert "1 of 3 records are older than it (oldest: 1717007200000)" in check.description  # record 2; record 3 is in the lag window


def test_a_probe_whose_sort_is_ignored_runs_at_the_interval_instead_of_going_blind(serve: Callable[[Vendor], str]) -> None:
    vendor = Vendor("updated", int, [{"id": i, "updated": 1717000000000 + i * 1000} for i in range(1, 7)])  # more than the probe reads (5)
    api = vendor_api(serve(vendor), "updated", 1704067200000)
    sensor = change_sensor(api, api_job(api))
    assert sensor is not None and run(api).success

    quiet = sensor.evaluate_tick(build_sensor_context(cursor=None))
    # sorted as asked: the newest is what was loaded, nothing to run
    assert not quiet.run_requests and "nothing newer than 1717000006000" in (quiet.skip_message or "")

    vendor.honour_sort = False  # the sort alone ignored: the probe's filter (since=<cursor>) still tells
    assert not sensor.evaluate_tick(build_sensor_context(cursor=quiet.cursor)).run_requests

    vendor.honour_filter = False  # the filter too: the probe gets the five oldest records
    blind = [sensor.evaluate_tick(build_sensor_context(cursor=quiet.cursor)) for _ in range(2)]
    for tick in blind:
        assert len(tick.run_requests) == 1
        reason = tick.run_requests[0].tags["restsync/reason"]
        assert "ignores the sort" in reason and "1717000001000" in reason and "1717000006000" in reason
        assert "incremental.probe_params" in reason and "incremental.param" in reason
    assert json.loads(blind[0].cursor)["items"] == 1717000006000  # the cursor stays at what was seen
    assert blind[0].run_requests[0].run_key != blind[1].run_requests[0].run_key  # each tick's run is its own


def test_table_checks_run_on_a_missing_table_and_an_empty_first_load(serve: Callable[[Vendor], str]) -> None:
    vendor = Vendor("updated", int, [])
    api = vendor_api(serve(vendor), "updated", 1704067200000)
    defs = Definitions(assets=[build_api_assets(api)], asset_checks=[table_checks(api)], resources={"dlt": DagsterDltResource()})
    keys = {AssetCheckKey(AssetKey(["vendor", "items"]), name) for name in (ROWS_CHECK, PK_CHECK, INCREMENTAL_CHECK)}
    only_checks = defs.resolve_implicit_global_asset_job_def().get_subset(asset_selection=set(), asset_check_selection=keys).execute_in_process()
    assert only_checks.success  # never loaded: the checks say so, they do not crash
    never = checks_of(only_checks)
    assert never[ROWS_CHECK].passed is False and never[INCREMENTAL_CHECK].description == "no run observed yet"
    result = run(api)
    assert result.success
    checks = checks_of(result)
    assert checks[ROWS_CHECK].passed is False and checks[ROWS_CHECK].description == "the table is empty or was never loaded"
    assert checks[PK_CHECK].passed is True
    assert checks[INCREMENTAL_CHECK].passed is True
