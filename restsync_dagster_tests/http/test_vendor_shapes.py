"""Shapes the real vendors answer in that our simulator's default flavour does not: each shipped
config, pointed at a server the test starts on 127.0.0.1 (through SOURCES__<API>__BASE_URL, as a
user points it at the vendor), loads them."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

from restsync_dagster.config.errors import ConfigErrors
from restsync_dagster.config.loading import parse_api_config
from restsync_dagster_tests.support.helpers import run_assets, shipped, table_rows
from restsync_dagster_tests.support.local_server import JsonServer


@pytest.fixture
def vendor(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """A server answering `bodies[path]` as JSON; the service desk's config pointed at it."""
    bodies: dict[str, Any] = {}
    server = JsonServer(lambda path: bodies.get(path.split("?")[0], {"data": []}))
    monkeypatch.setenv("SOURCES__SERVICE_DESK__BASE_URL", server.url)
    monkeypatch.setenv("SOURCES__SERVICE_DESK__API_KEY", "vendor-shape-key")
    try:
        yield bodies
    finally:
        server.stop()


def test_a_singleton_without_an_id_is_replaced_whole(vendor: dict[str, Any]) -> None:
    """Freshdesk's helpdesk settings are one bare object with no `id` (no envelope: Airbyte's
    source-freshdesk `settings` has field_path []): merged on `id` it failed."""
    vendor["/v1/settings/helpdesk"] = {"primary_language": "en", "supported_languages": ["de", "fr"]}
    run_assets(shipped("service_desk"), ["settings"])
    vendor["/v1/settings/helpdesk"] = {"primary_language": "de", "supported_languages": []}
    run_assets(shipped("service_desk"), ["settings"])
    assert table_rows("service_desk", "settings", "primary_language") == [("de",)]


def test_a_merge_without_a_key_is_refused_at_load() -> None:
    raw = {"client": {"base_url": "http://127.0.0.1:1"}, "resources": [{"name": "settings", "primary_key": [], "endpoint": {"path": "/s"}}]}
    with pytest.raises(ConfigErrors, match="resource 'settings'.*merge needs a primary_key"):
        parse_api_config(raw, source_file="x.yaml")
