"""A run resolves its settings once, into one frozen plan (extract/plan.py), and hands its pieces down.

The settings come from a real dlt config provider registered for the test, which counts the
lookups dlt makes of it; the API is a JSON server on 127.0.0.1 (real HTTP, no mocks).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import FrozenInstanceError
from pathlib import Path
from typing import Any, Iterator, Optional, Tuple, Type

import pytest
from dlt.common.configuration.container import Container
from dlt.common.configuration.providers import ConfigProvider
from dlt.common.configuration.specs.pluggable_run_context import PluggableRunContext

from restsync_dagster.config.errors import MissingSettingError
from restsync_dagster.config.loading import load_api_config
from restsync_dagster.config.model import ApiConfig
from restsync_dagster.config.settings import lookup
from restsync_dagster.extract.plan import resolve_plan
from restsync_dagster_tests.support.faults_helpers import failure_text
from restsync_dagster_tests.support.helpers import run_assets, table_rows
from restsync_dagster_tests.support.local_server import JsonServer

API = "planned"


class CountingProvider(ConfigProvider):
    """A dlt config provider holding the API's settings under `sources.<api>`; counts every lookup
    dlt makes of each of them."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values
        self.asked: Counter[str] = Counter()

    def get_value(self, key: str, hint: Type[Any], pipeline_name: Optional[str], *sections: str) -> Tuple[Optional[Any], str]:
        if key in self.values:
            self.asked[key] += 1
        value = self.values.get(key) if tuple(sections) == ("sources", API) else None
        return value, f"{'.'.join(sections)}.{key}"

    @property
    def supports_secrets(self) -> bool:
        return True

    @property
    def supports_sections(self) -> bool:
        return True

    @property
    def name(self) -> str:
        return "restsync test settings"


@pytest.fixture
def settings(workdir: Path) -> Iterator[CountingProvider]:
    provider = CountingProvider({"token": "plan-token-value", "per_page": "7"})
    providers = Container()[PluggableRunContext].providers
    providers.add_provider(provider)
    try:
        yield provider
    finally:
        providers.providers.remove(provider)


@pytest.fixture
def server() -> Iterator[JsonServer]:
    def answer(full_path: str) -> Any:
        path = full_path.split("?")[0]
        if path == "/items":
            return [{"id": 1}, {"id": 2}]
        parts = path.split("/")
        return [{"id": f"{parts[2]}-a"}, {"id": f"{parts[2]}-b"}]

    served = JsonServer(answer)
    yield served
    served.stop()


def api_for(server: JsonServer, folder: Path) -> ApiConfig:
    """Items, then their children (a second phase), a client header and a child param from settings."""
    path = folder / f"{API}.yaml"
    path.write_text(
        f"""
client:
  base_url: "{server.url}"
  read_ahead_pages: 0
  headers: {{X-Token: "${{secrets.token}}"}}
child_concurrency: 1
resource_defaults: {{primary_key: id, endpoint: {{paginator: {{type: single_page}}}}}}
resources:
  - name: items
    endpoint: {{path: /items}}
  - name: children
    endpoint:
      path: "/items/{{resources.items.id}}/children"
      params: {{per_page: "${{config.per_page}}"}}
"""
    )
    return load_api_config(path)


def one_lookup(api: ApiConfig, provider: CountingProvider, name: str, secret: bool) -> int:
    """How many times dlt asks the provider for `name` when the setting is looked up once."""
    provider.asked.clear()
    lookup(api, name, secret, "the field")
    return provider.asked[name]


def test_a_run_resolves_each_setting_exactly_once(settings: CountingProvider, server: JsonServer, workdir: Path) -> None:
    api = api_for(server, workdir)
    once = {"token": one_lookup(api, settings, "token", True), "per_page": one_lookup(api, settings, "per_page", False)}
    assert all(once.values())  # dlt did ask this provider
    settings.asked.clear()
    result = run_assets(api)
    assert result.success
    # the child's param was resolved twice before the plan (the runner's check, then its phase's
    # source), and again by every phase and every retry of a phase
    assert dict(settings.asked) == once
    assert sorted(row[0] for row in table_rows(API, "children", "id")) == ["1-a", "1-b", "2-a", "2-b"]
    assert "/items/1/children?per_page=7" in server.seen and "/items?per_page=7" not in server.seen


def test_the_plan_is_frozen_and_holds_what_the_run_sends(settings: CountingProvider, server: JsonServer, workdir: Path) -> None:
    plan = resolve_plan(api_for(server, workdir))
    assert [resource.name for resource in plan.resources] == ["items", "children"]
    assert plan.parents == {"items": None, "children": "items"}
    assert plan.client.headers == {"X-Token": "plan-token-value"}
    children = plan.resource("children")
    assert dict(children.params) == {"per_page": "7"} and children.problem is None
    assert children.label.endswith(f"{API}.yaml: API '{API}', resource 'children'")
    with pytest.raises(FrozenInstanceError):
        plan.name = "other"  # type: ignore[misc]
    with pytest.raises(FrozenInstanceError):
        children.params = {}  # type: ignore[misc]
    with pytest.raises(TypeError):
        children.params["per_page"] = "100"  # type: ignore[index]
    with pytest.raises(TypeError):
        plan.parents["children"] = None  # type: ignore[index]
    assert children.make_paginator() is not children.make_paginator()  # a fresh one per listing


def test_a_missing_setting_still_names_file_resource_and_field(settings: CountingProvider, server: JsonServer, workdir: Path) -> None:
    api = api_for(server, workdir)
    del settings.values["per_page"]
    plan = resolve_plan(api)  # a resource's own setting fails that resource, not the plan
    problem = plan.resource("children").problem
    assert isinstance(problem, MissingSettingError)
    assert str(problem).startswith(f"{api.source_file}: field 'endpoint.params.per_page' needs the setting 'per_page'")
    with pytest.raises(MissingSettingError) as raised:
        plan.resource("children").resolved()
    assert raised.value is problem
    assert plan.resource("items").resolved() is plan.resource("items")

    result = run_assets(api, raise_on_error=False)
    text = failure_text(result)
    assert f"{api.source_file}: 1 of 2 resource(s) of API '{API}' failed; the other 1 were loaded." in text
    assert "resource 'children'" in text and "field 'endpoint.params.per_page'" in text and f"SOURCES__{API.upper()}__PER_PAGE" in text
    assert not any("children" in path for path in server.seen)

    del settings.values["token"]  # a setting of the client fails the whole plan, from resolve_plan
    with pytest.raises(MissingSettingError, match=r"field 'client\.headers\.X-Token' needs the secret 'token'") as raised:
        resolve_plan(api)
    assert str(raised.value).startswith(str(api.source_file))
