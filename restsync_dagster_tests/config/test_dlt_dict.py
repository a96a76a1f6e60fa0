"""A dlt `rest_api_source` dict pasted as written for dlt (JSON here) loads like the shipped config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from restsync_dagster.config.dlt_dict import from_dlt
from restsync_dagster.config.loading import load_api_config
from restsync_dagster_tests.support.helpers import run_assets, shipped, table_rows

# what a dlt user writes for dlt's rest_api_source: client.paginator, a resolve param for the
# child, `{incremental.start_value}` in params, a resource as a bare string
SERVICE_DESK_DLT = {
    "client": {
        "base_url": "http://127.0.0.1:8765/service_desk",
        "auth": {"type": "http_basic", "username": "${secrets.api_key}", "password": "X"},
        "paginator": "header_link",
    },
    "resource_defaults": {
        "primary_key": "id",
        "write_disposition": "merge",
        "endpoint": {"data_selector": "data", "params": {"per_page": 100}},
    },
    "resources": [
        {
            "name": "tickets",
            "endpoint": {
                "path": "/v1/tickets",
                "method": "GET",
                "params": {"updated_since": "{incremental.start_value}"},
                "incremental": {"cursor_path": "updated_at", "initial_value": "2024-01-01T00:00:00Z", "lag": 60},
                "paginator": {"type": "page_number", "page_param": "page", "base_page": 1},
            },
        },
        {
            "name": "conversations",
            "endpoint": {
                "path": "/v1/tickets/{ticket_id}/conversations",
                "params": {"ticket_id": {"type": "resolve", "resource": "tickets", "field": "id"}},
            },
            "include_from_parent": ["id"],
        },
        "groups",
    ],
}


def test_shorthands_become_canonical() -> None:
    raw = from_dlt(SERVICE_DESK_DLT)
    tickets, conversations, groups = raw["resources"]
    assert raw["resource_defaults"]["endpoint"]["paginator"] == {"type": "header_link"}
    assert "paginator" not in raw["client"]
    assert tickets["incremental"] == {
        "cursor_path": "updated_at", "initial_value": "2024-01-01T00:00:00Z", "param": "updated_since", "lag_seconds": 60,
    }
    assert "params" not in tickets["endpoint"] and "method" not in tickets["endpoint"]
    assert conversations["endpoint"]["path"] == "/v1/tickets/{resources.tickets.id}/conversations"
    assert "include_from_parent" not in conversations
    assert groups == {"name": "groups", "endpoint": {"path": "groups"}}
    assert SERVICE_DESK_DLT["resources"][2] == "groups"  # the input is left untouched


def test_oauth2_client_credentials_names() -> None:
    raw = from_dlt(
        {
            "client": {
                "base_url": "https://api.example.com",
                "auth": {
                    "type": "oauth2_client_credentials",
                    "access_token_url": "https://login.example.com/token",
                    "client_id": "${secrets.client_id}",
                    "client_secret": "${secrets.client_secret}",
                    "access_token_request_data": {"scope": "read"},
                },
            },
            "resources": ["items"],
        }
    )
    assert raw["client"]["auth"] == {
        "type": "oauth2_client_credentials",
        "token_url": "https://login.example.com/token",
        "client_id": "${secrets.client_id}",
        "client_secret": "${secrets.client_secret}",
        "scope": "read",
    }


def test_pasted_dlt_dict_loads_the_same_rows(sim_env: Any, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = workdir / "service_desk.yaml"
    path.write_text(json.dumps(SERVICE_DESK_DLT, indent=2))  # JSON is YAML: pasted as is
    pasted = load_api_config(path)
    assert pasted.resource("conversations").parent == "tickets"

    names = ["tickets", "conversations"]
    monkeypatch.setenv("RESTSYNC_DUCKDB_DIR", str(workdir / "shipped"))
    monkeypatch.setenv("DLT_DATA_DIR", str(workdir / "dlt_shipped"))
    assert run_assets(shipped("service_desk"), names).success
    expected = {name: sorted(table_rows("service_desk", name, "id, updated_at"), key=repr) for name in names}

    monkeypatch.setenv("RESTSYNC_DUCKDB_DIR", str(workdir / "pasted"))
    monkeypatch.setenv("DLT_DATA_DIR", str(workdir / "dlt_pasted"))
    assert run_assets(pasted, names).success
    for name in names:
        assert sorted(table_rows("service_desk", name, "id, updated_at"), key=repr) == expected[name]
    assert len(expected["tickets"]) == len(sim_env.records("service_desk", "tickets"))
    assert {row[0] for row in table_rows("service_desk", "conversations", "_tickets_id")} <= {
        r["id"] for r in sim_env.records("service_desk", "tickets")
    }
