"""The production instance config (restsync_dagster/instance/production.yaml) on a real Postgres server.

It loads into a real DagsterInstance, materializations land in Postgres's event log, and runs
submitted through its QueuedRunCoordinator are dequeued by the daemon's own queue logic at most
one per API at a time, while different APIs proceed together.
"""

from __future__ import annotations

import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest
import yaml
from dagster import AssetKey, DagsterInstance, DagsterRunStatus, materialize

# Dagster's own machinery, as its tests drive it: there is no public API to run one pass of the
# daemon's dequeue loop, nor to create a run of a job subset in a code server.
from dagster._core.definitions.selector import JobSubsetSelector
from dagster._core.storage.dagster_run import IN_PROGRESS_RUN_STATUSES, DagsterRun
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import GrpcServerTarget
from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import (
    QueuedRunCoordinatorDaemon,
)
from dagster._grpc.server import GrpcServerProcess
from dagster_dlt import DagsterDltResource

from restsync_dagster.orchestration.assets import build_api_assets
from restsync_dagster.orchestration.automation import API_TAG
from restsync_dagster.simulator import Simulator
from restsync_dagster_tests.conftest import PROJECT_ROOT
from restsync_dagster_tests.support.helpers import shipped, table_rows
from restsync_dagster_tests.support.postgres_server import (
    PostgresServer,
    pg_query,
    production_home,
)

INSTANCE_DIR = PROJECT_ROOT / "restsync_dagster" / "instance"
PRODUCTION = INSTANCE_DIR / "production.yaml"
LOCATION = "restsync_dagster"
FINISHED = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}


