"""A stream's `transformations` (top-level streams and children alike).

An `AddFields` of the parent's partition value is the `_<parent>_<key>` column restsync adds to
every child row itself (mapped, and used in primary keys). restsync loads records as the API sends
them, so every other AddFields, RemoveFields, KeysToLower / KeysToSnakeCase / KeysReplace and
custom transformation is a line naming what it would have done.
"""

from __future__ import annotations

from typing import Any, Optional

from restsync_dagster.config.airbyte.context import ImportContext
from restsync_dagster.config.airbyte.manifest import PARTITION_REF


def map_transformations(context: ImportContext, stream: str, transformations: Any, parent: Optional[tuple[str, str, str]]) -> dict[str, str]:
    """{AddFields column: restsync's parent column} of the partition value; every other one is a line."""
    columns: dict[str, str] = {}
    if not transformations:
        return columns
    if not isinstance(transformations, list):
        context.note(stream, f"transformations {transformations!r} is not a list", transformations)
        return columns
    for transformation in transformations:
        kind = transformation.get("type") if isinstance(transformation, dict) else None
        if kind == "AddFields":
            for added in transformation.get("fields") or []:
                value = str(added.get("value", "")).strip()
                target = (added.get("path") or [None])[-1]
                match = PARTITION_REF.fullmatch(value)
                if parent and match and (match.group(1) or match.group(2)) == parent[2] and target:
                    columns[str(target)] = f"_{parent[0]}_{parent[1]}"  # restsync adds the parent key to every child row
                    continue
                context.note(stream, f"AddFields {added.get('path')} = '{value}' (restsync loads records as sent; add the column downstream)")
            if transformation.get("condition"):
                context.note(stream, f"AddFields condition '{transformation.get('condition')}'")
        elif kind == "RemoveFields":
            context.note(stream, f"RemoveFields {transformation.get('field_pointers')} (restsync loads these fields)")
        else:
            context.note(stream, f"transformation '{kind}' (restsync loads records as sent)", transformation)
    return columns
