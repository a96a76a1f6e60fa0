"""`incremental.cursor_path` as a list of alternatives (Help Scout conversations: `userUpdatedAt`,
older records and the default simulator: `updatedAt`): per record the first field it carries
counts, the cursor moves to the newest of those, and the check, the probe and the change sensor
read the same fields."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import parse_qs, urlparse

import pytest
from dagster import build_sensor_context

from restsync_dagster.config.errors import ConfigErrors
from restsync_dagster.config.loading import parse_api_config
from restsync_dagster.extract.incremental_state import cursor_of
from restsync_dagster.extract.probe import probe_api
from restsync_dagster.load.destination import committed_state
from restsync_dagster.orchestration.automation import api_job, change_sensor
from restsync_dagster.simulator import Simulator
from restsync_dagster_tests.support.faults_helpers import assert_exact, log_for, materialization_metadata
from restsync_dagster_tests.support.helpers import run_assets, shipped
from restsync_dagster_tests.support.local_server import JsonServer, Reply
from restsync_dagster_tests.support.vendor_server import run, vendor_api

PATHS = ["userUpdatedAt", "updatedAt"]


def _records() -> list[dict[str, Any]]:
    return [
        # carries both: userUpdatedAt counts, its later updatedAt does not
        {"id": 1, "userUpdatedAt": "2024-06-01T00:00:00Z", "updatedAt": "2024-09-01T00:00:00Z"},
        {"id": 2, "updatedAt": "2024-07-01T00:00:00Z"},  # only the fallback
        {"id": 3, "userUpdatedAt": "2024-06-15T00:00:00Z", "updatedAt": None},
    ]


def _stamp(record: dict[str, Any]) -> str:
    return str(record.get("userUpdatedAt") or record.get("updatedAt"))


@pytest.fixture
def server(workdir: Path) -> Iterator[tuple[JsonServer, list[dict[str, Any]], list[dict[str, str]]]]:
    records = _records()
    queries: list[dict[str, str]] = []

    def answer(path: str) -> Reply:
        url = urlparse(path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        queries.append(query)
        rows = [r for r in records if "since" not in query or _stamp(r) >= query["since"]]
        if query.get("sort") == "desc":
            rows.sort(key=_stamp, reverse=True)
        if "limit" in query:
            return Reply(200, {"data": rows[: int(query["limit"])]})
        page = int(query.get("page", "1"))
        return Reply(200, {"data": rows[(page - 1) * 2 : page * 2]})

    json_server = JsonServer(answer)
    yield json_server, records, queries
    json_server.stop()


def test_the_first_field_a_record_carries_moves_the_cursor_and_is_sent_back(server: Any) -> None:
    json_server, records, queries = server
    api = vendor_api(json_server.url, PATHS, "2024-01-01T00:00:00Z")  # type: ignore[arg-type]
    result = run(api)
    assert result.success
    # 06-01 (id 1: not its updatedAt 09-01), 07-01 (id 2's fallback), 06-15: the newest is id 2's
    assert materialization_metadata(result, "items")["incremental_cursor"] == "2024-07-01T00:00:00Z"
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert checks["incremental"].passed, checks["incremental"].metadata

    queries.clear()
    assert run(api).success
    assert queries and all(q["since"] == "2024-06-30T23:59:00Z" for q in queries)  # minus the 60 s lag


def test_records_without_any_alternative_are_named_and_loaded_whole(server: Any) -> None:
    json_server, records, _ = server
    for record in records:
        record.pop("userUpdatedAt", None), record.pop("updatedAt", None)
        record["modified"] = "2024-06-01T00:00:00Z"
    result = run(vendor_api(json_server.url, PATHS, "2024-01-01T00:00:00Z"))  # type: ignore[arg-type]
    assert result.success
    check = next(e for e in result.get_asset_check_evaluations() if e.check_name == "incremental")
    assert not check.passed
    text = str(check.description)
    assert "records have no 'userUpdatedAt' or 'updatedAt'" in text and "'modified'" in text
    assert check.metadata["cursor_path"].value == "userUpdatedAt | updatedAt"


def test_the_change_sensor_reads_the_alternatives(server: Any) -> None:
    json_server, records, _ = server
    api = vendor_api(json_server.url, PATHS, "2024-01-01T00:00:00Z")  # type: ignore[arg-type]
    sensor = change_sensor(api, api_job(api))
    assert sensor is not None
    first = sensor.evaluate_tick(build_sensor_context(cursor=None))
    assert json.loads(first.cursor)["items"] == "2024-07-01T00:00:00Z"  # id 2's updatedAt, not id 1's
    quiet = sensor.evaluate_tick(build_sensor_context(cursor=first.cursor))
    assert not quiet.run_requests, quiet.run_requests[0].tags if quiet.run_requests else None

    records[1]["updatedAt"] = "2024-08-01T00:00:00Z"
    changed = sensor.evaluate_tick(build_sensor_context(cursor=quiet.cursor))
    assert changed.run_requests, changed.skip_message
    assert "2024-08-01T00:00:00Z" in changed.run_requests[0].tags["restsync/reason"]


def test_alternatives_are_validated() -> None:
    raw: dict[str, Any] = {
        "client": {"base_url": "http://127.0.0.1:1"},
        "resources": [{"name": "items", "incremental": {"cursor_path": [], "param": "since", "initial_value": 0}, "endpoint": {"path": "/items"}}],
    }
    with pytest.raises(ConfigErrors) as raised:
        parse_api_config(raw, source_file="configs/vendor.yaml", default_name="vendor")
    assert "items" in str(raised.value) and "cursor_path" in str(raised.value), str(raised.value)


@pytest.mark.parametrize("flavor, field", [("helpscout", "userUpdatedAt"), ("default", "updatedAt")])
def test_shared_inbox_conversations_load_incrementally_in_both_flavours(workdir: Path, monkeypatch: pytest.MonkeyPatch, flavor: str, field: str) -> None:
    counts = {"shared_inbox.conversations": 60}
    with Simulator(port=0, login_port=0, scale=0.02, counts=counts, flavors={"shared_inbox": flavor}) as sim:
        for key, value in sim.env().items():
            monkeypatch.setenv(key, value)
        api = shipped("shared_inbox")
        assert api.resource("conversations").incremental.cursor_path == PATHS  # type: ignore[union-attr]
        result = run_assets(api, ["conversations"])
        newest = max(sim.records("shared_inbox", "conversations"), key=lambda r: r[field])[field]
        state = committed_state("shared_inbox")
        assert state is not None and cursor_of(state, "shared_inbox", "conversations", PATHS) == newest
        assert materialization_metadata(result, "conversations")["incremental_cursor"] == newest
        assert not [e for e in result.get_asset_check_evaluations() if e.check_name == "incremental" and not e.passed]
        if flavor == "default":  # the probe finds the fallback (it failed on 'userUpdatedAt' before)
            failed = [(f.check, f.detail) for r in probe_api(api, ["conversations"]) for f in r.findings if not f.passed]
            assert failed == []

        sim.mutate("shared_inbox", "conversations", updates=2, inserts=1)
        sim.clear_request_log()
        assert run_assets(api, ["conversations"]).success
        asked = log_for(sim, "shared_inbox", "conversations")
        assert asked and all("modifiedSince" in e["query"] for e in asked)
        assert len(asked) == 1  # the changes fit one page; all 60 would take 3 (helpscout: 25 a page)
        assert_exact(sim, "shared_inbox", "conversations")
