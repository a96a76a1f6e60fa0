"""Factoring what every resource shares (primary key, paginator, common params) into `resource_defaults`.

`as_key` makes a dict or list countable, to find the most common value among the resources.
"""

from __future__ import annotations

import copy
from collections import Counter
from typing import Any

import yaml


def factor_defaults(resources: list[dict[str, Any]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Move what every resource shares (primary key, data paging, common params) into resource_defaults."""
    defaults: dict[str, Any] = {}
    if len(resources) < 2:
        return defaults, resources
    resources = copy.deepcopy(resources)
    first = resources[0]
    keys = Counter(as_key(r.get("primary_key")) for r in resources if "primary_key" in r).most_common(1)
    if keys and keys[0][1] > 1:
        defaults["primary_key"] = yaml.safe_load(keys[0][0])
    # the most common paginator; resources with another keep theirs (a resource's paginator replaces the default's)
    paginators = Counter(as_key(r["endpoint"].get("paginator")) for r in resources)
    common = yaml.safe_load(paginators.most_common(1)[0][0])
    endpoint: dict[str, Any] = {}
    if common:
        endpoint["paginator"] = common
    shared_params = {
        k: v
        for k, v in (first["endpoint"].get("params") or {}).items()
        if all((r["endpoint"].get("params") or {}).get(k, object()) == v for r in resources)
    }
    if shared_params:
        endpoint["params"] = shared_params
    # a param most resources share goes to the defaults; a resource that differs overrides it
    for key, value in (first["endpoint"].get("params") or {}).items():
        if key not in shared_params and all(key in (r["endpoint"].get("params") or {}) for r in resources):
            counts = Counter(as_key(r["endpoint"]["params"][key]) for r in resources)
            endpoint.setdefault("params", {})[key] = yaml.safe_load(counts.most_common(1)[0][0])
    if endpoint:
        defaults["endpoint"] = endpoint
    for resource in resources:
        if "primary_key" in defaults and resource.get("primary_key") == defaults["primary_key"]:
            resource.pop("primary_key")
        own = resource["endpoint"]
        if own.get("paginator") == common:
            own.pop("paginator", None)
        params = {k: v for k, v in (own.get("params") or {}).items() if endpoint.get("params", {}).get(k, object()) != v}
        own.pop("params", None)
        if params:
            own["params"] = params
    return defaults, resources


def as_key(value: Any) -> str:
    """A value as YAML text: equal dicts and lists count as one in a Counter."""
    return yaml.safe_dump(value, sort_keys=False)
