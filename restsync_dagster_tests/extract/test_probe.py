"""`restsync probe`: each kind of broken assumption it reports, against the simulator, and a clean pass."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from restsync_dagster.config.model import ApiConfig
from restsync_dagster.extract.probe import ResourceProbe, probe_api
from restsync_dagster_tests.conftest import API_NAMES, CONFIGS
from restsync_dagster_tests.support.faults_helpers import with_resource
from restsync_dagster_tests.support.helpers import shipped

RESTSYNC = str(Path(sys.executable).parent / "restsync")


def finding(reports: list[ResourceProbe], resource: str, check: str) -> Any:
    report = next(r for r in reports if r.resource == resource)
    return next(f for f in report.findings if f.check == check)


def with_incremental(api: ApiConfig, name: str, **changes: Any) -> ApiConfig:
    incremental = api.resource(name).incremental
    assert incremental is not None
    return with_resource(api, name, incremental=incremental.model_copy(update=changes))


def with_endpoint(api: ApiConfig, name: str, **changes: Any) -> ApiConfig:
    return with_resource(api, name, endpoint=api.resource(name).endpoint.model_copy(update=changes))


@pytest.mark.parametrize("api_name", API_NAMES)
def test_every_shipped_config_passes_against_the_simulator(sim_env: Any, api_name: str) -> None:
    reports = probe_api(shipped(api_name))
    failed = [(r.resource, f.check, f.detail) for r in reports for f in r.findings if not f.passed]
    assert failed == []
    assert {r.resource for r in reports} == {r.name for r in shipped(api_name).resources}
    # read-only and bounded: at most 3 requests a resource, nothing else
    assert all(r.requests <= 3 for r in reports)
    assert len(sim_env.request_log) <= 3 * len(reports) + 2  # + token requests


def test_a_cursor_field_the_records_lack_is_named_with_the_fields_that_look_like_one(sim_env: Any) -> None:
    api = with_incremental(shipped("messaging"), "conversations", cursor_path="updated_at")  # records say updatedAt
    found = finding(probe_api(api, ["conversations"]), "conversations", "cursor field")
    assert not found.passed
    assert "'updatedAt'" in found.detail
    assert found.fix.startswith("configs/messaging.yaml: resource 'conversations': field 'incremental.cursor_path'") or \
        "messaging.yaml: resource 'conversations': field 'incremental.cursor_path': use 'updatedAt'" in found.fix


def test_a_filter_the_api_ignores_is_reported(sim_env: Any) -> None:
    api = with_incremental(shipped("ticket_desk"), "tickets", param="changedSince")  # a name the API does not know
    found = finding(probe_api(api, ["tickets"]), "tickets", "filter")
    assert not found.passed
    assert "older than it" in found.detail and "field 'incremental.param'" in found.fix and "changedSince" in found.fix


def test_a_sort_the_api_ignores_is_reported_where_the_filter_cannot_answer_for_it(sim_env: Any) -> None:
    unsorted = {"orderBy": "newest", "limit": 1}
    honoured = finding(probe_api(with_incremental(shipped("ticket_desk"), "tickets", probe_params=unsorted), ["tickets"]), "tickets", "probe sort")
    assert honoured.passed and "is honoured: the change sensor asks for what changed since its cursor" in honoured.detail
    api = with_incremental(shipped("ticket_desk"), "tickets", probe_params=unsorted, param="changedSince")
    found = finding(probe_api(api, ["tickets"], max_requests=4), "tickets", "probe sort")
    assert not found.passed
    assert "field 'incremental.probe_params'" in found.fix


def test_a_primary_key_the_records_lack_and_one_that_repeats(sim_env: Any) -> None:
    missing = finding(probe_api(with_resource(shipped("ticket_desk"), "agents", primary_key="agentId"), ["agents"]), "agents", "primary key")
    assert not missing.passed and "lack 'agentId'" in missing.detail and "field 'primary_key'" in missing.fix
    repeated = finding(probe_api(with_resource(shipped("messaging"), "accounts", primary_key="ownerId"), ["accounts"]), "accounts", "primary key")
    assert not repeated.passed and "distinct" in repeated.detail and "would drop rows" in repeated.fix


def test_a_data_selector_that_matches_nothing_names_the_keys_found(sim_env: Any) -> None:
    api = with_endpoint(shipped("ticket_desk"), "agents", data_selector="items")
    found = finding(probe_api(api, ["agents"]), "agents", "first page")
    assert not found.passed
    assert "'items'" in found.detail and "'data'" in found.detail


def test_a_paginator_that_does_not_advance_is_reported(sim_env: Any) -> None:
    from restsync_dagster.config.paginator_config import PageNumberPaginator

    api = with_endpoint(shipped("ticket_desk"), "agents", paginator=PageNumberPaginator(type="page_number", page_param="pg"))
    found = finding(probe_api(api, ["agents"]), "agents", "paginator")
    assert not found.passed
    assert "same records as page 1" in found.detail and "field 'endpoint.paginator'" in found.fix


def test_a_child_whose_parent_field_is_missing(sim_env: Any) -> None:
    api = with_endpoint(shipped("messaging"), "messages", path="/v1/conversations/{resources.conversations.uuid}/messages")
    found = finding(probe_api(api, ["messages"]), "messages", "parent field")
    assert not found.passed and "no 'uuid'" in found.detail and "field 'endpoint.path'" in found.fix


def test_a_wrong_path_and_wrong_credentials(sim_env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    api = with_endpoint(shipped("ticket_desk"), "agents", path="/agentz")
    found = finding(probe_api(api, ["agents"]), "agents", "first page")
    assert not found.passed and "404" in found.detail and "field 'endpoint.path'" in found.fix

    monkeypatch.setenv("SOURCES__MESSAGING__ACCESS_TOKEN", "not-the-token-4242")
    auth = finding(probe_api(shipped("messaging"), ["users"]), "users", "auth")
    assert not auth.passed and "SOURCES__MESSAGING__ACCESS_TOKEN" in auth.fix
    assert "not-the-token-4242" not in auth.detail + auth.fix


def test_the_command_exits_1_on_a_failure_prints_json_and_no_secret(sim_env: Any, tmp_path: Path) -> None:
    config = tmp_path / "messaging.yaml"
    config.write_text((CONFIGS / "messaging.yaml").read_text().replace("cursor_path: updatedAt", "cursor_path: updated_at"))
    env = dict(os.environ)
    result = subprocess.run(
        [RESTSYNC, "probe", "messaging", "--resource", "conversations", "--json", "--configs", str(config)],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 1, result.stderr
    reports = json.loads(result.stdout)
    assert [r["resource"] for r in reports] == ["conversations"] and reports[0]["passed"] is False
    secret = env["SOURCES__MESSAGING__ACCESS_TOKEN"]
    assert secret not in result.stdout + result.stderr

    clean = subprocess.run([RESTSYNC, "probe", "ticket_desk"], env=env, capture_output=True, text=True, timeout=120, cwd=CONFIGS.parent)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "ok    ticket_desk.tickets" in clean.stdout
