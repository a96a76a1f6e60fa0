"""A vendor server of our own on 127.0.0.1: one listing stamped in a vendor's cursor form, which can
ignore its filter or its sort, with a child listing, and the config and run that read it."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator, Optional
from urllib.parse import parse_qs, urlparse

import pytest
from dagster import DagsterInstance, materialize
from dagster_dlt import DagsterDltResource

from restsync_dagster.config.loading import parse_api_config
from restsync_dagster.config.model import ApiConfig
from restsync_dagster.orchestration.assets import build_api_assets
from restsync_dagster.orchestration.checks import table_checks
from restsync_dagster_tests.support.local_server import JsonServer, Reply

PAGE_SIZE = 2


class Vendor:
    """Records of one listing and how the API treats `since` and `sort=desc`."""

    def __init__(self, field: str, parse_since: Callable[[str], Any], records: list[dict[str, Any]]) -> None:
        self.field, self.parse_since, self.records = field, parse_since, records
        self.honour_filter, self.honour_sort = True, True
        self.queries: list[dict[str, str]] = []

    def listing(self, query: dict[str, str]) -> tuple[int, Any]:
        rows = list(self.records)
        if "since" in query and self.honour_filter:
            try:
                since = self.parse_since(query["since"])
            except ValueError:
                return 400, {"error": f"since: {query['since']!r} is not in this API's form"}
            rows = [r for r in rows if self.field not in r or self.parse_since(str(r[self.field])) >= since]
        if query.get("sort") == "desc" and self.honour_sort:
            rows.sort(key=lambda r: self.parse_since(str(r[self.field])), reverse=True)
        if "limit" in query:
            return 200, {"data": rows[: int(query["limit"])]}
        page = int(query.get("page", "1"))
        return 200, {"data": rows[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]}


def _answer(vendor: Vendor) -> Callable[[str], Reply]:
    def answer(path: str) -> Reply:
        url = urlparse(path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if url.path == "/items":
            vendor.queries.append(query)
            return Reply(*vendor.listing(query))
        if url.path.startswith("/items/") and url.path.endswith("/notes"):
            return Reply(200, {"data": [{"id": f"n{url.path.split('/')[2]}", "text": "a note"}]})
        return Reply(404, {"error": "not found"})

    return answer


@pytest.fixture
def serve(workdir: Path) -> Iterator[Callable[[Vendor], str]]:
    servers: list[JsonServer] = []

    def start(vendor: Vendor) -> str:
        servers.append(JsonServer(_answer(vendor)))
        return servers[-1].url

    yield start
    for server in servers:
        server.stop()


def vendor_api(base_url: str, cursor_path: str, initial_value: Any, fmt: str = "auto", children: bool = False) -> ApiConfig:
    resources: list[dict[str, Any]] = [
        {
            "name": "items",
            "incremental": {
                "cursor_path": cursor_path, "param": "since", "initial_value": initial_value, "format": fmt,
                "lag_seconds": 60, "probe_params": {"sort": "desc", "limit": 1},
            },
            "endpoint": {"path": "/items", "data_selector": "data", "paginator": {"type": "page_number", "page_param": "page", "base_page": 1}},
        }
    ]
    if children:
        resources.append({"name": "notes", "endpoint": {"path": "/items/{resources.items.id}/notes", "data_selector": "data", "paginator": {"type": "single_page"}}})
    raw = {"client": {"base_url": base_url}, "sensor": {"enabled": True, "minimum_interval_seconds": 30}, "resources": resources}
    return parse_api_config(raw, source_file="configs/vendor.yaml", default_name="vendor")


def run(api: ApiConfig, instance: Optional[DagsterInstance] = None) -> Any:
    return materialize(
        [build_api_assets(api), table_checks(api)], resources={"dlt": DagsterDltResource()}, instance=instance or DagsterInstance.ephemeral()
    )
