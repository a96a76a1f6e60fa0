"""Parent values that would change a child's path: `..`, `.` and the empty string are refused,
never normalized away (`/items/../children` reached `/children` and loaded another endpoint's answer
as that parent's children); every other value stays one path segment, `/` and `?` included."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

from restsync_dagster.config.loading import load_api_config
from restsync_dagster_tests.support.faults_helpers import failure_text
from restsync_dagster_tests.support.helpers import run_assets, table_exists, table_rows
from restsync_dagster_tests.support.local_server import JsonServer

SAFE_IDS = ["1", "a/b", "x?y=1", "%2E%2E", "..."]


def path_server(ids: list[str]) -> JsonServer:
    """Items with the ids it is given; each item's children at /items/<id>/children; anything
    else answers records marked `escaped`, as another endpoint of a real API would."""
    items = [{"id": value, "name": f"item {n}"} for n, value in enumerate(ids)]

    def answer(full_path: str) -> Any:
        path = full_path.split("?")[0]
        parts = path.split("/")
        if path == "/items":
            return items
        if len(parts) == 4 and parts[1] == "items" and parts[3] == "children" and parts[2]:
            return [{"id": f"{parts[2]}-child", "kind": "child"}]
        return [{"id": "escaped", "kind": "escaped"}]

    return JsonServer(answer)


@pytest.fixture
def serve(workdir: Path) -> Iterator[Any]:
    servers: list[JsonServer] = []

    def start(ids: list[str]) -> JsonServer:
        servers.append(path_server(ids))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def api_for(server: JsonServer, folder: Path) -> Any:
    path = folder / "paths.yaml"
    path.write_text(
        f"""
client: {{base_url: "{server.url}", read_ahead_pages: 0}}
child_concurrency: 1
resource_defaults: {{primary_key: id, endpoint: {{paginator: {{type: single_page}}}}}}
resources:
  - name: items
    endpoint: {{path: /items}}
  - name: children
    endpoint: {{path: "/items/{{resources.items.id}}/children"}}
"""
    )
    return load_api_config(path)


def test_odd_but_safe_parent_values_stay_one_path_segment(serve: Any, workdir: Path) -> None:
    server = serve(SAFE_IDS)
    run_assets(api_for(server, workdir))
    children = sorted(row[0] for row in table_rows("paths", "children", "kind"))
    assert children == ["child"] * len(SAFE_IDS)  # nothing escaped
    assert "/items/a%2Fb/children" in server.seen and "/items/x%3Fy%3D1/children" in server.seen
    assert "/items/%252E%252E/children" in server.seen


@pytest.mark.parametrize("hostile", ["..", ".", ""])
def test_a_parent_value_that_would_change_the_path_is_refused(serve: Any, workdir: Path, hostile: str) -> None:
    server = serve(["1", hostile, "2"])
    result = run_assets(api_for(server, workdir), raise_on_error=False)
    assert not result.success
    text = failure_text(result)
    assert "resource 'children': field 'endpoint.path'" in text and "would change the shape of the path" in text
    # no request left its path: /children, /items/children, /items//children never reached the server
    assert all(path == "/items" or (path.startswith("/items/") and path.endswith("/children") and path.count("/") == 3 and "//" not in path)
               for path in server.seen), server.seen
    assert len(table_rows("paths", "items")) == 3  # the parent itself still loaded
    assert not table_exists("paths", "children") or all(row[0] != "escaped" for row in table_rows("paths", "children", "kind"))
