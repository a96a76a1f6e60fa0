"""`SubstreamPartitionRouter` -> a child path `{resources.<parent>.<parent_key>}`, and an `AddFields`
of the partition value -> the `_<parent>_<key>` column restsync adds (used in primary keys).

Other routers, several parents, request options and other transformations are noted.
"""

from __future__ import annotations

import re
from typing import Any, Optional

from restsync_dagster.config.airbyte.context import ImportContext
from restsync_dagster.config.airbyte.manifest import PARTITION_REF


def map_partition_router(context: ImportContext, stream: str, router: Optional[dict[str, Any]], endpoint: dict[str, Any], transformations: list[Any]) -> dict[str, str]:
    """Fill the child's path from its parent; return {AddFields column: restsync's parent column}."""
    columns: dict[str, str] = {}
    if not router:
        return columns
    if router.get("type") != "SubstreamPartitionRouter":
        context.note(stream, f"partition_router type '{router.get('type')}'")
        return columns
    configs = router.get("parent_stream_configs") or []
    if len(configs) != 1:
        context.note(stream, f"{len(configs)} parent streams (restsync takes one; using the first)")
    if not configs:
        return columns
    parent_config = configs[0]
    parent = str((parent_config.get("stream") or {}).get("name"))
    key = str(parent_config.get("parent_key", "id"))
    partition_field = str(parent_config.get("partition_field", "parent_id"))
    if parent not in context.stream_names:
        context.note(stream, f"parent stream '{parent}' is not among the manifest's streams")
    if parent_config.get("request_option"):
        context.note(stream, "parent value sent as a request option (restsync puts it in the path)")
    if parent_config.get("incremental_dependency"):
        context.note(stream, "incremental_dependency (restsync children read new parent keys from the destination anyway)")

    def fill(match: re.Match[str]) -> str:
        return "{resources.%s.%s}" % (parent, key) if (match.group(1) or match.group(2)) == partition_field else match.group(0)

    endpoint["path"] = PARTITION_REF.sub(fill, endpoint["path"])
    if "{resources." not in endpoint["path"]:
        context.note(stream, f"path '{endpoint['path']}' does not use the partition field '{partition_field}'")
    column = f"_{parent}_{key}"
    for transformation in transformations:
        if transformation.get("type") != "AddFields":
            context.note(stream, f"transformation '{transformation.get('type')}'")
            continue
        for added in transformation.get("fields") or []:
            match = PARTITION_REF.fullmatch(str(added.get("value", "")).strip())
            target = (added.get("path") or [None])[-1]
            if match and (match.group(1) or match.group(2)) == partition_field and target:
                columns[str(target)] = column  # restsync adds the parent key to every child row itself
            else:
                context.note(stream, f"AddFields {added.get('path')}")
    return columns
