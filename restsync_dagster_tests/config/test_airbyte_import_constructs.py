"""`restsync import-airbyte` on a manifest written for these tests (support/manifests/field_desk.yaml):
each construct mapped faithfully, approximately with a line, or listed; the config loads and, run
against a server on 127.0.0.1, sends the requests the manifest describes; and any key of a stream
nothing reads is a line."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import parse_qs, urlparse

import pytest
import yaml

from restsync_dagster.config.airbyte.importer import import_manifest
from restsync_dagster.config.loading import parse_api_config
from restsync_dagster_tests.support.helpers import run_assets, table_rows
from restsync_dagster_tests.support.local_server import JsonServer, Reply
from restsync_dagster_tests.support.paths import MANIFESTS


def _manifest() -> dict[str, Any]:
    return yaml.safe_load((MANIFESTS / "field_desk.yaml").read_text(encoding="utf-8"))


def _resource(config: dict[str, Any], name: str) -> dict[str, Any]:
    return next(r for r in config["resources"] if r["name"] == name)


def test_each_construct_is_mapped_or_has_a_line() -> None:
    imported = import_manifest(_manifest(), "field_desk")
    config, lines = imported.config, imported.unmapped
    parse_api_config(copy.deepcopy(config), source_file="configs/field_desk.yaml")  # the config loads
    assert config["client"]["rate_limit"] == 2.0  # api_budget 120 per PT1M
    assert config["child_concurrency"] == 4  # concurrency_level's Jinja default
    assert "error_handling" not in config  # one stream's handler stays with that stream
    accounts = _resource(config, "accounts")
    assert accounts["error_handling"]["retry_statuses"] == [400, 429, 500, 502, 503, 504]
    assert accounts["error_handling"]["ignore_statuses"] == [404]
    assert accounts["endpoint"]["paginator"] == {"type": "cursor", "cursor_path": "paging.next", "cursor_param": "cursor"}
    assert accounts["endpoint"]["params"] == {"team": "${config.team_id?}", "region": "${config.region?}", "per_page": 2}
    assert any("AddFields ['source']" in line for line in lines) and any("RemoveFields [['internal']]" in line for line in lines)
    events = _resource(config, "events")
    assert events["endpoint"]["paginator"] == {"type": "offset", "limit": 2, "offset_param": "skip", "limit_param": "limit"}
    assert "params" not in events["endpoint"]  # the stream's own limit is the paginator's, no invented offset/limit
    assert events["incremental"] == {
        "cursor_path": "updated", "param": "since", "initial_value": 1704067200000, "format": "epoch_ms",
        "restart_on": {"status": 400, "body_contains": "beyond the last page"},
    }
    assert any("inject_on_first_request false" in line for line in lines)
    assert [r["name"] for r in config["resources"] if r["name"].startswith("metrics")] == ["metrics_calls_day", "metrics_chats_day"]
    assert _resource(config, "notes")["endpoint"]["path"] == "/accounts/{resources.accounts.id}/notes"
    assert _resource(config, "notes")["primary_key"] == ["_accounts_id", "id"]
    assert any("retriever.future_option (FutureThing)" in line for line in lines)
    assert any("record_selector.something_new" in line for line in lines)
    assert imported.left_out == {"exports": "retriever type 'AsyncRetriever' (restsync reads listings with GET requests)"}
    summary = imported.summary_lines()
    assert "streams left out: 1 (exports)" in summary
    assert "settings to provide: SOURCES__FIELD_DESK__API_KEY" in summary
    assert "optional settings: SOURCES__FIELD_DESK__REGION, SOURCES__FIELD_DESK__TEAM_ID" in summary
    assert "# Summary:" in imported.to_yaml("field_desk.yaml")


@pytest.fixture
def server(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[JsonServer]:
    def answer(path: str) -> Any:
        url = urlparse(path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if url.path == "/accounts":
            if query.get("cursor") == "c2":
                return {"data": [{"id": 3}], "paging": {}}
            return {"data": [{"id": 1}, {"id": 2}], "paging": {"next": "c2"}}
        if url.path == "/events":
            rows = [{"id": i, "updated": 1704067200000 + i} for i in range(3)]
            skip = int(query.get("skip", 0))
            return {"data": rows[skip : skip + int(query.get("limit", 2))]}
        if url.path.startswith("/metrics/"):
            return {"data": [{"name": url.path.rsplit("/", 1)[1]}]}
        if url.path.endswith("/notes"):
            return {"data": [{"id": 10}]}
        return Reply(404, {})

    for name in ("TEAM_ID", "REGION"):
        monkeypatch.delenv(f"SOURCES__FIELD_DESK__{name}", raising=False)
    json_server = JsonServer(answer)
    monkeypatch.setenv("SOURCES__FIELD_DESK__API_KEY", "k-123")
    monkeypatch.setenv("SOURCES__FIELD_DESK__BASE_URL", json_server.url)
    yield json_server
    json_server.stop()


def test_the_imported_config_sends_what_the_manifest_sends(server: JsonServer) -> None:
    config = import_manifest(_manifest(), "field_desk").config
    config["client"]["rate_limit"] = 100.0  # the budget's 2/s is checked above; keep the run short
    api = parse_api_config(config, source_file="configs/field_desk.yaml")
    assert run_assets(api).success
    queries = {}
    for path in server.seen:
        url = urlparse(path)
        queries.setdefault(url.path, []).append({k: v[-1] for k, v in parse_qs(url.query).items()})
    # optional settings unset: team and region left out; the page size and the body cursor sent
    assert queries["/accounts"] == [{"per_page": "2"}, {"per_page": "2", "cursor": "c2"}]
    # epoch ms start, the stream's own limit, the token in `skip` (sent on the first request too: a line)
    assert queries["/events"][0] == {"skip": "0", "limit": "2", "since": "1704067200000"}
    assert all(set(q) == {"skip", "limit", "since"} for q in queries["/events"])
    assert queries["/metrics/calls"] == [{"period": "day"}] and queries["/metrics/chats"] == [{"period": "day"}]
    assert {p for p in queries if p.endswith("/notes")} == {"/accounts/1/notes", "/accounts/2/notes", "/accounts/3/notes"}
    assert all(h.get("X-Key") == "k-123" for h in server.seen_headers)
    assert sorted(r[0] for r in table_rows("field_desk", "events", "id")) == [0, 1, 2]


def _mappings(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(node, dict):
        yield path
        for key, value in node.items():
            if key != "schema_loader":
                yield from _mappings(value, path + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _mappings(value, path + (index,))


def test_a_key_nothing_reads_anywhere_in_a_stream_is_a_line() -> None:
    """Every mapping of every stream, one at a time, gets a key of no Airbyte construct: each import
    lists it, and never fails (the left-out stream `exports` is listed as a whole)."""
    base = _manifest()
    for definition in list(_mappings(base["definitions"], ("definitions",))) + list(_mappings(base["streams"], ("streams",))):
        manifest = copy.deepcopy(base)
        node: Any = manifest
        for part in definition:
            node = node[part]
        if len(definition) < 2 or "$ref" in node and len(node) == 1 or definition[:2] == ("streams", 4) or "future_option" in definition or definition[-1] == "stream":
            continue
        node["zz_not_airbyte"] = {"type": "Unheard", "x": 1}
        imported = import_manifest(manifest, "field_desk")
        assert any("zz_not_airbyte" in line for line in imported.unmapped), definition
