"""Airbyte manifests for two simulated APIs import into configs that load the same rows as the shipped ones."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable

import duckdb
import pytest
import yaml

from restsync_dagster.config.airbyte.importer import import_file, import_manifest
from restsync_dagster.config.errors import RestsyncError
from restsync_dagster.config.loading import load_api_config
from restsync_dagster.config.model import ApiConfig
from restsync_dagster.load.destination import duckdb_path
from restsync_dagster_tests.support.helpers import run_assets, shipped
from restsync_dagster_tests.support.paths import MANIFESTS


def _write_and_load(api: str, folder: Path) -> ApiConfig:
    """What a user gets from `restsync import-airbyte MANIFEST -o configs/<api>.yaml`."""
    imported = import_file(MANIFESTS / f"{api}.yaml")
    # only approximations: the spec's default start date, schema_loader (dlt infers the schemas)
    assert [line for line in imported.lines if line.kind != "approximate"] == []
    assert imported.left_out == {}
    path = folder / f"{api}.yaml"
    path.write_text(imported.to_yaml(f"{api}.yaml"), encoding="utf-8")
    return load_api_config(path)


def _tables(api: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every data table's rows without dlt's load columns, sorted."""
    with duckdb.connect(str(duckdb_path(api)), read_only=True) as con:
        names = [
            row[0]
            for row in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = ? AND table_name NOT LIKE '_dlt%'", [api]
            ).fetchall()
        ]
        tables = {}
        for name in names:
            columns = [
                row[0]
                for row in con.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ? "
                    "AND column_name NOT IN ('_dlt_load_id', '_dlt_id', '_dlt_parent_id', '_dlt_root_id') ORDER BY column_name",
                    [api, name],
                ).fetchall()
            ]
            select = ", ".join(f'"{c}"' for c in columns)
            tables[name] = sorted(con.execute(f'SELECT {select} FROM "{api}"."{name}"').fetchall(), key=repr)
    return tables


