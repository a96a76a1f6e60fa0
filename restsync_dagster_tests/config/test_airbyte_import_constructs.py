"""`restsync import-airbyte` on a manifest written for these tests (support/manifests/field_desk.yaml):
each construct mapped faithfully, approximately with a line, or listed; the config loads and, run
against a server on 127.0.0.1, sends the requests the manifest describes; and any key of a stream
nothing reads is a line. Smaller manifests written for one construct each: an OData nextLink cut by
regex_search (directory_graph), a nested body cursor and a nested config key in auth (chat_inbox), a
pagination_reset and a paginator shared by every stream, reported once (help_counter), a templated OAuth
token endpoint, a stream description and a hyphenated file name (tenant-portal)."""

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


# --- manifests written for one construct each (support/manifests/) ------------------------------


def _import(manifest: str) -> Any:
    return import_manifest(yaml.safe_load((MANIFESTS / f"{manifest}.yaml").read_text(encoding="utf-8")), manifest)


def _queries(server: JsonServer, path: str) -> list[dict[str, str]]:
    return [{k: v[-1] for k, v in parse_qs(urlparse(p).query).items()} for p in server.seen if urlparse(p).path == path]


@pytest.fixture
def odata_server(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[JsonServer]:
    """Three pages of people, each but the last naming the next by a full URL with a $skiptoken."""
    pages = {None: [{"id": "p1"}, {"id": "p2"}], "t2": [{"id": "p3"}, {"id": "p4"}], "t3": [{"id": "p5"}]}
    following = {None: "t2", "t2": "t3", "t3": None}

    def answer(path: str) -> Any:
        url = urlparse(path)
        if url.path != "/v1.0/people":
            return Reply(404, {})
        token = parse_qs(url.query).get("$skiptoken", [None])[-1]
        body: dict[str, Any] = {"value": pages[token]}
        if following[token]:
            body["@odata.nextLink"] = f"{json_server.url}/v1.0/people?$top=2&$skiptoken={following[token]}"
        return body

    json_server = JsonServer(answer)
    monkeypatch.setenv("SOURCES__DIRECTORY_GRAPH__ACCESS_TOKEN", "tok-1")
    monkeypatch.setenv("SOURCES__DIRECTORY_GRAPH__BASE_URL", json_server.url + "/v1.0")
    yield json_server
    json_server.stop()


def test_an_odata_next_link_cut_by_regex_search_is_followed_as_a_url(odata_server: JsonServer) -> None:
    """Entra ID style: the manifest sends what `regex_search` cuts out of @odata.nextLink as $skiptoken;
    restsync follows the nextLink itself (the same request), with a line saying so."""
    imported = _import("directory_graph")
    people = _resource(imported.config, "people")
    assert people["endpoint"]["paginator"] == {"type": "json_link", "next_url_path": "['@odata.nextLink']"}
    assert [line for line in imported.unmapped if "regex_search" in line] == [(
        "stream 'people': approximate: paginator cursor_value '{{ response.get('@odata.nextLink') | regex_search('\\$skiptoken=(.+)') }}': "
        "restsync follows the URL at ['@odata.nextLink'] instead of sending what `| regex_search('\\$skiptoken=(.+)')` takes from it"
    )]
    assert len(imported.lines) == 1 and imported.left_out == {}
    api = parse_api_config(copy.deepcopy(imported.config), source_file="configs/directory_graph.yaml")
    assert run_assets(api).success
    assert _queries(odata_server, "/v1.0/people") == [{"$top": "2"}, {"$top": "2", "$skiptoken": "t2"}, {"$top": "2", "$skiptoken": "t3"}]
    assert all(h.get("Authorization") == "Bearer tok-1" for h in odata_server.seen_headers)
    assert sorted(r[0] for r in table_rows("directory_graph", "people", "id")) == ["p1", "p2", "p3", "p4", "p5"]


@pytest.fixture
def chat_server(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[JsonServer]:
    """Conversations two a page; the next cursor at pages.next.starting_after, no `next` on the last."""
    rows = [{"id": i} for i in range(1, 6)]

    def answer(path: str) -> Any:
        url = urlparse(path)
        if url.path != "/conversations":
            return Reply(404, {})
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        start = int(query.get("starting_after", "0"))
        page = [r for r in rows if r["id"] > start][: int(query.get("per_page", "50"))]
        pages: dict[str, Any] = {"type": "pages", "per_page": len(page)}
        if page and page[-1]["id"] < rows[-1]["id"]:
            pages["next"] = {"page": 2, "starting_after": str(page[-1]["id"])}
        return {"type": "conversation.list", "conversations": page, "pages": pages}

    json_server = JsonServer(answer)
    monkeypatch.setenv("SOURCES__CHAT_INBOX__API_KEY", "chat-key")
    monkeypatch.setenv("SOURCES__CHAT_INBOX__BASE_URL", json_server.url)
    yield json_server
    json_server.stop()


def test_a_nested_body_cursor_is_a_cursor_paginator(chat_server: JsonServer) -> None:
    """Intercom style: `response.get('pages', {}).get('next', {}).get('starting_after')` sent as
    `starting_after`; the stop condition on the same path is restsync's own end (no line)."""
    imported = _import("chat_inbox")
    endpoint = _resource(imported.config, "conversations")["endpoint"]
    assert endpoint["paginator"] == {"type": "cursor", "cursor_path": "pages.next.starting_after", "cursor_param": "starting_after"}
    assert endpoint["params"] == {"per_page": 2}
    assert not any("stop_condition" in line or "paginator" in line for line in imported.unmapped)
    api = parse_api_config(copy.deepcopy(imported.config), source_file="configs/chat_inbox.yaml")
    assert run_assets(api).success
    assert _queries(chat_server, "/conversations") == [
        {"per_page": "2"}, {"per_page": "2", "starting_after": "2"}, {"per_page": "2", "starting_after": "4"},
    ]
    assert all(h.get("X-Chat-Key") == "chat-key" for h in chat_server.seen_headers)
    assert sorted(r[0] for r in table_rows("chat_inbox", "conversations", "id")) == [1, 2, 3, 4, 5]


def test_a_pagination_reset_on_the_300th_page_is_restart_on() -> None:
    """Freshdesk style: SPLIT_USING_CURSOR with a RESET_PAGINATION filter on 400 "beyond the 300th
    page" restarts the listing from its cursor; the filter is not also an error_handling status."""
    imported = _import("help_counter")
    text = imported.to_yaml("help_counter.yaml")
    tickets = _resource(yaml.safe_load(text), "tickets")
    assert tickets["incremental"] == {
        "cursor_path": "updated_at", "param": "updated_since", "initial_value": "2024-01-01T00:00:00Z", "format": "iso",
        "restart_on": {"status": 400, "body_contains": "beyond the 300th page"},
    }
    assert 400 not in tickets["error_handling"]["retry_statuses"] and "ignore_statuses" not in tickets["error_handling"]
    assert not any("pagination_reset" in line or "RESET_PAGINATION" in line for line in imported.unmapped)
    api = parse_api_config(yaml.safe_load(text), source_file="configs/help_counter.yaml")
    restart = next(r for r in api.resources if r.name == "tickets").incremental.restart_on
    assert (restart.status, restart.body_contains) == (400, "beyond the 300th page")


CREDENTIALS_KEY = "{{ config['credentials']['api_key'] }}"
FLAT_LINE = "authenticator.{key}: config['credentials']['api_key'] is read from the flat setting 'api_key'"


@pytest.mark.parametrize(
    ("authenticator", "auth", "key"),
    [
        ({"type": "ApiKeyAuthenticator", "api_token": CREDENTIALS_KEY, "inject_into": {"type": "RequestOption", "inject_into": "header", "field_name": "X-Key"}},
         {"type": "api_key", "api_key": "${secrets.api_key}", "name": "X-Key", "location": "header"}, "api_token"),
        ({"type": "ApiKeyAuthenticator", "api_key": CREDENTIALS_KEY, "header": "X-Key"},
         {"type": "api_key", "api_key": "${secrets.api_key}", "name": "X-Key", "location": "header"}, "api_key"),
        ({"type": "BasicHttpAuthenticator", "username": CREDENTIALS_KEY, "password": "X"},
         {"type": "http_basic", "username": "${secrets.api_key}", "password": "X"}, "username"),
    ],
    ids=["api-key-authenticator", "api-key-written-as-api_key", "basic-key-as-user-name"],
)
def test_a_nested_config_key_in_auth_is_a_secret_of_its_own_name(authenticator: dict[str, Any], auth: dict[str, Any], key: str) -> None:
    """`config['credentials']['api_key']` -> `${secrets.api_key}` (named after the key, not the field
    it fills: never `username`), with its line; the config loads; the summary names the setting."""
    manifest = {
        "streams": [
            {"type": "DeclarativeStream", "name": "items", "primary_key": "id",
             "retriever": {"type": "SimpleRetriever", "requester": {"url_base": "https://api.example.com", "path": "/items", "authenticator": authenticator},
                           "record_selector": {"type": "RecordSelector", "extractor": {"type": "DpathExtractor", "field_path": []}}}}
        ]
    }
    imported = import_manifest(manifest, "desk")
    assert imported.config["client"]["auth"] == auth
    assert "approximate: " + FLAT_LINE.format(key=key) in imported.unmapped
    assert not any("not read by the importer" in line for line in imported.unmapped)
    parse_api_config(copy.deepcopy(imported.config), source_file="configs/desk.yaml")
    assert "settings to provide: SOURCES__DESK__API_KEY" in imported.summary_lines()
    assert "secrets.username" not in imported.to_yaml("desk.yaml")


def test_a_line_shared_by_many_streams_is_reported_once_naming_them() -> None:
    """The paginator every stream takes from definitions has one line, not one per stream, in the
    report, the YAML header and the summary count; each stream still counts as approximated."""
    imported = _import("help_counter")
    first_page = "PageIncrement: restsync sends page=1 on the first request too"
    shared = [line for line in imported.unmapped if first_page in line]
    assert len(shared) == 1 and shared[0].startswith("approximate: " + first_page)
    assert shared[0].endswith(" (streams agents, groups, companies, tickets)")
    assert len([line for line in imported.lines if first_page in line.what]) == 4
    header = [line for line in imported.to_yaml("help_counter.yaml").splitlines() if first_page in line]
    assert header == [f"#   - {shared[0]}"]
    assert imported.approximated == ["agents", "groups", "companies", "tickets"]
    assert f"lines: {len(imported.unmapped)} approximate, 0 not mapped" in imported.summary_lines()


def test_the_cli_prints_a_line_shared_by_many_streams_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from restsync_dagster.cli.commands import main

    output = tmp_path / "help_counter.yaml"
    assert main(["import-airbyte", str(MANIFESTS / "help_counter.yaml"), "-o", str(output)]) == 0
    printed = capsys.readouterr().err.splitlines()
    shared = [line for line in printed if "PageIncrement" in line]
    assert shared == [(
        "approx  PageIncrement: restsync sends page=1 on the first request too (the manifest's first request has none: "
        "inject_on_first_request false) (streams agents, groups, companies, tickets)"
    )]
    assert "every component was mapped (2 approximately)" in printed
    assert "summary  lines: 2 approximate, 0 not mapped" in printed
    assert output.read_text(encoding="utf-8").count("PageIncrement") == 1


def test_a_templated_token_endpoint_names_the_token_url_setting() -> None:
    manifest = yaml.safe_load((MANIFESTS / "tenant-portal.yaml").read_text(encoding="utf-8"))
    imported = import_manifest(manifest, "tenant_portal")
    parse_api_config(copy.deepcopy(imported.config), source_file="configs/tenant_portal.yaml")
    assert imported.config["client"]["base_url"] == "https://portal.example.com/api"  # url_base is literal
    assert imported.config["client"]["auth"]["token_url"] == "https://api.example.com"
    token = [line for line in imported.unmapped if "login.example.com" in line]
    assert token == [(
        "authenticator.token_refresh_endpoint 'https://login.example.com/{{ config['tenant'] }}/token' "
        "is a template; set SOURCES__TENANT_PORTAL__TOKEN_URL"
    )]
    assert not any(line.startswith("url_base") for line in imported.unmapped)
    assert not any("description" in line for line in imported.unmapped)  # a stream's description is documentation


def test_the_cli_names_the_api_after_a_hyphenated_output_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from restsync_dagster.cli.commands import main

    output = tmp_path / "tenant-portal.yaml"
    assert main(["import-airbyte", str(MANIFESTS / "tenant-portal.yaml"), "-o", str(output)]) == 0
    assert yaml.safe_load(output.read_text(encoding="utf-8"))["name"] == "tenant_portal"
    assert main(["validate", str(output)]) == 0
    assert "SOURCES__TENANT_PORTAL__TOKEN_URL" in capsys.readouterr().err


def test_a_hyphenated_manifest_file_name_is_a_valid_api_name() -> None:
    from restsync_dagster.config.airbyte.importer import api_name, import_file

    assert import_file(MANIFESTS / "tenant-portal.yaml").config["name"] == "tenant_portal"
    assert api_name("source-zoho-desk") == "source_zoho_desk" and api_name("2fa-desk") == "api_2fa_desk"
