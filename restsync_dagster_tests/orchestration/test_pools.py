"""Two runs of one API never write at once: the shipped instance's pool `restsync/<api>` (limit 1)
makes the second run's step wait for the first's, on a real instance with two real processes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from dagster import DagsterEventType, DagsterInstance

from restsync_dagster.cli.demo import INSTANCE_TEMPLATE
from restsync_dagster.simulator import Simulator
from restsync_dagster_tests.support.helpers import table_rows

RESTSYNC = str(Path(sys.executable).parent / "restsync")


def step_windows(instance: DagsterInstance, step_key: str) -> list[tuple[float, float]]:
    windows = []
    for run in instance.get_runs():
        starts = instance.get_records_for_run(run.run_id, of_type=DagsterEventType.STEP_START).records
        ends = instance.get_records_for_run(run.run_id, of_type=DagsterEventType.STEP_SUCCESS).records
        start = next(r.event_log_entry.timestamp for r in starts if r.event_log_entry.step_key == step_key)
        end = next(r.event_log_entry.timestamp for r in ends if r.event_log_entry.step_key == step_key)
        windows.append((start, end))
    return sorted(windows)


def test_two_runs_of_one_api_take_turns_and_load_each_row_once(sim_env: Simulator, workdir: Path) -> None:
    home = workdir / "dagster_home"
    home.mkdir()
    shutil.copy(INSTANCE_TEMPLATE, home / "dagster.yaml")
    DagsterInstance.from_config(str(home)).dispose()  # create its storage once: two processes racing to do it collide
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    runs = [
        subprocess.Popen([RESTSYNC, "run", "service_desk", "--select", "tickets", "contacts"], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=240)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], "\n".join(
        line for output in outputs for line in output.splitlines() if "rror" in line or "xception" in line
    )[-4000:]

    with DagsterInstance.from_config(str(home)) as instance:
        (first_start, first_end), (second_start, second_end) = step_windows(instance, "service_desk_dlt")
    assert second_start >= first_end, "two writers of service_desk ran at once"
    loaded = [row[0] for row in table_rows("service_desk", "tickets", "id")]
    assert sorted(loaded) == sorted(r["id"] for r in sim_env.records("service_desk", "tickets"))


def test_each_api_pool_gets_one_slot_before_any_run(workdir: Path) -> None:
    """Allocated up front (pools.py): two processes allocating a new pool at once on SQLite can both
    add its default slot, and two writers then run at once (how the test above failed 1 in 5)."""
    from restsync_dagster.orchestration.pools import ensure_pool_slots, pool_of

    home = workdir / "dagster_home"
    home.mkdir()
    shutil.copy(INSTANCE_TEMPLATE, home / "dagster.yaml")
    with DagsterInstance.from_config(str(home)) as instance:
        assert instance.event_log_storage.get_concurrency_info(pool_of("service_desk")).slot_count == 0
        for _ in range(2):
            ensure_pool_slots(instance, ["service_desk", "directory"])
        counts = [instance.event_log_storage.get_concurrency_info(pool_of(name)).slot_count for name in ("service_desk", "directory")]
        instance.event_log_storage.set_concurrency_slots(pool_of("directory"), 0)  # paused by hand
        ensure_pool_slots(instance, ["directory"])
        paused = instance.event_log_storage.get_concurrency_info(pool_of("directory")).slot_count
    assert counts == [1, 1]
    assert paused == 0


def test_an_instance_configured_from_the_project_folder_has_the_pools(tmp_path: Path) -> None:
    """The instance `dagster dev` builds without DAGSTER_HOME (storage in a temporary folder, config
    from the folder it starts in; rebuilt here as dagster's CLI does, not by starting dagster dev)
    reads the project's `dagster.yaml`, the template `restsync demo` copies: its pools apply."""
    from dagster._core.instance.ref import InstanceRef

    from restsync_dagster_tests.conftest import PROJECT_ROOT

    # what dagster dev does with no DAGSTER_HOME (dagster._cli.utils._get_temporary_instance)
    with DagsterInstance.from_ref(InstanceRef.from_dir(str(tmp_path), config_dir=str(PROJECT_ROOT))) as instance:
        assert instance.global_op_concurrency_default_limit == 1
        assert instance.get_settings("concurrency")["pools"]["granularity"] == "op"
    assert (PROJECT_ROOT / "dagster.yaml").read_text() == INSTANCE_TEMPLATE.read_text()
