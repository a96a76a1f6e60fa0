"""shared_inbox as Help Scout answers (Mailbox API 2.0)."""

from __future__ import annotations

from typing import Any

from restsync_dagster.simulator.apis import Listing
from restsync_dagster.simulator.flavours.base import Flavour


def _helpscout_query(resource: str, query: dict[str, str], delta: bool) -> dict[str, str]:
    """Help Scout sorts by `modifiedAt` (not `updatedAt`); any other sortField is not one of its own."""
    read = dict(query)
    if read.get("sortField") == "modifiedAt":
        read["sortField"] = "updatedAt"
    elif "sortField" in read:
        read.pop("sortField")
        read.pop("sortOrder", None)
    return read


FLAVOURS: dict[str, Flavour] = {
    "helpscout": Flavour(
        "shared_inbox", "helpscout",
        "Help Scout: timestamps to the second, gzip bodies, sortField=updatedAt unknown (it sorts by modifiedAt)",
        timestamps="iso_seconds", query=_helpscout_query, gzip=True,
    ),
}
