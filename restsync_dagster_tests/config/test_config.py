"""Config loading: the shipped configs, and a clear error naming file, resource and field for bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from restsync_dagster.config.errors import ConfigErrors
from restsync_dagster.config.loading import load_api_config, load_config_dir
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
    from restsync_dagster.config.settings import warn_plaintext_secrets

    api = load_api_config(write(tmp_path, GOOD.replace('"${secrets.token}"', "abc123")))
    with pytest.warns(UserWarning, match="secrets.toml"):
        assert warn_plaintext_secrets(api) == ["client.auth.token"]


@pytest.mark.parametrize(
    ("extra", "resource", "words"),
    [
        ("tickets__tags", "tickets__tags", "nested list 'tags' of resource 'tickets'"),
        ("tickets__tags__x", "tickets__tags__x", "nested list 'tags__x' of resource 'tickets'"),
        ("comments__a", "comments__a", "of resource 'comments'"),  # a child's nested tables too
        ("ticketsx", "ticketsx", None),  # compared with a 'tickets_' below: dlt names both 'ticketsx'
    ],
)
def test_a_resource_named_like_another_resources_table_is_refused(tmp_path: Path, extra: str, resource: str, words: str) -> None:
    text = GOOD + f"  - name: {extra}\n    endpoint: {{path: /{extra}}}\n"
    if words is None:
        text += "  - name: tickets_\n    endpoint: {path: /t}\n"
        resource, words = "tickets_", "its table 'ticketsx' is also the table of resource 'ticketsx'"
    path = write(tmp_path, text)
    errors = [e for e in errors_of(path) if e.resource == resource and e.field == "name"]
    assert errors, resource
    assert str(path) in str(errors[0]) and words in str(errors[0]) and "rename this resource" in str(errors[0])


def test_names_that_only_look_alike_still_load(tmp_path: Path) -> None:
    text = GOOD + "  - name: tickets_tags\n    endpoint: {path: /tt}\n  - name: ticket\n    endpoint: {path: /t}\n"
    assert len(load_api_config(write(tmp_path, text)).resources) == 4


LAUGHS = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]\n" for prev, name in zip("abcdefgh", "bcdefghi")
)
BOMB = "client: {base_url: https://api.example.com, headers: *i}\n"  # ~9^9 values under one header map
LOAD_CAPPED = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (int(sys.argv[2]), int(sys.argv[2])))
from restsync_dagster.config.loading import load_api_config
from restsync_dagster.config.errors import ConfigErrors
try:
    load_api_config(sys.argv[1])
except ConfigErrors as exc:
    print(exc)
print("peak_kb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""
MEMORY_CAP = 1_500_000_000  # the interpreter, pydantic and dagster's imports take ~700 MB of address space


def load_capped(path: Path) -> tuple[int, str]:
    import subprocess
    import sys

    from restsync_dagster_tests.conftest import PROJECT_ROOT

    done = subprocess.run(
        [sys.executable, "-c", LOAD_CAPPED, str(path), str(MEMORY_CAP)], capture_output=True, text=True, timeout=300, cwd=PROJECT_ROOT
    )
    return done.returncode, done.stdout + done.stderr


@pytest.mark.parametrize("where", ["a-header-map", "validate"])
def test_a_yaml_bomb_is_refused_early_within_a_memory_cap(tmp_path: Path, where: str) -> None:
    path = write(tmp_path, LAUGHS + BOMB + GOOD[GOOD.index("resources:") :])
    assert len(path.read_bytes()) < 1000
    if where == "validate":  # the CLI's `restsync validate` reads configs through the same loader
        from restsync_dagster.config.loading import load_config_dir

        apis, errors = load_config_dir(tmp_path)
        assert apis == [] and "aliases" in str(errors[0]) and str(path) in str(errors[0])
        return
    code, output = load_capped(path)
    assert code == 0, output[-2000:]
    assert f"{path}: stands for more than 200,000 values once its YAML aliases (*name) are expanded" in output, output[-2000:]


def test_a_recursive_alias_and_an_oversized_file_are_refused(tmp_path: Path) -> None:
    errors = errors_of(write(tmp_path, "client: &c {base_url: https://api.example.com, x: *c}\nresources: []\n"))
    assert "aliases" in str(errors[0]) or "nested more than" in str(errors[0])
    big = write(tmp_path, GOOD + "#" + "x" * 2_000_000 + "\n", "big.yaml")
    assert "larger than 1,000,000 bytes" in str(errors_of(big)[0]) and str(big) in str(errors_of(big)[0])


def test_a_config_with_a_few_anchors_still_loads(tmp_path: Path) -> None:
    text = """
client: {base_url: https://api.example.com}
x-paging: &paging {type: page_number, base_page: 1}
resource_defaults: {primary_key: id}
resources:
  - name: tickets
    endpoint: {path: /tickets, paginator: *paging}
  - name: users
    endpoint: {path: /users, paginator: *paging}
"""
    errors = errors_of(write(tmp_path, text))  # an unknown top-level key, but nothing about size
    assert [e.field for e in errors] == ["x-paging"]
    api = load_api_config(write(tmp_path, text.replace("x-paging: &paging", "resource_defaults: {primary_key: id, endpoint: {paginator: &paging").replace("base_page: 1}\nresource_defaults: {primary_key: id}", "base_page: 1}}}")))
    assert [r.endpoint.paginator.type for r in api.resources] == ["page_number", "page_number"]
