"""Config loading: the shipped configs, and a clear error naming file, resource and field for bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from restsync_dagster.config import load_api_config, load_config_dir
from restsync_dagster.errors import ConfigErrors

from restsync_dagster_tests.conftest import API_NAMES, CONFIGS

GOOD = """
client:
  base_url: https://api.example.com
  auth: {type: bearer, token: "${secrets.token}"}
resources:
  - name: tickets
    endpoint: {path: /tickets, paginator: {type: page_number}}
  - name: comments
    endpoint: {path: "/tickets/{resources.tickets.id}/comments"}
"""


def write(tmp_path: Path, text: str, name: str = "helpdesk.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def errors_of(path: Path) -> list:
    with pytest.raises(ConfigErrors) as caught:
        load_api_config(path)
    return caught.value.errors


def test_shipped_configs_have_every_seed_resource() -> None:
    apis, errors = load_config_dir(CONFIGS)
    assert errors == []
    sizes = {api.name: len(api.resources) for api in apis}
    assert sizes == {"shared_inbox": 11, "service_desk": 28, "directory": 2, "messaging": 5, "ticket_desk": 3}
    assert sorted(api.name for api in apis) == sorted(API_NAMES)


def test_a_good_config_names_its_parent(tmp_path: Path) -> None:
    api = load_api_config(write(tmp_path, GOOD))
    assert api.name == "helpdesk"
    assert api.resource("comments").parent == "tickets"
    assert api.resource("tickets").parent is None


@pytest.mark.parametrize(
    ("broken", "resource", "field", "words"),
    [
        (GOOD.replace("type: page_number", "type: page_numbr"), "tickets", "endpoint.paginator.type", "page_numbr"),
        (GOOD.replace("resources.tickets.id", "resources.tikets.id"), "comments", "endpoint.path", "tikets"),
        (GOOD.replace("{path: /tickets,", "{path: /tickets, pth: x,"), "tickets", "endpoint.pth", "unknown key"),
        (GOOD.replace("type: bearer", "type: kerberos"), None, "client.auth.type", "kerberos"),
        (GOOD.replace("- name: comments", "- name: tickets"), "tickets", "name", "duplicate"),
        (GOOD.replace("{path: /tickets, paginator: {type: page_number}}", "{path: /tickets, paginator: {type: offset, limit: many}}"), "tickets", "endpoint.paginator.limit", "integer"),
        (GOOD.replace("base_url: https://api.example.com", "base_url: api.example.com"), None, "client.base_url", "absolute"),
    ],
    ids=["paginator-typo", "missing-parent", "unknown-key", "unknown-auth", "duplicate-name", "wrong-type", "relative-base-url"],
)
def test_bad_config_names_file_resource_and_field(tmp_path: Path, broken: str, resource: str, field: str, words: str) -> None:
    path = write(tmp_path, broken)
    errors = errors_of(path)
    match = [e for e in errors if e.field == field and e.resource == resource]
    assert match, [str(e) for e in errors]
    text = str(match[0])
    assert str(path) in text and words in text
    if resource:
        assert f"resource '{resource}'" in text


def test_a_parent_cycle_is_reported(tmp_path: Path) -> None:
    cyclic = GOOD.replace("{path: /tickets, paginator: {type: page_number}}", '{path: "/comments/{resources.comments.id}/tickets"}')
    errors = errors_of(write(tmp_path, cyclic))
    assert any("cycle" in str(e) and e.field == "endpoint.path" for e in errors), [str(e) for e in errors]


def test_not_yaml_is_reported_with_its_line(tmp_path: Path) -> None:
    errors = errors_of(write(tmp_path, "client: [unclosed\nresources: x\n"))
    assert "not valid YAML" in str(errors[0]) and "line" in str(errors[0])


def test_yaml_is_loaded_safely(tmp_path: Path) -> None:
    errors = errors_of(write(tmp_path, "client: !!python/object/apply:os.system ['echo pwned']\n"))
    assert "not valid YAML" in str(errors[0])


def test_every_error_of_a_file_is_reported_at_once(tmp_path: Path) -> None:
    broken = GOOD.replace("type: page_number", "type: nope").replace("resources.tickets.id", "resources.x.id")
    assert len(errors_of(write(tmp_path, broken))) == 2


def test_a_broken_file_leaves_the_others_loading(tmp_path: Path) -> None:
    write(tmp_path, GOOD, "good.yaml")
    write(tmp_path, "client: {}\n", "bad.yaml")
    apis, errors = load_config_dir(tmp_path)
    assert [api.name for api in apis] == ["good"]
    assert errors and all("bad.yaml" in str(e) for e in errors)


def test_plain_text_secret_warns(tmp_path: Path) -> None:
    from restsync_dagster.settings import warn_plaintext_secrets

    api = load_api_config(write(tmp_path, GOOD.replace('"${secrets.token}"', "abc123")))
    with pytest.warns(UserWarning, match="secrets.toml"):
        assert warn_plaintext_secrets(api) == ["client.auth.token"]
