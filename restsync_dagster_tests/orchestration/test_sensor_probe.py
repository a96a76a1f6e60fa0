"""The change sensor's probe against vendors that ignore its sort, its filter, or stamp records under
another name (a server of our own on 127.0.0.1, see test_assumptions.Vendor): it trusts what it can
check, and when it cannot tell it runs the resource every tick and says which config field to fix."""

from __future__ import annotations

import json
from typing import Any, Callable

from dagster import build_sensor_context

from restsync_dagster.orchestration.automation import api_job, change_sensor
from restsync_dagster_tests.support.vendor_server import Vendor, run, serve, vendor_api  # noqa: F401 - serve is a fixture

BASE = 1717000000000  # epoch ms


def _reason(tick: Any) -> str:
    assert len(tick.run_requests) == 1, tick.skip_message
    return str(tick.run_requests[0].tags["restsync/reason"])


def test_an_ignored_sort_with_an_honoured_filter_is_trusted(serve: Callable[[Vendor], str]) -> None:
    vendor = Vendor("updated", int, [{"id": i, "updated": BASE + i * 1000} for i in (1, 2, 3)])
    api = vendor_api(serve(vendor), "updated", 1704067200000)
    sensor = change_sensor(api, api_job(api))
    assert sensor is not None and run(api).success
    vendor.honour_sort = False  # oldest first, whatever the probe asks
    vendor.queries.clear()

    # the sensor's own cursor as a numeric string: compared as a number with the records' ints
    quiet = sensor.evaluate_tick(build_sensor_context(cursor=json.dumps({"items": str(BASE + 3000)})))
    assert not quiet.run_requests, quiet.run_requests[0].tags if quiet.run_requests else None
    assert "nothing newer than" in (quiet.skip_message or "")
    # a few records instead of one, filtered on the cursor in the records' form (epoch ms, no lag)
    assert vendor.queries == [{"sort": "desc", "limit": "5", "since": str(BASE + 3000)}]

    vendor.records[0]["updated"] = BASE + 9000  # the oldest-placed record changes
    changed = sensor.evaluate_tick(build_sensor_context(cursor=quiet.cursor))
    assert f"newest updated {BASE + 9000}" in _reason(changed)
    assert json.loads(changed.cursor)["items"] == BASE + 9000  # a value it read
    after = sensor.evaluate_tick(build_sensor_context(cursor=changed.cursor))
    assert not after.run_requests


def test_records_without_the_cursor_field_run_every_tick_and_name_the_fields(serve: Callable[[Vendor], str]) -> None:
    # the config says updated_at; the vendor stamps updatedAt (it sorts and filters on its own field)
    vendor = Vendor("updatedAt", str, [{"id": i, "updatedAt": f"2024-06-0{i}T10:00:00Z", "title": "x"} for i in (1, 2, 3)])
    api = vendor_api(serve(vendor), "updated_at", "2024-01-01T00:00:00Z")
    sensor = change_sensor(api, api_job(api))
    assert sensor is not None

    cursor = None
    keys = []
    for _ in range(2):
        tick = sensor.evaluate_tick(build_sensor_context(cursor=cursor))
        reason = _reason(tick)
        assert "field 'incremental.cursor_path'" in reason and "'updated_at'" in reason and "'updatedAt'" in reason
        assert "run at the sensor's interval (30s)" in reason
        assert json.loads(tick.cursor)["items"] is None  # nothing read to move it to
        keys.append(tick.run_requests[0].run_key)
        cursor = tick.cursor
    assert keys[0] != keys[1]  # not deduplicated away by Dagster


def test_an_ignored_sort_and_filter_run_every_tick_without_a_load(serve: Callable[[Vendor], str]) -> None:
    vendor = Vendor("updated", int, [{"id": i, "updated": BASE + i * 1000} for i in range(1, 9)])
    vendor.honour_sort = vendor.honour_filter = False
    api = vendor_api(serve(vendor), "updated", 1704067200000)
    sensor = change_sensor(api, api_job(api))
    assert sensor is not None

    first = sensor.evaluate_tick(build_sensor_context(cursor=None))
    assert "never seen" in _reason(first) and "ignores the sort" in _reason(first)
    seen = json.loads(first.cursor)["items"]
    assert seen == BASE + 5000  # the newest of the five it read, not a guess

    ticks = [sensor.evaluate_tick(build_sensor_context(cursor=first.cursor)) for _ in range(2)]
    for tick in ticks:
        reason = _reason(tick)
        assert reason.startswith("items: cannot tell, run at the sensor's interval (30s): its probe ignores the sort")
        assert "incremental.probe_params" in reason and f"incremental.param': since={seen}" in reason
        assert json.loads(tick.cursor)["items"] == seen
    assert ticks[0].run_requests[0].run_key != ticks[1].run_requests[0].run_key


def test_a_full_page_of_one_instant_with_the_sort_ignored_cannot_hide_a_change(serve: Callable[[Vendor], str]) -> None:
    # a bulk update stamped six records alike; the vendor lists them in its own order
    vendor = Vendor("updated", int, [{"id": i, "updated": BASE} for i in range(1, 7)])
    api = vendor_api(serve(vendor), "updated", 1704067200000)
    sensor = change_sensor(api, api_job(api))
    assert sensor is not None and run(api).success
    vendor.honour_sort = False
    vendor.records.append({"id": 7, "updated": BASE + 1000})  # newer, listed after the five the probe reads

    tick = sensor.evaluate_tick(build_sensor_context(cursor=None))
    reason = _reason(tick)
    assert f"a full page of 5 records all at {BASE}" in reason and f"a full page at or after since={BASE}" in reason
    assert json.loads(tick.cursor)["items"] == BASE
