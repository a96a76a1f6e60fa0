"""`incremental.restart_on`: Freshdesk answers 400 "You cannot access tickets beyond the 300th page";
the listing starts again from page 1 filtered on the newest `updated_at` read (Airbyte's
SPLIT_USING_CURSOR), the tables stay exact, and a restart that makes no progress stops."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from restsync_dagster.config.loading import parse_api_config
from restsync_dagster.simulator import Simulator
from restsync_dagster.simulator.flavours import freshdesk
from restsync_dagster_tests.support.faults_helpers import assert_exact, failure_text, log_for, materialization_metadata
from restsync_dagster_tests.support.helpers import run_assets, shipped
from restsync_dagster_tests.support.local_server import JsonServer, Reply
from restsync_dagster_tests.support.vendor_server import run


@pytest.fixture
def capped_freshdesk(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The freshdesk flavour refusing tickets past page 2 (instead of 300), 450 tickets: 100 a page."""
    monkeypatch.setattr(freshdesk, "TICKET_PAGE_CAP", 2)
    with Simulator(port=0, login_port=0, scale=0.02, counts={"service_desk.tickets": 450}, flavors={"service_desk": "freshdesk"}) as sim:
        for key, value in sim.env().items():
            monkeypatch.setenv(key, value)
        yield sim


def _query(entry: dict[str, Any]) -> dict[str, str]:
    query = entry["query"]
    return query if isinstance(query, dict) else {k: v[-1] for k, v in parse_qs(str(query)).items()}


def test_tickets_past_the_page_cap_are_listed_again_from_the_newest_updated_at(capped_freshdesk: Simulator, caplog: pytest.LogCaptureFixture) -> None:
    sim = capped_freshdesk
    api = shipped("service_desk")
    caplog.set_level(logging.WARNING, logger="restsync_dagster.extract.restart")
    result = run_assets(api, ["tickets"], raise_on_error=False)
    assert result.success, failure_text(result)
    assert_exact(sim, "service_desk", "tickets")  # every ticket, each once

    asked = [_query(e) for e in log_for(sim, "service_desk", "tickets")]
    refused = [e for e in log_for(sim, "service_desk", "tickets") if e["status"] == 400]
    assert refused and all(int(_query(e)["page"]) > 2 for e in refused), [(_query(e), e["status"]) for e in log_for(sim, "service_desk", "tickets")]
    restarts = [q for q in asked if q.get("page", "1") == "1" and q["updated_since"] != "2000-01-01T00:00:00Z"]
    assert restarts, asked
    # each restart starts from a newer updated_at than the one before, read from the records
    since = [q["updated_since"] for q in restarts]
    assert since == sorted(set(since))
    served = {r["updated_at"][:19] for r in sim.records("service_desk", "tickets")}
    assert all(value.rstrip("Z") in served for value in since)
    lines = [r.getMessage() for r in caplog.records if "incremental.restart_on" in r.getMessage()]
    assert len(lines) == len(restarts) and "updated_since=" in lines[0] and "resource 'tickets'" in lines[0]
    assert materialization_metadata(result, "tickets")["rows_loaded"] >= 450


def _server(records: list[dict[str, Any]], cap: int) -> JsonServer:
    def answer(path: str) -> Reply:
        query = {k: v[-1] for k, v in parse_qs(urlparse(path).query).items()}
        page = int(query.get("page", "1"))
        if page > cap:
            return Reply(400, {"description": "Validation failed", "errors": [{"message": "You cannot access tickets beyond the 300th page"}]})
        rows = sorted((r for r in records if r["updated_at"] >= query.get("since", "")), key=lambda r: r["updated_at"])
        return Reply(200, rows[(page - 1) * 2 : page * 2])

    return JsonServer(answer)


def _api(url: str, restart: Any = {"status": 400, "body_contains": "300th page"}) -> Any:
    incremental: dict[str, Any] = {"cursor_path": "updated_at", "param": "since", "initial_value": "2024-01-01T00:00:00Z"}
    if restart is not None:
        incremental["restart_on"] = restart
    raw = {
        "client": {"base_url": url},
        "resources": [{"name": "tickets", "incremental": incremental, "endpoint": {"path": "/tickets", "paginator": {"type": "page_number", "base_page": 1}}}],
    }
    return parse_api_config(raw, source_file="configs/desk.yaml", default_name="desk")


def test_a_restart_that_reads_nothing_newer_stops_naming_the_setting(workdir: Path) -> None:
    # five records at one instant, two a page, page 3 refused: a restart from that instant repeats them
    server = _server([{"id": i, "updated_at": "2024-06-01T00:00:00Z"} for i in range(5)], cap=2)
    try:
        from dagster import materialize  # a failing run: raise_on_error off
        from dagster_dlt import DagsterDltResource

        from restsync_dagster.orchestration.assets import build_api_assets

        api = _api(server.url)
        result = materialize([build_api_assets(api)], resources={"dlt": DagsterDltResource()}, raise_on_error=False)
        assert not result.success
        text = failure_text(result)
        assert "configs/desk.yaml: resource 'tickets': field 'incremental.restart_on'" in text
        assert "read nothing newer" in text
        pages_1 = [p for p in server.seen if "page=1" in p or "page" not in p]
        assert len(pages_1) == 2  # the first listing and one restart, no loop
    finally:
        server.stop()


def test_without_restart_on_the_cap_fails_the_resource_and_with_it_every_record_loads(workdir: Path) -> None:
    records = [{"id": i, "updated_at": f"2024-06-{i + 1:02d}T00:00:00Z"} for i in range(9)]
    server = _server(records, cap=2)
    try:
        from dagster import materialize
        from dagster_dlt import DagsterDltResource

        from restsync_dagster.orchestration.assets import build_api_assets
        from restsync_dagster_tests.support.helpers import table_rows

        failed = materialize([build_api_assets(_api(server.url, restart=None))], resources={"dlt": DagsterDltResource()}, raise_on_error=False)
        assert not failed.success and "answered 400" in failure_text(failed)

        assert run(_api(server.url)).success
        assert sorted(row[0] for row in table_rows("desk", "tickets", "id")) == list(range(9))
        since = [parse_qs(urlparse(p).query).get("since", [""])[0] for p in server.seen if "page=1" in p or "page" not in p]
        # the first listing, then restarts from the newest updated_at read each time (short pages are
        # read on, so the last restart comes from the last record's)
        assert since[-4:] == ["2024-01-01T00:00:00Z", "2024-06-04T00:00:00Z", "2024-06-07T00:00:00Z", "2024-06-09T00:00:00Z"]
    finally:
        server.stop()
