"""Load: the five APIs materialized at once, each run with the multiprocess executor, through injected faults.

Five `dagster job execute` processes start together, one per API's `<api>_job`, on the production
instance (Postgres storage, pools `restsync/<api>`); each run's steps execute in processes of their
own (the multiprocess executor, the default of asset jobs). Meanwhile the simulator answers some
requests with 5xx bursts, 429s with Retry-After and a dropped connection. Every run must succeed
(retries absorb the faults), no DuckDB file may be locked by another writer (one file per API),
and every table must hold exactly what the simulator serves.

Separate processes, not threads: Dagster configures logging per run with `dictConfig`, and runs
started in threads of one process deadlock on the logging locks (seen with dagster 1.13). Run
workers are separate processes in every deployment anyway.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter

from restsync_dagster.simulator import Simulator
from restsync_dagster_tests.conftest import API_NAMES
from restsync_dagster_tests.support.expected import assert_matches_simulator
from restsync_dagster_tests.support.helpers import shipped
from restsync_dagster_tests.support.postgres_server import (
    PostgresServer,
    production_home,
)

SCALE = 0.2

# (api, fault kind, resource or None for any, how many, params). The configs retry 3 times: no
# single request can meet more than 3 of these, so every fault must be absorbed by a retry.
FAULTS: list[tuple[str, str, Any, int, dict[str, Any]]] = [
    ("shared_inbox", "status", None, 2, {"status": 503, "retry_after": "0"}),
    ("service_desk", "status", "tickets", 2, {"status": 500, "retry_after": "0"}),
    ("service_desk", "status", "conversations", 2, {"status": 429, "retry_after": "1"}),
    ("directory", "status", None, 1, {"status": 502}),  # no Retry-After: the config's backoff
    ("messaging", "status", None, 2, {"status": 429, "retry_after": "0"}),
    ("ticket_desk", "drop", None, 1, {}),  # the connection closed without an answer
    ("ticket_desk", "status", "tickets", 2, {"status": 504, "retry_after": "0"}),
]


@pytest.fixture
def small_simulator(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Simulator]:
    """A simulator of its own with a fifth of the records: this test is about concurrency and faults, not volume."""
    sim = Simulator(port=0, login_port=0, scale=SCALE)
    sim.start()
    for key, value in sim.env().items():
        monkeypatch.setenv(key, value)
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture
def load_instance(
    postgres_server: PostgresServer, postgres_dsn: str, small_simulator: Simulator, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[DagsterInstance]:
    production_home(workdir / "dagster_home", postgres_server, postgres_dsn, monkeypatch)
    with DagsterInstance.get() as instance:
        yield instance


def launch(api_name: str, log: Path) -> subprocess.Popen[bytes]:
    # the API's multi-asset op: all its assets; the asset checks (separate steps, each another
    # process to start) are left to test_checks.py, to keep this test within a minute
    command = [
        sys.executable, "-m", "dagster", "job", "execute", "-m", "restsync_dagster.definitions",
        "-j", f"{api_name}_job", "-o", f"{api_name}_dlt",
    ]
    with log.open("wb") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ))


def test_five_apis_at_once_with_faults_load_exactly_the_served_records(
    load_instance: DagsterInstance, small_simulator: Simulator, workdir: Path
) -> None:
    sim = small_simulator
    for api_name, kind, resource, count, params in FAULTS:
        sim.inject_fault(api_name, kind, resource=resource, count=count, **params)

    processes = {api_name: launch(api_name, workdir / f"{api_name}.log") for api_name in API_NAMES}
    try:
        codes = {api_name: process.wait(timeout=600) for api_name, process in processes.items()}
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()

    runs = {}
    for api_name in API_NAMES:
        log = (workdir / f"{api_name}.log").read_text(errors="replace")
        found = load_instance.get_runs(filters=RunsFilter(job_name=f"{api_name}_job"))
        assert len(found) == 1, f"{api_name}: {len(found)} runs recorded\n{log[-3000:]}"
        runs[api_name] = found[0]
        assert codes[api_name] == 0 and found[0].status == DagsterRunStatus.SUCCESS, f"{api_name} failed:\n{log[-3000:]}"
        assert "could not set lock" not in log.lower() and "conflicting lock" not in log.lower(), f"{api_name}: a DuckDB lock error"

    # every run used the multiprocess executor: its steps ran in processes of their own
    for api_name, run in runs.items():
        assert load_instance.get_records_for_run(run.run_id, of_type=DagsterEventType.STEP_WORKER_STARTED).records, api_name

    # every fault was served, and absorbed by a retry (counted in the assets' metadata)
    served = [e for e in sim.request_log if e.get("fault")]
    for api_name in API_NAMES:
        injected = sum(count for api, _, _, count, _ in FAULTS if api == api_name)
        assert len([e for e in served if e["api"] == api_name]) == injected, api_name
    retries = 0
    for run in runs.values():
        for record in load_instance.get_records_for_run(run.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION).records:
            materialization = record.event_log_entry.asset_materialization
            assert materialization is not None
            value = materialization.metadata.get("retries")
            retries += int(value.value) if value is not None else 0  # type: ignore[arg-type]
    assert retries >= sum(count for _, kind, _, count, _ in FAULTS if kind == "status")

    totals = {api_name: sum(assert_matches_simulator(sim, shipped(api_name)).values()) for api_name in API_NAMES}
    assert all(total > 0 for total in totals.values()), totals


def test_loading_definitions_never_touches_the_pipelines_runs_use(workdir: Path) -> None:
    """Every run worker and step process loads all five APIs' definitions: none may create or wipe
    the pipeline folders that runs write (dlt recreates a folder it finds without state; two
    processes doing so at once fail with FileExistsError, as five runs starting together did)."""
    from restsync_dagster.definitions import load_definitions

    load_definitions()

    shared = workdir / "dlt" / "pipelines"
    assert not shared.exists() or not any(shared.iterdir()), sorted(p.name for p in shared.iterdir())
