"""Shapes the real vendors answer in that our simulator's default flavour does not: each shipped
config, pointed at a server the test starts on 127.0.0.1 (through SOURCES__<API>__BASE_URL, as a
user points it at the vendor), loads them."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import pytest

from restsync_dagster.config import parse_api_config
from restsync_dagster.errors import ConfigErrors

from restsync_dagster_tests.helpers import run_assets, shipped, table_rows


@pytest.fixture
def vendor(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """A server answering `bodies[path]` as JSON; the service desk's config pointed at it."""
    bodies: dict[str, Any] = {}

    class Handler(BaseHTTPRequestHandler):
        disable_nagle_algorithm = True

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            data = json.dumps(bodies.get(self.path.split("?")[0], {"data": []})).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("SOURCES__SERVICE_DESK__BASE_URL", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv("SOURCES__SERVICE_DESK__API_KEY", "vendor-shape-key")
    try:
        yield bodies
    finally:
        server.shutdown()
        server.server_close()


def test_a_singleton_without_an_id_is_replaced_whole(vendor: dict[str, Any]) -> None:
    """Freshdesk's helpdesk settings are one object with no `id`: merged on `id` it failed."""
    vendor["/v1/settings/helpdesk"] = {"data": {"primary_language": "en", "supported_languages": ["de", "fr"]}}
    run_assets(shipped("service_desk"), ["settings"])
    vendor["/v1/settings/helpdesk"] = {"data": {"primary_language": "de", "supported_languages": []}}
    run_assets(shipped("service_desk"), ["settings"])
    assert table_rows("service_desk", "settings", "primary_language") == [("de",)]


def test_a_merge_without_a_key_is_refused_at_load() -> None:
    raw = {"client": {"base_url": "http://127.0.0.1:1"}, "resources": [{"name": "settings", "primary_key": [], "endpoint": {"path": "/s"}}]}
    with pytest.raises(ConfigErrors, match="resource 'settings'.*merge needs a primary_key"):
        parse_api_config(raw, source_file="x.yaml")
