"""Bad input: each mistake gets one clear message naming file, resource and field, at the right time.

Config mistakes surface when the code location loads (the other APIs still load); secret and
network mistakes surface when the asset runs, naming the API and the variable or host to fix and
never a secret value. `test_config.py` covers the classic config typos; this file adds the rest.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
from dagster import AssetKey, materialize

from restsync_dagster.config.errors import ConfigErrors
from restsync_dagster.config.loading import load_api_config, load_config_dir
from restsync_dagster.definitions import load_definitions
from restsync_dagster.simulator import Simulator
from restsync_dagster_tests.conftest import API_NAMES, CONFIGS
from restsync_dagster_tests.support.faults_helpers import (
    QUICK,
    failure_text,
    with_handling,
)
from restsync_dagster_tests.support.helpers import run_assets, shipped
from restsync_dagster_tests.support.postgres_server import free_port

GOOD = """
client:
  base_url: https://api.example.com
  auth: {type: bearer, token: "${secrets.token}"}
error_handling: {max_retries: 3}
resources:
  - name: tickets
    endpoint: {path: /tickets, paginator: {type: page_number}}
  - name: comments
    endpoint: {path: "/tickets/{resources.tickets.id}/comments"}
"""

# (broken text, resource, field, words in the message)
CONFIG_CASES = {
    "unknown-top-level-key": (GOOD + "retries: 5\n", None, "retries", "unknown key"),
    "wrong-type-error-handling": (GOOD.replace("max_retries: 3", "max_retries: three"), None, "error_handling.max_retries", "integer"),
    "wrong-type-resource": (GOOD.replace("- name: comments", "- name: comments\n    primary_key: 5"), "comments", "primary_key", "valid string"),
    "unknown-schema-contract": (GOOD.replace("- name: comments", "- name: comments\n    schema_contract: frozen"), "comments", "schema_contract", "'freeze'"),
    "unknown-auth-type": (GOOD.replace("type: bearer", "type: oauth3"), None, "client.auth.type", "oauth3"),
    "unknown-paginator-type": (GOOD.replace("type: page_number", "type: pages"), "tickets", "endpoint.paginator.type", "pages"),
    "missing-required-field": (GOOD.replace("    endpoint: {path: /tickets, paginator: {type: page_number}}\n", ""), "tickets", "endpoint", "required"),
    "resources-not-a-list": ("client: {base_url: https://api.example.com}\nresources: {tickets: /tickets}\n", None, "resources", "at least one"),
    "resource-name-invalid": (GOOD.replace("- name: tickets", "- name: Tickets!"), "Tickets!", "name", "pattern"),
    "missing-parent": (GOOD.replace("resources.tickets.id", "resources.ticket.id"), "comments", "endpoint.path", "'ticket'"),
    "two-parents": (GOOD.replace("/comments\"", "/{resources.users.id}\""), "comments", None, "more than one parent"),
    "self-parent": (GOOD.replace("resources.tickets.id", "resources.comments.id"), "comments", None, "itself"),
    # a field named like its auth type, a param named like a paginator type: the field path stays whole
    "missing-auth-field": (GOOD.replace('{type: bearer, token: "${secrets.token}"}', "{type: api_key, name: X-Key}"), None, "client.auth.api_key", "required"),
    "param-named-offset": (GOOD.replace("paginator: {type: page_number}", "params: {offset: [1, 2]}, paginator: {type: page_number}"), "tickets", "endpoint.params.offset", "valid string"),
    # an address Dagster refuses as an owner (a one-letter domain) would fail the whole code location
    "owner-dagster-refuses": (GOOD.replace("- name: comments", "- name: comments\n    owners: [a@b.c]"), "comments", "owners", "email"),
}


def write(folder: Path, text: str, name: str = "helpdesk.yaml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("case", sorted(CONFIG_CASES))
def test_a_config_mistake_names_file_resource_and_field(tmp_path: Path, case: str) -> None:
    text, resource, field, words = CONFIG_CASES[case]
    path = write(tmp_path, text)
    with pytest.raises(ConfigErrors) as caught:
        load_api_config(path)
    matches = [e for e in caught.value.errors if e.resource == resource and (field is None or e.field == field)]
    assert matches, [str(e) for e in caught.value.errors]
    message = str(matches[0])
    assert str(path) in message and words in message, message
    if resource:
        assert f"resource '{resource}'" in message


@pytest.mark.parametrize("text", ["", "just a string\n", "- a\n- list\n"], ids=["empty", "scalar", "list"])
def test_a_file_that_is_not_a_config_mapping_is_reported(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigErrors) as caught:
        load_api_config(path)
    assert str(path) in str(caught.value) and "mapping" in str(caught.value)


def test_the_same_api_name_in_two_files_is_reported_and_the_first_kept(tmp_path: Path) -> None:
    write(tmp_path, GOOD, "a.yaml")
    write(tmp_path, "name: a\n" + GOOD, "b.yaml")
    apis, errors = load_config_dir(tmp_path)
    assert [api.name for api in apis] == ["a"]
    assert len(errors) == 1 and "b.yaml" in str(errors[0]) and "already used" in str(errors[0]) and errors[0].field == "name"


def test_a_broken_config_leaves_the_other_apis_loading_in_the_code_location(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    for name in API_NAMES:
        shutil.copy(CONFIGS / f"{name}.yaml", tmp_path / f"{name}.yaml")
    broken = (CONFIGS / "messaging.yaml").read_text().replace("type: cursor", "type: cursr")
    write(tmp_path, broken, "messaging.yaml")
    caplog.set_level(logging.ERROR, logger="restsync_dagster")
    defs = load_definitions(tmp_path)
    keys = {key for assets in defs.assets or [] for key in getattr(assets, "keys", [])}
    assert AssetKey(["service_desk", "tickets"]) in keys
    assert {key for key in keys if key.path[0] == "messaging"} == {AssetKey(["messaging", "config_error"])}
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "messaging.yaml" in logged and "cursr" in logged and "endpoint.paginator.type" in logged

    # the UI shows the broken API as a placeholder that says what to fix, and fails with it when run
    graph = defs.resolve_asset_graph()
    description = graph.get(AssetKey(["messaging", "config_error"])).description or ""
    assert "messaging.yaml" in description and "endpoint.paginator.type" in description and "cursr" in description
    result = materialize([a for a in defs.assets or [] if AssetKey(["messaging", "config_error"]) in a.keys], raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "endpoint.paginator.type" in str(failure.event_specific_data.error.cause)


def test_broken_configs_with_awkward_file_names_still_load_the_code_location(tmp_path: Path) -> None:
    """A non-ASCII stem and two files of one stem each become one valid placeholder group."""
    for name in ("café.yaml", "x.yaml", "x.yml"):
        write(tmp_path, GOOD.replace("type: bearer", "type: oauth3"), name)
    defs = load_definitions(tmp_path)
    keys = {key for assets in defs.assets or [] for key in getattr(assets, "keys", [])}
    assert keys == {AssetKey(["caf_", "config_error"]), AssetKey(["x", "config_error"])}
    description = defs.resolve_asset_graph().get(AssetKey(["x", "config_error"])).description or ""
    assert "x.yaml" in description and "x.yml" in description


# --- at run time: secrets and network --------------------------------------------------------------------

SECRET_NAMES = {
    "shared_inbox": ["client_id", "client_secret"],
    "service_desk": ["api_key"],
    "directory": ["client_id", "client_secret"],
    "messaging": ["access_token"],
    "ticket_desk": ["client_id", "client_secret", "refresh_token"],
}
ONE_RESOURCE = {"shared_inbox": "users", "service_desk": "roles", "directory": "groups", "messaging": "users", "ticket_desk": "agents"}


@pytest.mark.parametrize("api_name", API_NAMES)
def test_a_missing_secret_fails_the_run_naming_api_field_and_variable(sim_env: Simulator, api_name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    name = SECRET_NAMES[api_name][-1]
    variable = f"SOURCES__{api_name.upper()}__{name.upper()}"
    monkeypatch.delenv(variable)
    result = run_assets(shipped(api_name), [ONE_RESOURCE[api_name]], raise_on_error=False)
    assert not result.success
    text = failure_text(result)
    assert variable in text and f"API '{api_name}'" in text and f"{api_name}.yaml" in text and "client.auth." in text
    for value in sim_env.credentials[api_name].values():
        assert value not in text


@pytest.mark.parametrize("api_name", API_NAMES)
def test_a_wrong_secret_fails_the_run_naming_api_and_variables_and_no_value(sim_env: Simulator, api_name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    name = SECRET_NAMES[api_name][-1]
    variable = f"SOURCES__{api_name.upper()}__{name.upper()}"
    wrong = f"wrong-{name}-7c1d9e"
    monkeypatch.setenv(variable, wrong)
    result = run_assets(shipped(api_name), [ONE_RESOURCE[api_name]], raise_on_error=False)
    assert not result.success
    text = failure_text(result)
    assert f"API '{api_name}'" in text and variable in text, text[-2000:]
    assert "401" in text or "400" in text
    assert wrong not in text
    for value in sim_env.credentials[api_name].values():
        assert value not in text


def test_an_unreachable_base_url_fails_naming_api_resource_and_host(sim_env: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()  # nothing listens there
    monkeypatch.setenv("SOURCES__SERVICE_DESK__BASE_URL", f"http://127.0.0.1:{port}/service_desk")
    result = run_assets(with_handling(shipped("service_desk"), **QUICK), ["roles"], raise_on_error=False)
    assert not result.success
    text = failure_text(result)
    assert f"API 'service_desk', resource 'roles': GET /service_desk/v1/roles: host http://127.0.0.1:{port} did not answer after 4 attempt(s)" in text
    assert "Connection refused" in text and "SOURCES__SERVICE_DESK__BASE_URL" in text


def test_an_unreachable_token_url_fails_naming_api_and_host(sim_env: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()  # nothing listens there
    monkeypatch.setenv("SOURCES__SHARED_INBOX__TOKEN_URL", f"http://127.0.0.1:{port}/token")
    result = run_assets(shipped("shared_inbox"), ["users"], raise_on_error=False)
    assert not result.success
    text = failure_text(result)
    assert f"API 'shared_inbox': token endpoint http://127.0.0.1:{port}/token unreachable" in text
    assert sim_env.credentials["shared_inbox"]["client_secret"] not in text
