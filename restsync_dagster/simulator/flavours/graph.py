"""directory as Microsoft Graph answers (users and groups, delta queries)."""

from __future__ import annotations

from typing import Any

from restsync_dagster.simulator.apis import Listing
from restsync_dagster.simulator.flavours.base import Flavour


def _graph_query(resource: str, query: dict[str, str], delta: bool) -> dict[str, str]:
    """Graph does not support `$top` on delta queries (only `Prefer: odata.maxpagesize`)."""
    return {k: v for k, v in query.items() if not (delta and k == "$top")}


FLAVOURS: dict[str, Flavour] = {
    "graph": Flavour(
        "directory", "graph",
        "Microsoft Graph: $top ignored on delta queries, timestamps to the second, gzip bodies",
        timestamps="iso_seconds", query=_graph_query, gzip=True,
    ),
}
