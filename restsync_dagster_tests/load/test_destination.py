"""A run works through one DuckDB connection of its own and lets go of the file when it ends.

DuckDB lets one process write a file at a time: a connection left open by a finished (or failed)
run would lock the API's file against the next run's process, the user's SQL client and the
asset checks.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from restsync_dagster.load.destination import duckdb_path, run_pipeline
from restsync_dagster.simulator import Simulator
from restsync_dagster_tests.support.faults_helpers import assert_exact
from restsync_dagster_tests.support.helpers import run_assets, shipped

WRITE_FROM_ANOTHER_PROCESS = "import duckdb, sys; duckdb.connect(sys.argv[1]).execute('CREATE TABLE IF NOT EXISTS probe (x INT)')"


def writable_by_another_process(path: Path) -> bool:
    result = subprocess.run([sys.executable, "-c", WRITE_FROM_ANOTHER_PROCESS, str(path)], capture_output=True, text=True, timeout=120)
    return result.returncode == 0


def test_the_file_is_held_during_a_run_and_released_after(sim_env: Simulator) -> None:
    with run_pipeline("ticket_desk") as pipeline:
        assert pipeline.destination.destination_name == "duckdb"
        assert not writable_by_another_process(duckdb_path("ticket_desk"))  # the run's connection holds it
    assert writable_by_another_process(duckdb_path("ticket_desk"))


def test_a_failed_run_releases_the_file(sim_env: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCES__TICKET_DESK__CLIENT_SECRET", "wrong-secret")
    assert not run_assets(shipped("ticket_desk"), ["organizations"], raise_on_error=False).success
    assert duckdb_path("ticket_desk").exists()
    assert writable_by_another_process(duckdb_path("ticket_desk"))


def test_a_run_opens_the_file_once_and_releases_it(sim_env: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[str] = []
    real_connect = duckdb.connect

    def counted_connect(database: str = ":memory:", *args: object, **kwargs: object) -> duckdb.DuckDBPyConnection:
        opened.append(str(database))
        return real_connect(database, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(duckdb, "connect", counted_connect)
    assert run_assets(shipped("ticket_desk"), ["organizations", "agents"]).success
    # state sync, package start and end, two load jobs and a merge, row counts: one file open
    assert opened == [str(duckdb_path("ticket_desk"))]
    assert_exact(sim_env, "ticket_desk", "organizations")
    assert writable_by_another_process(duckdb_path("ticket_desk"))  # and the finished run let go of it


def test_duckdb_settings_of_the_pipeline_section_apply(sim_env: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESTSYNC_TICKET_DESK__DESTINATION__DUCKDB__CREDENTIALS__GLOBAL_CONFIG", '{"memory_limit": "77MB"}')
    with run_pipeline("ticket_desk") as pipeline, pipeline.sql_client() as client:
        limit = client.execute_sql("SELECT current_setting('memory_limit')")[0][0]
    assert limit == "73.4 MiB"  # 77 MB, as DuckDB shows it


HOLD_THE_PIPELINE = """
import sys, time
from restsync_dagster.load.destination import pipeline_lock
started = time.monotonic()
with pipeline_lock(sys.argv[1]):
    print(f"{time.monotonic() - started:.2f}", flush=True)
"""


def test_a_second_process_waits_for_the_pipeline_folder_until_the_first_lets_go(workdir: Path) -> None:
    """Whatever Dagster's pool allots, two processes never use one pipeline folder at once."""
    from restsync_dagster.load.destination import pipeline_lock

    with pipeline_lock("ticket_desk"):
        waiting = subprocess.Popen([sys.executable, "-c", HOLD_THE_PIPELINE, "ticket_desk"], stdout=subprocess.PIPE, text=True)
        other = subprocess.run([sys.executable, "-c", HOLD_THE_PIPELINE, "directory"], capture_output=True, text=True, timeout=120)
        import time

        time.sleep(3)
        assert waiting.poll() is None, "the second process took the folder while the first held it"
    waited = float(waiting.communicate(timeout=120)[0])
    assert waited >= 2.5
    assert float(other.stdout) < 2.5, "another API's pipeline must not wait"


def test_reading_the_committed_state_leaves_a_first_run_in_progress_alone(workdir: Path) -> None:
    """The sensor reads the cursor while a first run may be writing its folder (no state file yet):
    `dlt.pipeline()` would wipe that folder; reading the state must not."""
    import dlt
    from dlt.common.pipeline import get_dlt_pipelines_dir

    from restsync_dagster.load.destination import committed_state, pipeline_name

    in_progress = Path(get_dlt_pipelines_dir()) / pipeline_name("ticket_desk") / "normalize" / "extracted.jsonl"
    in_progress.parent.mkdir(parents=True)
    in_progress.write_text('{"id": 1}\n')
    assert committed_state("ticket_desk") is None
    assert in_progress.read_text() == '{"id": 1}\n'
    dlt.pipeline(pipeline_name=pipeline_name("ticket_desk"))  # what the sensor did before
    assert not in_progress.exists(), "dlt.pipeline() no longer wipes a folder without state: this test proves nothing"