@pytest.mark.parametrize("api", ["ticket_desk", "shared_inbox"])
def test_imported_config_loads_the_same_rows_as_the_shipped_one(
    api: str, sim_env: Any, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    imported = _write_and_load(api, workdir)
    original = shipped(api)
    assert [r.name for r in imported.resources] == [r.name for r in original.resources]
    for mine, theirs in zip(imported.resources, original.resources):
        assert mine.parent == theirs.parent, mine.name
        assert mine.primary_key_columns == theirs.primary_key_columns, mine.name
        assert (mine.incremental is None) == (theirs.incremental is None), mine.name

    monkeypatch.setenv("RESTSYNC_DUCKDB_DIR", str(workdir / "shipped"))
    monkeypatch.setenv("DLT_DATA_DIR", str(workdir / "dlt_shipped"))
    assert run_assets(original).success
    expected = _tables(api)

    monkeypatch.setenv("RESTSYNC_DUCKDB_DIR", str(workdir / "imported"))
    monkeypatch.setenv("DLT_DATA_DIR", str(workdir / "dlt_imported"))
    sim_env.clear_request_log()
    assert run_assets(imported).success
    got = _tables(api)

    assert set(got) == set(expected)
    for table in expected:
        assert len(got[table]) == len(expected[table]), table
        assert got[table] == expected[table], table
    assert all(len(rows) > 0 for rows in got.values())
    # the imported config paged and authenticated like the shipped one: every request answered 200
    assert sim_env.request_log and {e["status"] for e in sim_env.request_log} == {200}


def test_mapping_of_each_component() -> None:
    ticket_desk = import_file(MANIFESTS / "ticket_desk.yaml").config
    assert ticket_desk["client"]["auth"] == {
        "type": "oauth2_refresh_token",
        "token_url": "https://accounts.zoho.com/oauth/v2/token",
        "client_id": "${secrets.client_id}",
        "client_secret": "${secrets.client_secret}",
        "refresh_token": "${secrets.refresh_token}",
    }
    assert ticket_desk["resource_defaults"]["endpoint"]["paginator"] == {
        "type": "offset", "limit": 50, "offset_param": "offset", "limit_param": "limit",
    }
    tickets = next(r for r in ticket_desk["resources"] if r["name"] == "tickets")
    # DatetimeBasedCursor: field, start_time_option, spec default of start_date, lookback PT1M
    assert tickets["incremental"] == {
        "cursor_path": "modifiedTime", "param": "modifiedAfter", "initial_value": "2024-01-01T00:00:00Z", "format": "iso", "lag_seconds": 60,
    }
    assert ticket_desk["error_handling"] == {"max_retries": 3, "backoff_factor": 2.0, "retry_statuses": [429, 500, 502, 503, 504]}

    shared_inbox = import_file(MANIFESTS / "shared_inbox.yaml").config
    assert shared_inbox["client"]["auth"]["type"] == "oauth2_client_credentials"
    assert shared_inbox["resource_defaults"]["endpoint"]["paginator"] == {"type": "json_link", "next_url_path": "_links.next.href"}
    members = next(r for r in shared_inbox["resources"] if r["name"] == "team_members")
    assert members["endpoint"]["path"] == "/v2/teams/{resources.teams.id}/members"
    assert members["primary_key"] == ["_teams_id", "id"]  # AddFields team_id -> restsync's parent column
    threads = next(r for r in shared_inbox["resources"] if r["name"] == "conversation_threads")
    assert threads["endpoint"]["params"] == {"limit": 25}


def one_stream(retriever: dict[str, Any], name: str = "items", primary_key: Any = "id") -> dict[str, Any]:
    """A manifest with a single declarative stream around the given retriever."""
    return {"streams": [{"type": "DeclarativeStream", "name": name, "primary_key": primary_key, "retriever": retriever}]}


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        ({"type": "CursorPagination", "cursor_value": "{{ response.get('@odata.nextLink') }}"},
         {"type": "json_link", "next_url_path": "['@odata.nextLink']"}),
        ({"type": "CursorPagination", "cursor_value": "{{ headers['link']['next']['url'] }}"}, {"type": "header_link"}),
        ({"type": "PageIncrement", "start_from_page": 1, "page_size": 100}, {"type": "page_number", "page_param": "page", "base_page": 1}),
    ],
)
def test_paginators(strategy: dict[str, Any], expected: dict[str, Any]) -> None:
    token = {"type": "RequestOption", "inject_into": "request_parameter", "field_name": "page"}
    if strategy["type"] == "CursorPagination":
        token = {"type": "RequestPath"}
    manifest = one_stream(
        {
            "requester": {"url_base": "https://api.example.com", "path": "/items"},
            "paginator": {"type": "DefaultPaginator", "pagination_strategy": strategy, "page_token_option": token},
        }
    )
    resource = import_manifest(manifest, "example").config["resources"][0]
    assert resource["endpoint"]["paginator"] == expected


def test_body_cursor_and_api_key_auth() -> None:
    manifest = {
        "streams": [
            {
                "type": "DeclarativeStream",
                "name": "accounts",
                "primary_key": [["accountId"]],
                "retriever": {
                    "requester": {
                        "url_base": "https://api.example.com/v1",
                        "path": "accounts",
                        "authenticator": {
                            "type": "ApiKeyAuthenticator",
                            "api_token": "{{ config['api_key'] }}",
                            "inject_into": {"type": "RequestOption", "inject_into": "header", "field_name": "X-Api-Key"},
                        },
                        "request_parameters": {"email": "{{ config['email'] }}", "sort": "{{ stream_interval.start_time }}"},
                    },
                    "paginator": {
                        "type": "DefaultPaginator",
                        "pagination_strategy": {"type": "CursorPagination", "cursor_value": "{{ response.meta.next }}"},
                        "page_token_option": {"type": "RequestOption", "inject_into": "request_parameter", "field_name": "next"},
                    },
                },
            }
        ]
    }
    imported = import_manifest(manifest, "example")
    resource = imported.config["resources"][0]
    assert imported.config["client"]["auth"] == {"type": "api_key", "api_key": "${secrets.api_key}", "name": "X-Api-Key", "location": "header"}
    assert resource["endpoint"]["paginator"] == {"type": "cursor", "cursor_path": "meta.next", "cursor_param": "next"}
    assert resource["endpoint"]["params"] == {"email": "${config.email}"}
    assert resource["primary_key"] == "accountId"
    assert any("request_parameters.sort" in line for line in imported.unmapped)


