"""`partition_router` (one router or a list of them, as the CDK takes both) -> restsync's parent paths
and resource variants.

`SubstreamPartitionRouter` -> a child path `{resources.<parent>.<parent_key>}` (restsync takes one
parent; the partition value must be in the path). `ListPartitionRouter` -> one resource per value
(per combination, for several lists), the value put where the manifest puts it (path, query
parameter or header); the records do not carry it, said in a line. Anything else leaves the stream
out (`LeftOut`), listed.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import Any, Optional

from restsync_dagster.config.airbyte.context import ImportContext
from restsync_dagster.config.airbyte.manifest import PARTITION_REF, has_jinja, mark_read

MAX_VARIANTS = 25


class LeftOut(Exception):
    """The stream cannot be imported; the message says why (the importer lists it)."""


@dataclass
class Routing:
    """What the routers decided: the parent (name, key, partition field) and the list variants."""

    parent: Optional[tuple[str, str, str]] = None
    lists: list[tuple[str, list[str], Optional[dict[str, Any]]]] = field(default_factory=list)  # (cursor_field, values, request_option)

    def variants(self) -> list[dict[str, tuple[str, Optional[dict[str, Any]]]]]:
        """Each combination of list values: {cursor_field: (value, request_option)}."""
        if not self.lists:
            return []
        combos = itertools.product(*[[(f, v, o) for v in values] for f, values, o in self.lists])
        return [{f: (v, o) for f, v, o in combo} for combo in combos]


def map_partition_router(context: ImportContext, stream: str, router: Any, endpoint: dict[str, Any]) -> Routing:
    """Fill the child's path from its parent; collect the list routers' values."""
    routing = Routing()
    routers = router if isinstance(router, list) else [router] if router else []
    for one in routers:
        if not isinstance(one, dict):
            raise LeftOut(f"partition_router {one!r} is not a router")
        kind = one.get("type")
        if kind == "SubstreamPartitionRouter":
            if routing.parent:
                context.note(stream, "a second SubstreamPartitionRouter (restsync takes one parent; using the first)", one)
                continue
            routing.parent = _substream(context, stream, one, endpoint)
        elif kind == "ListPartitionRouter":
            values = one.get("values")
            if not isinstance(values, list) or any(isinstance(v, (dict, list)) or has_jinja(v) for v in values):
                raise LeftOut(f"ListPartitionRouter values {values!r} (not a literal list restsync can expand)")
            option = one.get("request_option")
            routing.lists.append((str(one.get("cursor_field")), [str(v) for v in values], option))
        else:
            raise LeftOut(f"partition_router type '{kind}' has no restsync equivalent")
    if routing.lists:
        count = len(routing.variants())
        if count > MAX_VARIANTS:
            raise LeftOut(f"ListPartitionRouter: {count} value combinations (restsync would need one resource each; at most {MAX_VARIANTS})")
        fields = [f for f, _, _ in routing.lists]
        context.approx(stream, f"ListPartitionRouter on {fields}: one resource per value ({count}), "
                               "named <stream>_<value>; the records do not carry the value")
    return routing


def _substream(context: ImportContext, stream: str, router: dict[str, Any], endpoint: dict[str, Any]) -> tuple[str, str, str]:
    configs = router.get("parent_stream_configs") or []
    if not configs:
        raise LeftOut("SubstreamPartitionRouter without parent_stream_configs")
    if len(configs) > 1:
        context.note(stream, f"{len(configs)} parent streams (restsync takes one; using the first)", configs[1:])
    parent_config = configs[0]
    parent_stream = parent_config.get("stream") or {}
    parent = str(parent_stream.get("name"))
    key = str(parent_config.get("parent_key", "id"))
    partition_field = str(parent_config.get("partition_field", "parent_id"))
    if parent not in context.stream_names:
        raise LeftOut(f"parent stream '{parent}' is not among the manifest's streams")
    mark_read(parent_stream)  # the parent is imported as its own stream
    if "." in key or "/" in key:
        context.approx(stream, f"parent_key '{key}' is a nested field; restsync reads the parent's field '{key}' as written")
    if parent_config.get("request_option"):
        context.note(stream, "parent value sent as a request option (restsync puts it in the path)", parent_config.get("request_option"))
    if parent_config.get("incremental_dependency"):
        context.approx(stream, "incremental_dependency: restsync reads the children of every parent record the parent's run loaded")
    if parent_config.get("extra_fields"):
        context.note(stream, f"parent extra_fields {parent_config.get('extra_fields')}", parent_config.get("extra_fields"))

    def fill(match: re.Match[str]) -> str:
        return "{resources.%s.%s}" % (parent, key) if (match.group(1) or match.group(2)) == partition_field else match.group(0)

    endpoint["path"] = PARTITION_REF.sub(fill, endpoint["path"])
    if "{resources." not in endpoint["path"]:
        raise LeftOut(f"path '{endpoint['path']}' does not use the partition field '{partition_field}' (restsync puts the parent value in the path)")
    return parent, key, partition_field


def apply_variant(resource: dict[str, Any], variant: dict[str, tuple[str, Optional[dict[str, Any]]]]) -> dict[str, Any]:
    """The resource for one combination of list values: the values in path, parameters or headers."""
    import copy

    resource = copy.deepcopy(resource)
    endpoint = resource["endpoint"]

    def fill(text: str) -> str:
        return PARTITION_REF.sub(lambda m: variant[m.group(1) or m.group(2)][0] if (m.group(1) or m.group(2)) in variant else m.group(0), text)

    endpoint["path"] = fill(endpoint["path"])
    for where in ("params", "headers"):
        if endpoint.get(where):
            endpoint[where] = {k: fill(v) if isinstance(v, str) else v for k, v in endpoint[where].items()}
    for value, option in variant.values():
        if option and option.get("field_name"):
            where = "headers" if option.get("inject_into") == "header" else "params"
            endpoint.setdefault(where, {})[str(option["field_name"])] = value
    slug = "_".join(re.sub(r"[^a-z0-9]+", "_", v.lower()).strip("_") for v, _ in variant.values())
    resource["name"] = f"{resource['name']}_{slug}"
    return resource
