"""`DatetimeBasedCursor` -> `incremental`: cursor field, start_time_option parameter, start, lookback.

A cursor restsync cannot send as a request parameter leaves the stream read in full, noted.
"""

from __future__ import annotations

from typing import Any, Optional

from restsync_dagster.config.airbyte.context import ImportContext
from restsync_dagster.config.airbyte.manifest import CONFIG_REF, has_jinja, iso_duration_seconds

DEFAULT_START = "2024-01-01T00:00:00Z"


def map_incremental(context: ImportContext, stream: str, cursor: Optional[dict[str, Any]]) -> Optional[dict[str, Any]]:
    """The `incremental` of a stream's incremental_sync, or None: the stream is then read in full."""
    if not cursor:
        return None
    if cursor.get("type") != "DatetimeBasedCursor":
        context.note(stream, f"incremental_sync type '{cursor.get('type')}'")
        return None
    option = cursor.get("start_time_option") or {}
    if option.get("inject_into") != "request_parameter" or not option.get("field_name"):
        context.note(stream, "incremental_sync without a start_time_option request parameter: the resource is read in full")
        return None
    start = cursor.get("start_datetime")
    start = start.get("datetime") if isinstance(start, dict) else start
    initial = _start_value(context, stream, start)
    result: dict[str, Any] = {"cursor_path": str(cursor.get("cursor_field")), "param": str(option["field_name"]), "initial_value": initial}
    lookback = cursor.get("lookback_window")
    if lookback:
        seconds = iso_duration_seconds(lookback)
        if seconds is None:
            context.note(stream, f"incremental_sync.lookback_window '{lookback}'")
        else:
            result["lag_seconds"] = int(seconds) if seconds == int(seconds) else seconds
    for key in ("end_time_option", "step", "cursor_granularity", "is_data_feed", "is_client_side_incremental"):
        if cursor.get(key):
            context.note(stream, f"incremental_sync.{key}")
    return result


def _start_value(context: ImportContext, stream: str, start: Any) -> str:
    """The cursor's start: literal, the spec's default of a `{{ config['x'] }}`, else DEFAULT_START (noted)."""
    if start and not has_jinja(start):
        return str(start)
    match = CONFIG_REF.fullmatch(str(start or "").strip())
    default = context.spec_defaults.get(match.group(1) or match.group(2)) if match else None
    if default:
        return str(default)
    context.note(stream, f"incremental_sync.start_datetime '{start}'; starting at {DEFAULT_START}")
    return DEFAULT_START
