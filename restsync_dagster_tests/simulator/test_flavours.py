"""Every shipped config, unchanged, against every flavour of its API: the simulator answering as the
real vendors do (epoch timestamps, other field names, nested cursors, `from` offsets, 204 at the
end, ignored filters and sorts, gzip), with and without faults. Tables must equal what the
simulator serves, by primary key, nothing duplicated, after a full load and after an incremental one.

These tests describe what reality asks of the engine; they are not tuned to what it does today.
"""

from __future__ import annotations

import pytest
from dagster import build_sensor_context

from restsync_dagster.orchestration.automation import api_job, change_sensor
from restsync_dagster.simulator import Simulator
from restsync_dagster_tests.support.faults_helpers import failure_text
from restsync_dagster_tests.support.flavours_helpers import (  # noqa: F401 - flavoured is a fixture
    FLAVOUR_IDS,
    FLAVOURED,
    bounded_run,
    flavoured,
    inject_run_faults,
    mismatches,
    unspent_faults,
)
from restsync_dagster_tests.support.helpers import run_assets, shipped


def _run_and_check(sim: Simulator, api_name: str, faults: bool, stage: str) -> None:
    api = shipped(api_name)
    if faults:
        inject_run_faults(sim, api_name, full=stage == "full")
    with bounded_run(sim, api_name) as bound:
        result = run_assets(api, raise_on_error=False)
    where = f"{api_name}:{sim.flavor(api_name)} {stage} run"
    assert not bound["exceeded"], f"{where} sent more than {bound['budget']} requests: a listing that never ends"
    assert result.success, f"{where} failed: {failure_text(result).split('Stack Trace:')[0].strip()}"
    wrong = mismatches(sim, api)
    assert not wrong, f"{where}: " + "; ".join(wrong)
    assert not unspent_faults(sim), f"{where}: faults never thrown: {unspent_faults(sim)}"


@pytest.mark.parametrize("faults", [False, True], ids=["clean", "faults"])
@pytest.mark.parametrize(("api_name", "flavor"), FLAVOURED, ids=FLAVOUR_IDS)
def test_every_table_equals_the_served_records_in_every_flavour(flavoured: Simulator, api_name: str, flavor: str, faults: bool) -> None:
    assert flavoured.flavor(api_name) == flavor
    _run_and_check(flavoured, api_name, faults, "full")

    # upstream moves: records updated and added (and deleted where a delta reports it), a child added
    flavoured.mutate_all(fraction=0.05)
    _run_and_check(flavoured, api_name, faults, "incremental")


@pytest.mark.parametrize(("api_name", "flavor"), FLAVOURED, ids=FLAVOUR_IDS)
def test_the_change_sensor_sees_a_change_in_every_flavour(flavoured: Simulator, api_name: str, flavor: str) -> None:
    api = shipped(api_name)
    tracked = sorted(r.name for r in api.resources if r.tracks_changes and r.parent is None)
    sensor = change_sensor(api, api_job(api))
    assert sensor is not None and tracked
    first = sensor.evaluate_tick(build_sensor_context(cursor=None))
    quiet = sensor.evaluate_tick(build_sensor_context(cursor=first.cursor))

    for name in tracked:
        flavoured.mutate(api_name, name, updates=1)
    changed = sensor.evaluate_tick(build_sensor_context(cursor=quiet.cursor))

    requested = {key.path[1] for request in changed.run_requests for key in request.asset_selection}
    assert set(tracked) <= requested, f"{api_name}:{flavor}: changed {tracked}, the sensor requested {sorted(requested)} ({changed.skip_message})"