def test_a_literal_credential_never_reaches_the_config() -> None:
    manifest = one_stream(
        {
            "requester": {
                "url_base": "https://api.example.com",
                "path": "/items",
                "authenticator": {"type": "BearerAuthenticator", "api_token": "sk-live-1234567890"},
            }
        }
    )
    imported = import_manifest(manifest, "example")
    assert imported.config["client"]["auth"] == {"type": "bearer", "token": "${secrets.api_key}"}
    assert "sk-live-1234567890" not in imported.to_yaml("m.yaml")
    assert any("SOURCES__EXAMPLE__API_KEY" in line for line in imported.unmapped)


def test_a_spec_secret_used_in_a_header_or_param_stays_a_secret() -> None:
    """`airbyte_secret: true` in the spec: `${secrets.x}` wherever a template reads it (redacted in logs)."""
    manifest = one_stream(
        {
            "requester": {
                "url_base": "https://api.example.com",
                "path": "/items",
                "request_headers": {"X-Partner-Key": "{{ config['partner_key'] }}"},
                "request_parameters": {"region": "{{ config['region'] }}"},
            }
        }
    )
    manifest["spec"] = {
        "connection_specification": {
            "properties": {"partner_key": {"type": "string", "airbyte_secret": True}, "region": {"type": "string"}},
            "required": ["partner_key", "region"],
        }
    }
    endpoint = import_manifest(manifest, "example").config["resources"][0]["endpoint"]
    assert endpoint["headers"] == {"X-Partner-Key": "${secrets.partner_key}"}
    assert endpoint["params"] == {"region": "${config.region}"}


def _incremental_sync_as_text(manifest: dict[str, Any]) -> None:
    manifest["definitions"]["streams"]["tickets"]["incremental_sync"] = "since yesterday"


def _agents_without_name(manifest: dict[str, Any]) -> None:
    del manifest["definitions"]["streams"]["agents"]["name"]


@pytest.mark.parametrize(
    ("breaks", "stream", "why"),
    [
        (_incremental_sync_as_text, "tickets", "cannot convert it (AttributeError"),
        (_agents_without_name, "#2", "no name"),
    ],
    ids=["a-malformed-stream-is-listed", "a-stream-without-a-name-is-listed-by-position"],
)
def test_a_malformed_stream_is_left_out_and_the_others_written(tmp_path: Path, breaks: Callable[[dict[str, Any]], None], stream: str, why: str) -> None:
    manifest = yaml.safe_load((MANIFESTS / "ticket_desk.yaml").read_text(encoding="utf-8"))
    breaks(manifest)
    path = tmp_path / "broken_manifest.yaml"
    path.write_text(yaml.safe_dump(manifest), encoding="utf-8")
    imported = import_file(path)
    assert imported.left_out[stream].startswith(why)
    assert any(line.startswith(f"stream '{stream}': left out: {why}") for line in imported.unmapped)
    assert len(imported.config["resources"]) == 2
    assert f"streams left out: 1 ({stream})" in imported.summary_lines()


def test_a_manifest_without_a_convertible_stream_fails_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "nothing_manifest.yaml"
    path.write_text(yaml.safe_dump({"streams": [{"type": "DeclarativeStream", "retriever": {}}]}), encoding="utf-8")
    with pytest.raises(RestsyncError, match=rf"^{re.escape(str(path))}: no stream could be converted"):
        import_file(path)
