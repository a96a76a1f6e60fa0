"""Optional settings: `${config.x?}` leaves its header or query parameter out when `x` is unset
(Zoho Desk's `orgId`, needed only by accounts with several organizations), sends it when set, and a
placeholder without `?` still fails naming file, resource and field."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator
from urllib.parse import parse_qs, urlparse

import pytest

from restsync_dagster.config.loading import parse_api_config
from restsync_dagster.config.model import ApiConfig
from restsync_dagster.extract.plan import resolve_plan
from restsync_dagster.simulator import Simulator
from restsync_dagster_tests.support.faults_helpers import failure_text
from restsync_dagster_tests.support.helpers import run_assets, shipped, table_rows
from restsync_dagster_tests.support.local_server import JsonServer


@pytest.fixture
def server(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[JsonServer]:
    for name in ("ORG_ID", "DEPT", "SUFFIX", "REGION"):
        monkeypatch.delenv(f"SOURCES__DESK__{name}", raising=False)
    json_server = JsonServer(lambda path: {"data": [{"id": 1}, {"id": 2}]})
    yield json_server
    json_server.stop()


def _api(url: str, params: dict[str, Any]) -> ApiConfig:
    raw = {
        "client": {"base_url": url, "headers": {"orgId": "${config.org_id?}"}},
        "resources": [{"name": "items", "endpoint": {"path": "/items", "data_selector": "data", "params": params, "paginator": {"type": "single_page"}}}],
    }
    return parse_api_config(raw, source_file="configs/desk.yaml", default_name="desk")


def _query(path: str) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlparse(path).query, keep_blank_values=True).items()}


def test_unset_optional_settings_leave_their_header_and_param_out(server: JsonServer) -> None:
    api = _api(server.url, {"dept": "${config.dept?}", "q": "open-${config.suffix?}", "per_page": 10})
    assert run_assets(api).success
    assert sorted(row[0] for row in table_rows("desk", "items", "id")) == [1, 2]
    assert server.seen_headers and not any("orgId" in headers for headers in server.seen_headers)
    assert [_query(path) for path in server.seen] == [{"q": "open-", "per_page": "10"}]  # no dept, no "None"


def test_set_optional_settings_are_sent(server: JsonServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCES__DESK__ORG_ID", "60001234")
    monkeypatch.setenv("SOURCES__DESK__DEPT", "7")
    monkeypatch.setenv("SOURCES__DESK__SUFFIX", "mine")
    assert run_assets(_api(server.url, {"dept": "${config.dept?}", "q": "open-${config.suffix?}"})).success
    assert server.seen_headers and all(headers.get("orgId") == "60001234" for headers in server.seen_headers)
    assert [_query(path) for path in server.seen] == [{"dept": "7", "q": "open-mine"}]


def test_a_required_setting_still_fails_naming_file_resource_and_field(server: JsonServer) -> None:
    api = _api(server.url, {"region": "${config.region}", "dept": "${config.dept?}"})
    problem = resolve_plan(api).resource("items").problem
    assert problem is not None and str(problem).startswith("configs/desk.yaml: field 'endpoint.params.region' needs the setting 'region'")
    result = run_assets(api, raise_on_error=False)
    assert not result.success
    text = failure_text(result)
    assert "configs/desk.yaml" in text and "resource 'items'" in text and "field 'endpoint.params.region'" in text
    assert "SOURCES__DESK__REGION" in text
    assert server.seen == []  # nothing sent


def test_ticket_desk_sends_org_id_only_when_set(simulator: Simulator, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in simulator.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("SOURCES__TICKET_DESK__ORG_ID", raising=False)
    api = shipped("ticket_desk")
    assert api.client.headers == {"orgId": "${config.org_id?}"}
    assert "orgId" not in resolve_plan(api).client.headers
    assert run_assets(api, ["organizations"]).success  # the simulator, like a single-org portal, needs none
    monkeypatch.setenv("SOURCES__TICKET_DESK__ORG_ID", "60001234")
    assert resolve_plan(api).client.headers == {"orgId": "60001234"}
