"""History in windows: partitions per window kind, a window run against the simulator over HTTP into
DuckDB (exactly its rows, its children with it, the live cursor and pipeline state untouched), a
failed window failing alone and re-running alone, `restsync backfill` running only missing windows,
the history assets in the definitions."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

import duckdb
import pytest
import yaml
from dagster import AssetKey, DagsterInstance, materialize

from restsync_dagster.cli.commands import main
from restsync_dagster.config.backfill_config import window_request
from restsync_dagster.config.cursor_values import parse_cursor
from restsync_dagster.config.loading import parse_api_config
from restsync_dagster.config.model import ApiConfig
from restsync_dagster.load.destination import committed_state, duckdb_path
from restsync_dagster.orchestration.history import build_history_assets, history_key, partitions_of
from restsync_dagster.orchestration.pools import history_pool_of, history_slots, pool_of, window_pool
from restsync_dagster_tests.conftest import CONFIGS
from restsync_dagster_tests.support.helpers import run_assets, table_rows

UTC = timezone.utc
MARCH, APRIL, MAY = (datetime(2024, m, 1, tzinfo=UTC) for m in (3, 4, 5))


def service_desk(**backfill: Any) -> ApiConfig:
    """The shipped service_desk config with a backfill block on tickets (the default simulator takes
    updated_since + updated_before; the real Freshdesk refuses updated_before, so the shipped config has none)."""
    raw = yaml.safe_load((CONFIGS / "service_desk.yaml").read_text())
    block = {"start": "2024-01-01", "end": "2024-06-01", "window": "monthly", "end_param": "updated_before", **backfill}
    for resource in raw["resources"]:
        if resource["name"] == "tickets":
            resource["backfill"] = block
    return parse_api_config(raw, str(CONFIGS / "service_desk.yaml"), default_name="service_desk")


def shipped_with_backfill(name: str) -> ApiConfig:
    raw = yaml.safe_load((CONFIGS / f"{name}.yaml").read_text())
    return parse_api_config(raw, str(CONFIGS / f"{name}.yaml"), default_name=name)


def ids(rows: list[dict[str, Any]]) -> list[Any]:
    return sorted(row["id"] for row in rows)


def loaded_ids(api: str, table: str) -> list[Any]:
    return sorted(row[0] for row in table_rows(api, table, "id"))


def materializations(result: Any) -> dict[str, dict[str, Any]]:
    found = {}
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization
        found[mat.asset_key.path[-1]] = {key: getattr(value, "value", value) for key, value in mat.metadata.items()}
    return found


def live_state_row(api: str) -> Optional[tuple]:
    with duckdb.connect(str(duckdb_path(api)), read_only=True) as con:
        return con.execute(
            f"SELECT version, state FROM {api}._dlt_pipeline_state WHERE pipeline_name = ? ORDER BY created_at DESC LIMIT 1", [f"restsync_{api}"]
        ).fetchone()


# --- partitions -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "window, start, end, first, last, count",
    [
        ("daily", "2024-02-27", "2024-03-02", "2024-02-27", "2024-03-01", 4),
        ("weekly", "2024-01-03", "2024-02-01", "2024-01-01", "2024-01-29", 5),  # ISO weeks: the Monday at or before start
        ("monthly", "2024-01-15", "2024-06-01", "2024-01-01", "2024-05-01", 5),
        ("monthly", "2022-01-01", "2025-01-01", "2022-01-01", "2024-12-01", 36),  # three years
    ],
)
def test_partitions_of_each_window_kind(window: str, start: str, end: str, first: str, last: str, count: int) -> None:
    partitions = partitions_of(service_desk(window=window, start=start, end=end).resource("tickets").backfill)  # type: ignore[arg-type]
    keys = partitions.get_partition_keys()
    assert (keys[0], keys[-1], len(keys)) == (first, last, count)
    window_of = partitions.time_window_for_partition_key(keys[1])
    assert window_of.start.strftime("%Y-%m-%d") == keys[1] and window_of.end.strftime("%Y-%m-%d") == (keys[2] if count > 2 else end)


def test_without_end_the_windows_reach_the_current_one() -> None:
    partitions = partitions_of(service_desk(end=None, window="monthly").resource("tickets").backfill)  # type: ignore[arg-type]
    now = datetime.now(UTC)
    assert partitions.get_partition_keys()[-1] == now.strftime("%Y-%m-01")


def test_window_requests_in_each_vendor_form() -> None:
    tickets = service_desk().resource("tickets")
    assert window_request(tickets, MARCH, APRIL) == ("/v1/tickets", {"updated_since": "2024-03-01T00:00:00Z", "updated_before": "2024-04-01T00:00:00Z"})
    zoho = shipped_with_backfill("ticket_desk").resource("tickets")
    assert window_request(zoho, MARCH, APRIL) == (
        "/tickets/search", {"modifiedTimeRange": "2024-03-01T00:00:00Z,2024-04-01T00:00:00Z", "sortBy": "modifiedTime"},
    )
    helpscout = shipped_with_backfill("shared_inbox").resource("customers")
    assert window_request(helpscout, MARCH, APRIL) == ("/v2/customers", {"query": "(modifiedAt:[2024-03-01T00:00:00Z TO 2024-04-01T00:00:00Z])"})
    epoch = service_desk()
    epoch_tickets = epoch.resource("tickets").model_copy(update={"incremental": epoch.resource("tickets").incremental.model_copy(update={"format": "epoch_ms"})})  # type: ignore[union-attr]
    assert window_request(epoch_tickets, MARCH, APRIL)[1] == {"updated_since": 1709251200000, "updated_before": 1711929600000}


# --- the asset graph --------------------------------------------------------------------------------------


def test_definitions_show_history_assets_with_partitions(workdir: Path) -> None:
    from restsync_dagster.definitions import load_definitions

    defs = load_definitions(CONFIGS)
    graph = defs.resolve_asset_graph()
    history = {key.to_user_string() for key in graph.get_all_asset_keys() if key.path[-1].endswith("_history")}
    assert history == {
        "shared_inbox/conversations_history", "shared_inbox/conversation_threads_history", "shared_inbox/customers_history",
        "ticket_desk/tickets_history",
    }
    threads = graph.get(AssetKey(["shared_inbox", "conversation_threads_history"]))
    assert threads.parent_keys == {AssetKey(["shared_inbox", "conversations_history"])}
    live = graph.get(AssetKey(["shared_inbox", "conversation_threads"]))
    assert threads.metadata["dagster/table_name"] == live.metadata["dagster/table_name"]
    assert threads.group_name == "shared_inbox_history" and live.group_name == "shared_inbox"
    tickets = graph.get(AssetKey(["ticket_desk", "tickets_history"]))
    assert tickets.partitions_def is not None and tickets.partitions_def.get_partition_keys()[0] == "2024-01-01"  # a Monday
    assert graph.get(AssetKey(["ticket_desk", "tickets"])).partitions_def is None  # the live asset stays one
    # the API's job (schedule, sensors) selects its live group only
    job = defs.resolve_job_def("ticket_desk_job")
    assert AssetKey(["ticket_desk", "tickets_history"]) not in job.asset_layer.selected_asset_keys


def test_pools_one_writer_on_duckdb_parallel_windows_elsewhere(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("RESTSYNC_DESTINATION", raising=False)
    assert window_pool("service_desk") == pool_of("service_desk")
    monkeypatch.setenv("RESTSYNC_DESTINATION", "postgres")
    assert window_pool("service_desk") == history_pool_of("service_desk") == "restsync/service_desk/history"
    assert build_history_assets(service_desk(parallelism=3))[0].op.pool == "restsync/service_desk/history"
    assert history_slots([service_desk(parallelism=3)]) == {"restsync/service_desk/history": 3}
    from restsync_dagster.orchestration.pools import ensure_pool_slots

    (tmp_path / "dagster.yaml").write_text("concurrency:\n  pools:\n    default_limit: 1\n")
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        ensure_pool_slots(instance, ["service_desk"], history_slots([service_desk(parallelism=3)]))
        assert instance.event_log_storage.get_concurrency_info("restsync/service_desk/history").slot_count == 3
        assert instance.event_log_storage.get_concurrency_info("restsync/service_desk").slot_count == 1


# --- a window run -----------------------------------------------------------------------------------------


def test_a_window_loads_exactly_its_rows_and_their_children(sim_env: Any) -> None:
    api = service_desk()
    result = materialize(build_history_assets(api), partition_key="2024-03-01")
    assert result.success
    want = sim_env.records_between("service_desk", "tickets", MARCH, APRIL)
    assert want and loaded_ids("service_desk", "tickets") == ids(want)
    children = sim_env.children_by_parent("service_desk", "conversations")
    assert loaded_ids("service_desk", "conversations") == sorted(c["id"] for t in want for c in children.get(t["id"], []))
    meta = materializations(result)
    assert meta["tickets_history"]["rows_loaded"] == len(want) and meta["tickets_history"]["rows_outside_window"] == 0
    assert meta["tickets_history"]["requests"] >= 1 and meta["conversations_history"]["requests"] == len(want)
    assert meta["tickets_history"]["window_start"] == "2024-03-01T00:00:00Z" and meta["tickets_history"]["window_end"] == "2024-04-01T00:00:00Z"
    assert meta["tickets_history"]["dlt_pipeline"] == "restsync_service_desk__tickets_history_2024_03_01"
    assert meta["tickets_history"]["dagster/table_name"] == "restsync_service_desk.service_desk.tickets"
    # every request of the window was bounded by it, none asked from a cursor
    listed = [r for r in sim_env.request_log if r.get("resource") == "tickets"]
    assert listed and all(r["query"].get("updated_before") == "2024-04-01T00:00:00Z" for r in listed)


@pytest.mark.parametrize("api_name, resource", [("ticket_desk", "tickets"), ("shared_inbox", "customers")])
def test_shipped_vendor_forms_load_exactly_their_window(sim_env: Any, api_name: str, resource: str) -> None:
    api = shipped_with_backfill(api_name)
    assets = next(a for a in build_history_assets(api) if history_key(api_name, resource) in a.keys)
    key = "2024-03-04" if api_name == "ticket_desk" else "2024-03-01"  # weekly (a Monday) / monthly
    window = assets.partitions_def.time_window_for_partition_key(key)  # type: ignore[union-attr]
    result = materialize([assets], partition_key=key)
    assert result.success
    want = sim_env.records_between(api_name, resource, window.start, window.end)
    assert want and loaded_ids(api_name, resource) == ids(want)


def test_a_window_leaves_the_live_cursor_alone_and_live_runs_load_nothing_twice(sim_env: Any) -> None:
    api = service_desk()
    assert run_assets(api, ["tickets", "conversations"]).success  # the live asset, first
    state_before, row_before = committed_state("service_desk"), live_state_row("service_desk")
    cursor_before = state_before["sources"]["service_desk"]["resources"]["tickets"]  # type: ignore[index]
    assert materialize(build_history_assets(api), partition_key="2024-03-01").success
    assert live_state_row("service_desk") == row_before  # the live pipeline's state row in the destination
    assert committed_state("service_desk")["sources"]["service_desk"]["resources"]["tickets"] == cursor_before  # type: ignore[index]
    # what the live cursor (minus its lag) re-reads before anything changes: the newest ticket(s)
    cursor = parse_cursor(cursor_before["cursor"]["last_value"]).minus_seconds(api.resource("tickets").incremental.lag_seconds)  # type: ignore[union-attr]
    relisted = [t for t in sim_env.records("service_desk", "tickets") if parse_cursor(t["updated_at"]).key >= cursor.key]  # type: ignore[union-attr]
    sim_env.mutate("service_desk", "tickets", updates=2)
    sim_env.clear_request_log()
    result = run_assets(api, ["tickets", "conversations"])
    assert result.success
    meta = materializations(result)
    assert meta["tickets"]["rows_loaded"] == len(relisted) + 2 and meta["tickets"]["rows_inserted"] == 0  # the window's rows are not loaded again
    # the window's parents came with their children: the live child asks only for the tickets it just merged
    asked = [r for r in sim_env.request_log if r.get("resource") == "conversations"]
    assert len(asked) == len(relisted) + 2
    assert loaded_ids("service_desk", "tickets") == ids(sim_env.records("service_desk", "tickets"))


def test_a_failed_window_fails_alone_and_reruns_alone(sim_env: Any) -> None:
    api = service_desk()
    assets = build_history_assets(api)
    sim_env.inject_fault("service_desk", "window_fail", "tickets", count=-1, since="2024-04-10T00:00:00Z", status=400)
    outcomes = {key: materialize(assets, partition_key=key, raise_on_error=False).success for key in ("2024-03-01", "2024-04-01", "2024-05-01")}
    assert outcomes == {"2024-03-01": True, "2024-04-01": False, "2024-05-01": True}
    assert loaded_ids("service_desk", "tickets") == ids(
        sim_env.records_between("service_desk", "tickets", MARCH, APRIL) + sim_env.records_between("service_desk", "tickets", MAY, datetime(2024, 6, 1, tzinfo=UTC))
    )
    sim_env.clear_faults()
    sim_env.clear_request_log()
    assert materialize(assets, partition_key="2024-04-01").success
    assert {r["query"].get("updated_since") for r in sim_env.request_log if r.get("resource") == "tickets"} == {"2024-04-01T00:00:00Z"}
    assert loaded_ids("service_desk", "tickets") == ids(sim_env.records_between("service_desk", "tickets", MARCH, datetime(2024, 6, 1, tzinfo=UTC)))


# --- restsync backfill ------------------------------------------------------------------------------------


def backfilled_service_desk(workdir: Path, parallelism: int = 1, rate_limit: Optional[float] = None) -> Path:
    """A configs folder holding the shipped service_desk.yaml with monthly windows of tickets in 2024 H1
    (`parallelism` at once), and `client.rate_limit` when given."""
    configs = workdir / "configs"
    configs.mkdir()
    raw = yaml.safe_load((CONFIGS / "service_desk.yaml").read_text())
    if rate_limit is not None:
        raw["client"]["rate_limit"] = rate_limit
    for resource in raw["resources"]:
        if resource["name"] == "tickets":
            resource["backfill"] = {"start": "2024-01-01", "end": "2024-06-01", "window": "monthly", "end_param": "updated_before", "parallelism": parallelism}
    (configs / "service_desk.yaml").write_text(yaml.safe_dump(raw))
    return configs


def test_cli_backfill_runs_missing_windows_only(sim_env: Any, workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    home = workdir / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("concurrency:\n  pools:\n    default_limit: 1\ntelemetry:\n  enabled: false\n")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    configs = backfilled_service_desk(workdir)
    args = ["backfill", "service_desk", "tickets", "--start", "2024-02-01", "--end", "2024-04-01", "--configs", str(configs)]

    sim_env.inject_fault("service_desk", "window_fail", "tickets", count=-1, since="2024-03-10T00:00:00Z", status=400)
    assert main(args) == 1
    out = capsys.readouterr()
    assert "2 window(s), 0 already materialized (skipped), 2 to run" in out.out and "window 2024-02-01 loaded tickets=" in out.out
    assert "window 2024-03-01 failed" in out.err
    sim_env.clear_faults()
    sim_env.clear_request_log()
    assert main(args) == 0
    out = capsys.readouterr()
    assert "2 window(s), 1 already materialized (skipped), 1 to run" in out.out and "window 2024-03-01 loaded" in out.out
    assert {r["query"].get("updated_since") for r in sim_env.request_log if r.get("resource") == "tickets"} == {"2024-03-01T00:00:00Z"}
    sim_env.clear_request_log()
    assert main(args) == 0  # idempotent: nothing left to run, no request
    assert "2 already materialized (skipped), 0 to run" in capsys.readouterr().out
    assert not [r for r in sim_env.request_log if r.get("resource") == "tickets"]
    assert loaded_ids("service_desk", "tickets") == ids(sim_env.records_between("service_desk", "tickets", datetime(2024, 2, 1, tzinfo=UTC), APRIL))
    with DagsterInstance.get() as instance:
        assert instance.get_materialized_partitions(AssetKey(["service_desk", "conversations_history"])) == {"2024-02-01", "2024-03-01"}
    assert main([*args, "--include-materialized"]) == 0
    assert "2 window(s), 0 already materialized (skipped), 2 to run" in capsys.readouterr().out
    assert loaded_ids("service_desk", "tickets") == ids(sim_env.records_between("service_desk", "tickets", datetime(2024, 2, 1, tzinfo=UTC), APRIL))


def test_cli_backfill_refuses_a_resource_without_a_block(sim_env: Any, capsys: Any) -> None:
    assert main(["backfill", "service_desk", "tickets", "--configs", str(CONFIGS / "service_desk.yaml")]) == 2
    assert "has no backfill block" in capsys.readouterr().err




def test_kill_9_mid_backfill_loses_nothing_duplicates_nothing_refetches_only_the_window_in_flight(
    sim_env: Any, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    home = workdir / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    configs = backfilled_service_desk(workdir)
    command = [sys.executable, "-m", "restsync_dagster.cli.commands", "backfill", "service_desk", "tickets",
               "--start", "2024-02-01", "--end", "2024-05-01", "--configs", str(configs)]
    sim_env.fail_window("service_desk", "tickets", "2024-04-10T00:00:00Z", seconds=60)  # the third window hangs
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=dict(os.environ))
    try:
        # the request log records a request once answered: the command says the window started
        assert process.stdout is not None
        for line in process.stdout:
            if "window 2024-04-01 of tickets: running" in line:
                break
        else:
            raise AssertionError(f"the backfill ended before its third window (exit {process.wait()})")
        time.sleep(1)  # its first request is hanging in the simulator
        os.kill(process.pid, signal.SIGKILL)  # mid-window: its extraction in flight
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    sim_env.clear_faults()
    sim_env.clear_request_log()
    again = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ), timeout=300)
    assert again.returncode == 0, again.stderr
    assert "3 window(s), 2 already materialized (skipped), 1 to run" in again.stdout
    assert {r["query"].get("updated_since") for r in sim_env.request_log if r.get("resource") == "tickets"} == {"2024-04-01T00:00:00Z"}
    want = sim_env.records_between("service_desk", "tickets", datetime(2024, 2, 1, tzinfo=UTC), MAY)
    loaded = [row[0] for row in table_rows("service_desk", "tickets", "id")]
    assert sorted(loaded) == ids(want)  # nothing lost, nothing twice
    children = sim_env.children_by_parent("service_desk", "conversations")
    conversations = [row[0] for row in table_rows("service_desk", "conversations", "id")]
    assert sorted(conversations) == sorted(c["id"] for t in want for c in children.get(t["id"], []))


def test_postgres_windows_run_side_by_side_each_its_own_run(
    sim_env: Any, workdir: Path, postgres_server: Any, postgres_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three `restsync backfill` processes at once on Postgres, one window each, on the production
    instance: the history pool has the block's 4 slots, so the runs overlap (each window's first request
    hangs 3 s); every ticket of the range lands once, the live pipeline has no state row."""
    import os
    import subprocess
    import sys

    import psycopg2

    from restsync_dagster_tests.support.postgres_server import production_home

    production_home(workdir / "dagster_home", postgres_server, postgres_dsn, monkeypatch)
    warehouse = postgres_server.create_database()
    monkeypatch.setenv("RESTSYNC_DESTINATION", "postgres")
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", warehouse)
    configs = backfilled_service_desk(workdir, parallelism=4)
    months = ["2024-02-01", "2024-03-01", "2024-04-01", "2024-05-01"]
    for start in months[:3]:
        sim_env.fail_window("service_desk", "tickets", start, seconds=3, count=1, match="start")  # hang, then answer
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "restsync_dagster.cli.commands", "backfill", "service_desk", "tickets", "--start", start, "--end", end, "--configs", str(configs)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ),
        )
        for start, end in zip(months, months[1:])
    ]
    outcomes = [process.communicate(timeout=300) for process in processes]
    assert [process.returncode for process in processes] == [0, 0, 0], [err[-2000:] for _, err in outcomes]
    with DagsterInstance.get() as instance:
        assert instance.event_log_storage.get_concurrency_info("restsync/service_desk/history").slot_count == 4
        records = [r for r in instance.get_run_records() if r.dagster_run.tags.get("restsync/history") == "service_desk"]
        assert len(records) == 3 and {r.dagster_run.tags.get("dagster/partition") for r in records} == set(months[:3])
        assert max(r.start_time for r in records) < min(r.end_time for r in records)  # all three at once
    connection = psycopg2.connect(warehouse)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT id FROM service_desk.tickets")
            loaded = [row[0] for row in cursor.fetchall()]
            cursor.execute("SELECT pipeline_name FROM service_desk._dlt_pipeline_state")
            pipelines = {row[0] for row in cursor.fetchall()}
    finally:
        connection.close()
    assert sorted(loaded) == ids(sim_env.records_between("service_desk", "tickets", datetime(2024, 2, 1, tzinfo=UTC), MAY))
    assert "restsync_service_desk" not in pipelines and len(pipelines) == 3


