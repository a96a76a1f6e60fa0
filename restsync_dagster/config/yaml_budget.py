"""Bounds on a YAML config, so a small hostile file cannot take the machine's memory.

YAML aliases share one object when loaded: a 675-byte file of anchors nested in anchors
("billion laughs") loads in microseconds as ~10 objects, but stands for ~10^9 values, and every
walk that copies or validates it (resource_defaults merging, the dialect, pydantic) expands it:
4 GB and more, `restsync validate` included. So before any such walk the loaded document is
walked once as the tree it stands for, counting values, and refused as soon as the count passes
`MAX_VALUES`: the walk stops early, so it costs at most that many steps whatever the file says (a
recursive alias, `&a [*a]`, stops there too). Shipped configs hold ~500 values; a generated one
with hundreds of resources a few tens of thousands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

MAX_BYTES = 1_000_000  # the shipped configs are 2-4 KB
MAX_VALUES = 200_000  # values (mapping keys, values, list items) once aliases are expanded
MAX_DEPTH = 64  # nesting of mappings and lists


class ConfigTooLarge(Exception):
    """The file is larger than a config may be."""


def read_config_text(path: Path) -> str:
    """The file's text, reading at most `MAX_BYTES` + 1 bytes whatever its size."""
    with path.open("rb") as file:
        data = file.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise ConfigTooLarge(f"is larger than {MAX_BYTES:,} bytes, the most a config may be (split the API into several files)")
    return data.decode("utf-8")


def over_budget(document: Any) -> Optional[str]:
    """Why the loaded document is too large once its aliases are expanded, or None."""
    stack: list[tuple[Any, int]] = [(document, 1)]
    values = 0
    while stack:
        value, depth = stack.pop()
        values += 1
        if values > MAX_VALUES:
            return (
                f"stands for more than {MAX_VALUES:,} values once its YAML aliases (*name) are expanded; "
                "anchors nested in anchors multiply (a 'billion laughs' file): use fewer aliases, or resource_defaults"
            )
        if depth > MAX_DEPTH:
            return f"is nested more than {MAX_DEPTH} levels deep (mappings and lists, aliases expanded)"
        if isinstance(value, dict):
            values += len(value)  # the keys
            stack.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, (list, tuple)):
            stack.extend((item, depth + 1) for item in value)
    return None