@pytest.fixture
def production_instance(
    postgres_server: PostgresServer, postgres_dsn: str, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[DagsterInstance]:
    production_home(workdir / "dagster_home", postgres_server, postgres_dsn, monkeypatch)
    with DagsterInstance.get() as instance:
        yield instance


def test_production_config_loads_as_a_postgres_instance_with_a_queue_and_per_api_limits(
    production_instance: DagsterInstance, postgres_dsn: str
) -> None:
    instance = production_instance
    assert type(instance.run_storage).__name__ == "PostgresRunStorage"
    assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
    assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
    assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
    queue = instance.get_concurrency_config().run_queue_config
    assert queue is not None
    assert {"key": API_TAG, "value": {"applyLimitPerUniqueValue": True}, "limit": 1} in queue.tag_concurrency_limits
    pools = instance.get_concurrency_config().pool_config
    assert pools.default_pool_limit == 1 and pools.pool_granularity.value == "op"
    # the same pools as the local instance of `restsync demo`
    local = yaml.safe_load((INSTANCE_DIR / "dagster.yaml").read_text())
    assert yaml.safe_load(PRODUCTION.read_text())["concurrency"]["pools"] == local["concurrency"]["pools"]
    # dagster-postgres created its tables in the test server's database
    tables = {row[0] for row in pg_query(postgres_dsn, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")}
    assert {"runs", "event_logs", "jobs", "concurrency_limits"} <= tables


def test_the_commented_kubernetes_launcher_block_is_valid_instance_yaml() -> None:
    text = PRODUCTION.read_text()
    block = text[text.index("# run_launcher:") : text.index("# Steps of a run in pods")]
    uncommented = yaml.safe_load("\n".join(line[2:] for line in block.splitlines() if line.startswith("# ")))
    assert uncommented["run_launcher"]["module"] == "dagster_k8s"
    assert uncommented["run_launcher"]["class"] == "K8sRunLauncher"
    assert "job_image" in uncommented["run_launcher"]["config"]


def test_materializations_of_two_apis_are_recorded_in_postgres(
    production_instance: DagsterInstance, postgres_dsn: str, sim_env: Simulator
) -> None:
    selections = {"service_desk": ["tickets", "conversations", "groups"], "ticket_desk": ["organizations", "agents", "tickets"]}
    run_ids = []
    for api_name, names in selections.items():
        result = materialize(
            [build_api_assets(shipped(api_name))],
            resources={"dlt": DagsterDltResource()},
            selection=[AssetKey([api_name, name]) for name in names],
            instance=production_instance,
        )
        assert result.success
        run_ids.append(result.run_id)

    rows = pg_query(
        postgres_dsn,
        "SELECT run_id, asset_key FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION' AND run_id = ANY(%s)",
        run_ids,
    )
    recorded = {AssetKey.from_db_string(key) for _, key in rows}
    assert recorded == {AssetKey([api, name]) for api, names in selections.items() for name in names}
    statuses = dict(pg_query(postgres_dsn, "SELECT run_id, status FROM runs WHERE run_id = ANY(%s)", run_ids))
    assert statuses == {run_id: "SUCCESS" for run_id in run_ids}
    # and the instance reads them back from Postgres
    event = production_instance.get_latest_materialization_event(AssetKey(["ticket_desk", "organizations"]))
    assert event is not None and event.asset_materialization is not None
    assert len(table_rows("ticket_desk", "organizations", "id")) == len(sim_env.records("ticket_desk", "organizations"))


# --- the queue -------------------------------------------------------------------------------------

# The queue is what is under test here, not the executor: each run does one small step in process
# (no asset checks, no step subprocesses), so that five runs take seconds, not minutes.
RUN_CONFIG = {"execution": {"config": {"in_process": {}}}}


def submit(instance: DagsterInstance, context: WorkspaceProcessContext, api_name: str, resource: str) -> DagsterRun:
    """Submit a run of `<api>_job` (tagged restsync/api=<api>) for one asset, as the UI or a sensor does."""
    request = context.create_request_context()
    entry = request.get_code_location_entries()[LOCATION]
    location = entry.code_location
    assert location is not None, entry.load_error
    repository = next(iter(location.get_repositories().values()))
    selector = JobSubsetSelector(
        location_name=LOCATION,
        repository_name=repository.name,
        job_name=f"{api_name}_job",
        op_selection=None,
        asset_selection={AssetKey([api_name, resource])},
        asset_check_selection=set(),
    )
    job = location.get_job(selector)
    plan = location.get_execution_plan(job, RUN_CONFIG, step_keys_to_execute=None, known_state=None, instance=instance)
    run = instance.create_run(
        job_name=job.name,
        run_id=None,
        run_config=RUN_CONFIG,
        resolved_op_selection=None,
        step_keys_to_execute=None,
        op_selection=None,
        status=None,
        root_run_id=None,
        parent_run_id=None,
        tags=job.tags,
        job_snapshot=job.job_snapshot,
        execution_plan_snapshot=plan.execution_plan_snapshot,
        parent_job_snapshot=job.parent_job_snapshot,
        remote_job_origin=job.get_remote_origin(),
        job_code_origin=job.get_python_origin(),
        asset_selection=frozenset({AssetKey([api_name, resource])}),
        asset_check_selection=frozenset(),
        asset_graph=repository.asset_graph,
    )
    return instance.submit_run(run.run_id, request)


@contextmanager
def code_server(instance: DagsterInstance) -> Iterator[GrpcServerTarget]:
    """The project's code location in a gRPC code server, as `dagster dev` or a deployment runs it.

    Started and waited for here (not by the daemon's server registry, whose heartbeat-managed
    server can outlive the test once the database is gone).
    """
    origin = LoadableTargetOrigin(module_name="restsync_dagster.definitions", working_directory=str(PROJECT_ROOT))
    with GrpcServerProcess(
        instance_ref=instance.get_ref(), loadable_target_origin=origin, location_name=LOCATION, wait_on_exit=True
    ) as server:
        yield GrpcServerTarget(host="localhost", port=server.port, socket=server.socket, location_name=LOCATION)


def status(instance: DagsterInstance, run_id: str) -> DagsterRunStatus:
    run = instance.get_run_by_id(run_id)
    assert run is not None
    return run.status


def in_progress_per_api(instance: DagsterInstance, run_ids: list[str]) -> Counter[str]:
    runs = [instance.get_run_by_id(run_id) for run_id in run_ids]
    return Counter(run.tags[API_TAG] for run in runs if run is not None and run.status in IN_PROGRESS_RUN_STATUSES)


def test_queued_runs_go_one_per_api_while_different_apis_run_together(
    production_instance: DagsterInstance, sim_env: Simulator
) -> None:
    instance = production_instance
    with code_server(instance) as target, WorkspaceProcessContext(instance, target) as context:
        submitted = [submit(instance, context, "service_desk", "groups") for _ in range(3)]
        submitted += [submit(instance, context, "ticket_desk", "organizations") for _ in range(2)]
        run_ids = [run.run_id for run in submitted]
        assert all(run.status == DagsterRunStatus.QUEUED for run in submitted)

        with QueuedRunCoordinatorDaemon(interval_seconds=1) as daemon:
            list(daemon.run_iteration(context))
            # the first pass launches one run of each API and holds the others in the queue
            assert in_progress_per_api(instance, run_ids) == Counter({"service_desk": 1, "ticket_desk": 1})
            assert [status(instance, r) for r in run_ids].count(DagsterRunStatus.QUEUED) == 3

            deadline = time.monotonic() + 240  # a safety net against a hung run, not a speed assertion
            while not all(status(instance, r) in FINISHED for r in run_ids):
                assert time.monotonic() < deadline, "runs did not finish"
                list(daemon.run_iteration(context))
                # right after a dequeue pass: runs only leave the in-progress set until the next pass
                assert max(in_progress_per_api(instance, run_ids).values(), default=0) <= 1
                time.sleep(0.5)

    records = {record.dagster_run.run_id: record for record in instance.get_run_records()}
    assert all(records[r].dagster_run.status == DagsterRunStatus.SUCCESS for r in run_ids), {
        r: records[r].dagster_run.status for r in run_ids
    }
    # the runs of one API never overlapped: each started after the previous one ended
    for api_name in ("service_desk", "ticket_desk"):
        spans = sorted((records[r].start_time, records[r].end_time) for r in run_ids if records[r].dagster_run.tags[API_TAG] == api_name)
        assert all(start is not None and end is not None for start, end in spans)
        assert all(later[0] >= earlier[1] for earlier, later in zip(spans, spans[1:])), spans
    assert len(table_rows("service_desk", "groups", "id")) == len(sim_env.records("service_desk", "groups"))
    assert len(table_rows("ticket_desk", "organizations", "id")) == len(sim_env.records("ticket_desk", "organizations"))