def test_cli_parallel_windows_run_in_worker_processes_within_one_rate_budget(
    workdir: Path, postgres_server: Any, postgres_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`restsync backfill --parallel 4` on Postgres: four windows at once, each its own run in a worker
    process of its own, against an API that allows 10 requests/s. The workers share the API's one
    budget (`client.rate_limit: 10`), so the server answers no 429 (four budgets of their own would
    send 40/s); every ticket and conversation of the range lands once."""
    import os
    import subprocess
    import sys

    from restsync_dagster.simulator import Simulator
    from restsync_dagster_tests.support.postgres_server import pg_query, production_home

    production_home(workdir / "dagster_home", postgres_server, postgres_dsn, monkeypatch)
    warehouse = postgres_server.create_database()
    configs = backfilled_service_desk(workdir, parallelism=4, rate_limit=10)
    with Simulator(port=0, login_port=0, rate_limit_per_second=10) as sim:
        env = {**os.environ, **sim.env(), "RESTSYNC_DESTINATION": "postgres", "DESTINATION__POSTGRES__CREDENTIALS": warehouse}
        done = subprocess.run(
            [sys.executable, "-m", "restsync_dagster.cli.commands", "backfill", "service_desk", "tickets",
             "--start", "2024-02-01", "--end", "2024-06-01", "--parallel", "8", "--configs", str(configs)],
            capture_output=True, text=True, env=env, timeout=300,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        assert "--parallel 8 capped at the backfill block's parallelism: 4" in done.stdout
        assert done.stdout.count(" loaded tickets=") == 4
        statuses = [entry["status"] for entry in sim.request_log]
        want = sim.records_between("service_desk", "tickets", datetime(2024, 2, 1, tzinfo=UTC), datetime(2024, 6, 1, tzinfo=UTC))
        children = sim.children_by_parent("service_desk", "conversations")
    assert len(statuses) > 80 and 429 not in statuses
    with DagsterInstance.get() as instance:
        records = [r for r in instance.get_run_records() if r.dagster_run.tags.get("restsync/history") == "service_desk"]
        assert len(records) == 4 and len({r.dagster_run.tags.get("dagster/partition") for r in records}) == 4
        assert max(r.start_time for r in records) < min(r.end_time for r in records)  # all four at once
    assert sorted(row[0] for row in pg_query(warehouse, "SELECT id FROM service_desk.tickets")) == ids(want)
    conversations = sorted(row[0] for row in pg_query(warehouse, "SELECT id FROM service_desk.conversations"))
    assert conversations == sorted(c["id"] for t in want for c in children.get(t["id"], []))


def test_cli_parallel_called_twice_in_one_process_loads_where_each_call_says(
    sim_env: Any, workdir: Path, postgres_server: Any, monkeypatch: pytest.MonkeyPatch, capfd: Any
) -> None:
    """The worker processes fork from a server that outlives the call: the second call (another
    warehouse, another instance) must not load with the first call's environment."""
    from restsync_dagster_tests.support.postgres_server import pg_query

    configs = backfilled_service_desk(workdir, parallelism=2)
    monkeypatch.setenv("RESTSYNC_DESTINATION", "postgres")
    args = ["backfill", "service_desk", "tickets", "--start", "2024-02-01", "--end", "2024-04-01", "--parallel", "2", "--configs", str(configs)]
    warehouses = []
    for call in ("first", "second"):
        warehouses.append(postgres_server.create_database())
        monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", warehouses[-1])
        monkeypatch.setenv("DLT_DATA_DIR", str(workdir / call / "dlt"))
        assert main(args) == 0, capfd.readouterr().err[-2000:]
        assert capfd.readouterr().out.count(" loaded tickets=") == 2
    want = ids(sim_env.records_between("service_desk", "tickets", datetime(2024, 2, 1, tzinfo=UTC), APRIL))
    for warehouse in warehouses:
        assert sorted(row[0] for row in pg_query(warehouse, "SELECT id FROM service_desk.tickets")) == want


def test_cli_parallel_on_duckdb_runs_windows_one_after_another(sim_env: Any, workdir: Path, capfd: Any) -> None:
    """One writer per DuckDB file: `--parallel` is refused with a line, and the windows still all load."""
    configs = backfilled_service_desk(workdir)
    args = ["backfill", "service_desk", "tickets", "--start", "2024-02-01", "--end", "2024-04-01", "--parallel", "4", "--configs", str(configs)]
    assert main(args) == 0
    out = capfd.readouterr().out
    assert "--parallel 4 ignored on DuckDB (one writer per file): windows run one after another" in out
    assert out.count(" loaded tickets=") == 2
    assert loaded_ids("service_desk", "tickets") == ids(sim_env.records_between("service_desk", "tickets", datetime(2024, 2, 1, tzinfo=UTC), APRIL))


@pytest.mark.parametrize("api_name, resource, flavour, key", [
    ("ticket_desk", "tickets", "zoho", "2024-03-04"),
    ("shared_inbox", "conversations", "helpscout", "2024-03-01"),
    ("shared_inbox", "customers", "helpscout", "2024-03-01"),
])
def test_shipped_blocks_against_the_vendor_flavours(workdir: Path, monkeypatch: pytest.MonkeyPatch, api_name: str, resource: str, flavour: str, key: str) -> None:
    """The shipped windows as the real vendors answer them: Zoho Desk's /tickets/search with
    modifiedTimeRange, Help Scout's query=(modifiedAt:[a TO b])."""
    from restsync_dagster.simulator import Simulator

    with Simulator(port=0, login_port=0, flavors={api_name: flavour}) as sim:
        for name, value in sim.env().items():
            monkeypatch.setenv(name, value)
        api = shipped_with_backfill(api_name)
        assets = next(a for a in build_history_assets(api) if history_key(api_name, resource) in a.keys)
        window = assets.partitions_def.time_window_for_partition_key(key)  # type: ignore[union-attr]
        result = materialize([assets], partition_key=key)
        assert result.success
        want = sim.records_between(api_name, resource, window.start, window.end)
        assert want and loaded_ids(api_name, resource) == ids(want)
        assert materializations(result)[f"{resource}_history"]["rows_outside_window"] == 0


def test_history_first_then_the_live_asset_takes_over(sim_env: Any) -> None:
    """The usual order: windows load the history, then the live asset's first run; it finds the tables
    the windows made (their dlt schema is their own), merges into them and moves only its own cursor."""
    api = service_desk()
    assets = build_history_assets(api)
    for key in ("2024-03-01", "2024-04-01"):
        assert materialize(assets, partition_key=key).success
    assert committed_state("service_desk") is None  # the live pipeline never ran
    result = run_assets(api, ["tickets", "conversations"])
    assert result.success
    loaded = [row[0] for row in table_rows("service_desk", "tickets", "id")]
    assert sorted(loaded) == ids(sim_env.records("service_desk", "tickets"))  # each once
    in_windows = sim_env.records_between("service_desk", "tickets", MARCH, MAY)
    assert materializations(result)["tickets"]["rows_inserted"] == len(loaded) - len(in_windows)
    assert committed_state("service_desk")["sources"]["service_desk"]["resources"]["tickets"]["cursor"]["last_value"]  # type: ignore[index]
    conversations = [row[0] for row in table_rows("service_desk", "conversations", "id")]
    assert len(conversations) == len(set(conversations))
