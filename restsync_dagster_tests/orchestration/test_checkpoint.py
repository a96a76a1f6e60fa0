"""A long listing checkpoints what it loaded (extract/checkpoint.py): killed, it resumes near where it stopped.

ticket_desk tickets against a simulator of the test's own: an offset listing of 50 per page (the
offset is the paginator state a checkpoint carries), incremental on modifiedTime. Read-ahead is off so that every request is
one page the listing asked for, and repeated requests can be counted exactly.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from restsync_dagster.config.model import ApiConfig
from restsync_dagster.extract.checkpoint import CHECKPOINT_KEY
from restsync_dagster.extract.resource_state import resource_state_of
from restsync_dagster.load.destination import committed_state
from restsync_dagster.simulator import Simulator
from restsync_dagster_tests.support.faults_helpers import assert_exact, log_for, with_client
from restsync_dagster_tests.support.helpers import run_assets, shipped, table_rows
from restsync_dagster_tests.support.paths import PROJECT_ROOT

TICKETS = 1000  # 20 pages of 50, then the 204 that ends the listing


@pytest.fixture
def own_sim(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Simulator]:
    with Simulator(port=0, login_port=0, counts={"ticket_desk.tickets": TICKETS}) as sim:
        for key, value in sim.env().items():
            monkeypatch.setenv(key, value)
        yield sim


def checkpointing(pages: int, **more: Any) -> ApiConfig:
    """ticket_desk with a checkpoint every `pages` pages (0: never) and no read-ahead."""
    api = with_client(shipped("ticket_desk"), read_ahead_pages=0)
    return api.model_copy(update={"error_handling": api.error_handling.model_copy(update={"checkpoint_pages": pages, **more})})


def tickets_state() -> dict[str, Any]:
    return dict(resource_state_of(committed_state("ticket_desk") or {}, "ticket_desk", "tickets"))


def newest_served(sim: Simulator) -> str:
    return max(record["modifiedTime"] for record in sim.records("ticket_desk", "tickets"))


def materialization(result: Any) -> dict[str, Any]:
    events = [e for e in result.get_asset_materialization_events() if e.asset_key.path[-1] == "tickets"]
    assert len(events) == 1, f"{len(events)} materializations of tickets in one run"
    return {key: getattr(value, "value", value) for key, value in events[0].materialization.metadata.items()}


def loads() -> int:
    return len(table_rows("ticket_desk", "_dlt_loads", "load_id"))


def offsets(entries: list[dict[str, Any]]) -> list[int]:
    """The record offset each tickets request asked for (`offset` or `from`)."""
    found = []
    for entry in entries:
        query = entry.get("query") or {}
        value = query.get("from", query.get("offset"))
        if value is not None:
            found.append(int(value))
    return found


def test_a_checkpointed_listing_loads_what_one_uninterrupted_run_loads(own_sim: Simulator, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = run_assets(checkpointing(3), ["tickets"])
    metadata = materialization(result)
    assert_exact(own_sim, "ticket_desk", "tickets")
    assert metadata["rows_loaded"] == TICKETS and metadata["rows_inserted"] == TICKETS
    assert metadata["pages"] == TICKETS // 50 + 1 and metadata["requests"] == metadata["pages"]  # no page asked twice
    assert loads() == 7  # parts of 3 pages: 6 checkpoints, then the end
    state = tickets_state()
    assert CHECKPOINT_KEY not in state, "the checkpoint is cleared when the listing ends"
    assert state["cursor"]["last_value"] == newest_served(own_sim) == metadata["incremental_cursor"]
    assert state["incremental_observed"]["records"] == TICKETS  # observations span every part

    # the same listing in one go, in another folder: the same cursor, one load
    monkeypatch.setenv("RESTSYNC_DUCKDB_DIR", str(workdir / "plain"))
    monkeypatch.setenv("DLT_DATA_DIR", str(workdir / "plain_dlt"))
    plain = materialization(run_assets(checkpointing(0), ["tickets"]))
    assert loads() == 1
    assert plain["incremental_cursor"] == metadata["incremental_cursor"] and plain["rows_loaded"] == TICKETS
    assert tickets_state()["cursor"] == state["cursor"]


def test_the_default_interval_does_not_checkpoint_an_ordinary_run(own_sim: Simulator) -> None:
    api = with_client(shipped("ticket_desk"), read_ahead_pages=0)
    assert api.error_handling.checkpoint_pages == 1000
    assert materialization(run_assets(api, ["tickets"]))["rows_loaded"] == TICKETS
    assert loads() == 1 and CHECKPOINT_KEY not in tickets_state()


def test_a_run_killed_after_some_checkpoints_resumes_at_the_last_one(own_sim: Simulator, caplog: pytest.LogCaptureFixture) -> None:
    interval = 2
    own_sim.state.latency = 0.05  # slow enough to be killed in the middle
    code = (
        "from restsync_dagster_tests.orchestration.test_checkpoint import checkpointing\n"
        "from restsync_dagster_tests.support.helpers import run_assets\n"
        f"run_assets(checkpointing({interval}), ['tickets'], raise_on_error=False)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)})
    try:
        while child.poll() is None and len(log_for(own_sim, "ticket_desk", "tickets")) < 9:
            time.sleep(0.005)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
    finally:
        own_sim.state.latency = 0.0
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL, f"the run was not killed mid-listing (exit {child.returncode})"
    before = log_for(own_sim, "ticket_desk", "tickets")
    asked_before = offsets(before)
    assert len(before) < TICKETS // 50, "killed before the listing ended"
    loaded_before = len(table_rows("ticket_desk", "tickets", "id"))
    assert loaded_before >= 3 * interval * 50, "checkpoints committed their rows before the kill"

    own_sim.clear_request_log()
    with caplog.at_level(logging.INFO, logger="restsync_dagster.extract.listing"):
        metadata = materialization(run_assets(checkpointing(interval), ["tickets"]))
    resumed = [r.getMessage() for r in caplog.records if "resuming the listing" in r.getMessage()]
    assert len(resumed) == 1 and f"{loaded_before} records committed" in resumed[0], resumed

    assert_exact(own_sim, "ticket_desk", "tickets")  # nothing lost, nothing twice
    asked_again = set(offsets(log_for(own_sim, "ticket_desk", "tickets"))) & set(asked_before)
    assert len(asked_again) <= interval, f"pages asked again: {sorted(asked_again)}"
    assert min(offsets(log_for(own_sim, "ticket_desk", "tickets"))) == loaded_before  # from the checkpoint on
    assert metadata["rows_loaded"] == TICKETS - loaded_before
    state = tickets_state()
    assert CHECKPOINT_KEY not in state
    assert state["cursor"]["last_value"] == newest_served(own_sim) == metadata["incremental_cursor"]


def failed_after_checkpoints(sim: Simulator, interval: int, requests: int) -> int:
    """A run that fails mid-listing (a 400 after `requests` pages): its checkpoints stay committed."""
    sim.inject_fault("ticket_desk", "status", "tickets", count=-1, status=400, after=requests)
    assert not run_assets(checkpointing(interval), ["tickets"], raise_on_error=False).success
    sim.clear_faults()
    sim.clear_request_log()
    assert tickets_state()[CHECKPOINT_KEY]["pages"] == (requests // interval) * interval
    assert "cursor" not in tickets_state(), "the cursor moves only when the listing ends"
    return len(table_rows("ticket_desk", "tickets", "id"))


def test_a_failed_run_resumes_from_its_checkpoint(own_sim: Simulator) -> None:
    loaded = failed_after_checkpoints(own_sim, 3, 8)
    assert loaded == 6 * 50
    metadata = materialization(run_assets(checkpointing(3), ["tickets"]))
    assert offsets(log_for(own_sim, "ticket_desk", "tickets"))[0] == loaded
    assert_exact(own_sim, "ticket_desk", "tickets")
    assert tickets_state()["cursor"]["last_value"] == newest_served(own_sim) == metadata["incremental_cursor"]


@pytest.mark.parametrize("change", ["config", "age"])
def test_a_checkpoint_of_another_config_or_too_old_is_ignored(own_sim: Simulator, change: str, caplog: pytest.LogCaptureFixture) -> None:
    failed_after_checkpoints(own_sim, 3, 8)
    api = checkpointing(3, checkpoint_max_age_hours=1e-9) if change == "age" else checkpointing(3)
    if change == "config":
        tickets = api.resource("tickets")
        assert tickets.incremental is not None
        changed = tickets.model_copy(update={"incremental": tickets.incremental.model_copy(update={"lag_seconds": 120})})
        api = api.model_copy(update={"resources": [changed if r.name == "tickets" else r for r in api.resources]})
    with caplog.at_level(logging.WARNING, logger="restsync_dagster.extract.listing"):
        assert run_assets(api, ["tickets"]).success
    ignored = [r.getMessage() for r in caplog.records if "is ignored, the listing starts over" in r.getMessage()]
    assert len(ignored) == 1 and ("another query or config" if change == "config" else "older than") in ignored[0], ignored
    assert offsets(log_for(own_sim, "ticket_desk", "tickets"))[0] == 0  # from the first page
    assert_exact(own_sim, "ticket_desk", "tickets")
    assert CHECKPOINT_KEY not in tickets_state()


def test_checkpointing_disabled_loads_in_one_go_and_a_failure_commits_nothing(own_sim: Simulator) -> None:
    own_sim.inject_fault("ticket_desk", "status", "tickets", count=-1, status=400, after=8)
    assert not run_assets(checkpointing(0), ["tickets"], raise_on_error=False).success
    own_sim.clear_faults()
    assert tickets_state() == {} or CHECKPOINT_KEY not in tickets_state()
    own_sim.clear_request_log()
    assert run_assets(checkpointing(0), ["tickets"]).success
    assert offsets(log_for(own_sim, "ticket_desk", "tickets"))[0] == 0
    assert_exact(own_sim, "ticket_desk", "tickets")
    assert loads() == 1


@pytest.mark.parametrize(
    "api_name, resource",
    [
        ("service_desk", "contacts"),  # RFC 8288 Link header: the next page is a URL
        ("messaging", "conversations"),  # a body cursor token sent back as a parameter
        ("shared_inbox", "conversations"),  # HAL _links.next.href
    ],
)
def test_every_kind_of_next_page_resumes_from_its_checkpoint(workdir: Path, monkeypatch: pytest.MonkeyPatch, api_name: str, resource: str) -> None:
    with Simulator(port=0, login_port=0, counts={f"{api_name}.{resource}": 600}) as sim:
        for key, value in sim.env().items():
            monkeypatch.setenv(key, value)
        api = with_client(shipped(api_name), read_ahead_pages=0)
        api = api.model_copy(update={"error_handling": api.error_handling.model_copy(update={"checkpoint_pages": 2})})
        sim.inject_fault(api_name, "status", resource, count=-1, status=400, after=5)
        assert not run_assets(api, [resource], raise_on_error=False).success
        sim.clear_faults()
        first = [repr(sorted((e.get("query") or {}).items())) + e.get("path", "") for e in log_for(sim, api_name, resource)]
        checkpoint = dict(resource_state_of(committed_state(api_name) or {}, api_name, resource))[CHECKPOINT_KEY]
        assert checkpoint["pages"] == 4
        sim.clear_request_log()
        result = run_assets(api, [resource])
        events = [e for e in result.get_asset_materialization_events() if e.asset_key.path[-1] == resource]
        assert len(events) == 1
        assert events[0].materialization.metadata["rows_loaded"].value == 600 - checkpoint["records"]  # from the checkpoint on
        again = [repr(sorted((e.get("query") or {}).items())) + e.get("path", "") for e in log_for(sim, api_name, resource)]
        assert len(set(again) & set(first)) <= 2, "more than one interval of pages asked again"
        assert_exact(sim, api_name, resource)
        state = dict(resource_state_of(committed_state(api_name) or {}, api_name, resource))
        assert CHECKPOINT_KEY not in state
        field = api.resource(resource).incremental.cursor_paths  # type: ignore[union-attr]
        served = [next(r[f] for f in field if r.get(f) is not None) for r in sim.records(api_name, resource)]
        assert state["cursor"]["last_value"] == max(served)
