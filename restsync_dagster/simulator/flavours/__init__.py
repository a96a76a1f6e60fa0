"""Flavours: one simulated API answering with another real vendor's conventions.

The `default` flavour of each API is what the shipped configs were written against, so configs,
simulator and tests agree by construction. Real vendors do not: a flavour changes only the wire
(timestamp formats, field names, where the cursor sits, which parameters are honoured, how a list
ends, compression, what it refuses), never the records behind it, so a test can still compare a table
with `Simulator.records`, which returns the records as the flavour serves them. One module per
vendor (`helpscout`, `freshdesk`, `graph`, `drift`, `zoho`); the type and its hooks are in `base`.
"""

from __future__ import annotations

from typing import Mapping, Optional

from restsync_dagster.simulator.flavours import drift, freshdesk, graph, helpscout, zoho
from restsync_dagster.simulator.flavours.base import DEFAULT, Flavour, default_flavour

__all__ = ["DEFAULT", "FLAVOURS", "Flavour", "default_flavour", "flavour", "flavour_names", "flavours_for"]

FLAVOURS: dict[str, dict[str, Flavour]] = {
    "shared_inbox": helpscout.FLAVOURS,
    "service_desk": freshdesk.FLAVOURS,
    "directory": graph.FLAVOURS,
    "messaging": drift.FLAVOURS,
    "ticket_desk": zoho.FLAVOURS,
}


def flavour_names(api: str) -> list[str]:
    return [DEFAULT, *FLAVOURS.get(api, {})]


def flavour(api: str, name: str) -> Flavour:
    """The named flavour of an API; a name it does not have is refused with the known ones."""
    if name == DEFAULT:
        return default_flavour(api)
    known = FLAVOURS.get(api)
    if known is None:
        raise ValueError(f"unknown API {api!r}; known: {', '.join(FLAVOURS)}")
    if name not in known:
        raise ValueError(f"{api} has no flavour {name!r}; known: {', '.join(flavour_names(api))}")
    return known[name]


def flavours_for(selected: Optional[Mapping[str, str]], apis: tuple[str, ...]) -> dict[str, Flavour]:
    """One flavour per API: the selected ones, the default for the rest."""
    chosen = dict(selected or {})
    unknown = sorted(set(chosen) - set(apis))
    if unknown:
        raise ValueError(f"flavours for unknown APIs {unknown}; known: {', '.join(apis)}")
    return {api: flavour(api, chosen.get(api, DEFAULT)) for api in apis}
