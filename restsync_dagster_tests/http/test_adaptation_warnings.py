"""A paginator that adapts to the wire (a cursor found at a usual place, an ignored offset retried
as `from`) warns once per resource and run, not once per listing: a child lists once per parent
record, and three parents used to give three identical warnings. Each later listing is counted
at DEBUG."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import parse_qs, urlparse

import pytest

from restsync_dagster.config.loading import parse_api_config
from restsync_dagster_tests.support.helpers import run_assets, table_rows
from restsync_dagster_tests.support.local_server import JsonServer, Reply

PARENTS = (1, 2, 3)


def _answer(path: str) -> Any:
    url = urlparse(path)
    query = {k: v[-1] for k, v in parse_qs(url.query).items()}
    parts = url.path.strip("/").split("/")
    if parts == ["items"]:
        return {"data": [{"id": n} for n in PARENTS]}
    if len(parts) == 3 and parts[2] == "notes":  # the cursor under pagination.next, not at `next`
        parent = parts[1]
        if query.get("next") == "second":
            return {"data": [{"id": f"{parent}-b"}], "pagination": {"more": False}}
        return {"data": [{"id": f"{parent}-a"}], "pagination": {"more": True, "next": "second"}}
    if len(parts) == 3 and parts[2] == "events":  # pages by `from` (1-based), ignores `offset`
        parent = parts[1]
        start = int(query.get("from", "1")) - 1
        rows = [{"id": f"{parent}-{n}"} for n in range(3)][max(start, 0) : max(start, 0) + 2]
        return {"data": rows} if rows else Reply(204)
    return Reply(404, {"error": "not found"})


@pytest.fixture
def server(workdir: Path) -> Iterator[JsonServer]:
    json_server = JsonServer(_answer)
    yield json_server
    json_server.stop()


def _api(url: str) -> Any:
    raw = {
        "client": {"base_url": url, "read_ahead_pages": 0},
        "resource_defaults": {"endpoint": {"data_selector": "data"}},
        "resources": [
            {"name": "items", "endpoint": {"path": "/items", "paginator": {"type": "single_page"}}},
            {"name": "notes", "endpoint": {"path": "/items/{resources.items.id}/notes",
                                           "paginator": {"type": "cursor", "cursor_path": "next", "cursor_param": "next"}}},
            {"name": "events", "endpoint": {"path": "/items/{resources.items.id}/events", "paginator": {"type": "offset", "limit": 2}}},
        ],
    }
    return parse_api_config(raw, source_file="configs/desk.yaml", default_name="desk")


def test_a_childs_adaptation_is_warned_once_per_run_and_counted(server: JsonServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="restsync_dagster.http")
    assert run_assets(_api(server.url)).success
    assert sorted(row[0] for row in table_rows("desk", "notes", "id")) == [f"{n}-{x}" for n in PARENTS for x in "ab"]
    assert sorted(row[0] for row in table_rows("desk", "events", "id")) == [f"{n}-{x}" for n in PARENTS for x in range(3)]

    for field, resource in (("paginator.cursor_path", "notes"), ("paginator.offset_param", "events")):
        said = [r for r in caplog.records if field in r.getMessage() and f"resource '{resource}'" in r.getMessage()]
        warned = [r.getMessage() for r in said if r.levelno == logging.WARNING]
        assert len(warned) == 1, warned  # three parents, three listings: one warning
        counted = [r.getMessage() for r in said if r.levelno == logging.DEBUG]
        assert [m.rsplit("(", 1)[1] for m in counted] == ["listing 2 of this run doing so)", "listing 3 of this run doing so)"]


def test_each_run_warns_again(server: JsonServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="restsync_dagster.http")
    api = _api(server.url)
    assert run_assets(api, ["items", "notes"]).success
    assert run_assets(api, ["items", "notes"]).success
    warned = [r for r in caplog.records if "paginator.cursor_path" in r.getMessage()]
    assert len(warned) == 2  # once in each run
