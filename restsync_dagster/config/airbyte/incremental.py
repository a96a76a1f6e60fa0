"""`DatetimeBasedCursor` -> `incremental`: cursor field, start_time_option parameter, start (in the
form the manifest sends), `datetime_format` -> `format` (`%ms` epoch_ms, `%s` epoch_s, `%Y-%m-%d`
date, `%Y-%m-%dT%H:%M:%SZ` iso; other ISO-like formats iso, with a line), lookback -> lag_seconds,
and a retriever's `pagination_reset` (SPLIT_USING_CURSOR on an error filter's RESET_PAGINATION) ->
`restart_on`.

A cursor restsync cannot send as a request parameter leaves the stream read in full, with a line.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any, Optional

from restsync_dagster.config.airbyte.context import ImportContext
from restsync_dagster.config.airbyte.manifest import CONFIG_REF, access_chain, has_jinja, iso_duration_seconds

DEFAULT_START = "2024-01-01T00:00:00Z"
FORMATS = {"%ms": "epoch_ms", "%s": "epoch_s", "%Y-%m-%d": "date", "%Y-%m-%dT%H:%M:%SZ": "iso"}


def map_incremental(context: ImportContext, stream: str, cursor: Optional[dict[str, Any]], reset: Any = None) -> Optional[dict[str, Any]]:
    """The `incremental` of a stream's incremental_sync, or None: the stream is then read in full."""
    if not cursor:
        _reset(context, stream, reset, None)
        return None
    if cursor.get("type") != "DatetimeBasedCursor":
        context.note(stream, f"incremental_sync type '{cursor.get('type')}': the resource is read in full", cursor)
        _reset(context, stream, reset, None)
        return None
    option = cursor.get("start_time_option") or {}
    if option.get("inject_into") != "request_parameter" or not option.get("field_name"):
        context.note(stream, "incremental_sync without a start_time_option request parameter: the resource is read in full", cursor)
        _reset(context, stream, reset, None)
        return None
    fmt = _format(context, stream, cursor.get("datetime_format"))
    start = cursor.get("start_datetime")
    if isinstance(start, dict):
        if start.get("datetime_format") and start.get("datetime_format") != cursor.get("datetime_format"):
            context.approx(stream, f"start_datetime.datetime_format '{start['datetime_format']}': restsync reads the start in any usual form")
        for key in ("min_datetime", "max_datetime"):
            if start.get(key):
                context.note(stream, f"start_datetime.{key}")
        start = start.get("datetime")
    initial = _start_value(context, stream, start, fmt)
    cursor_field = cursor.get("cursor_field")
    result: dict[str, Any] = {"cursor_path": str(cursor_field), "param": str(option["field_name"]), "initial_value": initial}
    if fmt != "auto":
        result["format"] = fmt
    cursor.get("cursor_datetime_formats")  # how records' cursors are parsed: restsync reads every usual form
    lookback = cursor.get("lookback_window")
    if lookback:
        seconds = iso_duration_seconds(lookback)
        if seconds is None:
            context.note(stream, f"incremental_sync.lookback_window '{lookback}'")
        else:
            result["lag_seconds"] = int(seconds) if seconds == int(seconds) else seconds
    end = cursor.get("end_datetime")
    end_text = end.get("datetime") if isinstance(end, dict) else end
    if end_text and not _is_now(end_text):
        context.note(stream, f"incremental_sync.end_datetime '{end_text}' (restsync reads up to now)")
    if cursor.get("end_time_option"):
        context.approx(stream, "incremental_sync.end_time_option: restsync sends no end bound (it reads up to now)")
    if cursor.get("step") or cursor.get("cursor_granularity"):
        context.approx(stream, f"incremental_sync.step {cursor.get('step')}: restsync reads the whole range in one listing, not in windows")
    for key in ("is_data_feed", "is_client_side_incremental", "global_substream_cursor", "clamping"):
        if cursor.get(key):
            context.note(stream, f"incremental_sync.{key}", cursor.get(key))
    for key in ("partition_field_start", "partition_field_end"):
        if cursor.get(key) not in (None, "start_time", "end_time"):
            context.note(stream, f"incremental_sync.{key} '{cursor.get(key)}'")
    restart = _reset(context, stream, reset, result)
    if restart:
        result["restart_on"] = restart
    return result


def _format(context: ImportContext, stream: str, fmt: Any) -> str:
    if not fmt:
        return "auto"
    fmt = str(fmt)
    if fmt in FORMATS:
        return FORMATS[fmt]
    if fmt.startswith("%Y-%m-%dT%H:%M:%S") or fmt.startswith("%Y-%m-%d %H:%M:%S"):
        context.approx(stream, f"incremental_sync.datetime_format '{fmt}': restsync sends the start as YYYY-MM-DDTHH:MM:SSZ")
        return "iso"
    context.note(stream, f"incremental_sync.datetime_format '{fmt}' (restsync sends the start in the records' own form)")
    return "auto"


def _start_value(context: ImportContext, stream: str, start: Any, fmt: str) -> Any:
    """The cursor's start: literal, the spec's default of a `{{ config['x'] }}`, else DEFAULT_START
    (a line); in the form the filter is sent in (epoch seconds or milliseconds as a number)."""
    value: Any = None
    if start and not has_jinja(start):
        value = start
    else:
        match = CONFIG_REF.fullmatch(str(start or "").strip())
        chain = access_chain(str(start or ""), "config") if not match else None
        key = (match.group(1) or match.group(2)) if match else (chain.keys[0] if chain and not chain.rest else None)
        value = context.spec_defaults.get(key) if key else None
        if value:
            context.approx(stream, f"incremental_sync.start_datetime '{start}': starts at the spec's default {value} (edit incremental.initial_value for another start)")
        else:
            value = DEFAULT_START
            context.approx(stream, f"incremental_sync.start_datetime '{start}': starts at {DEFAULT_START} (edit incremental.initial_value)")
    if fmt in ("epoch_s", "epoch_ms"):
        moment = _instant(value)
        if moment is not None:
            return int(moment.timestamp() * (1000 if fmt == "epoch_ms" else 1))
    return value if isinstance(value, (int, float)) else str(value)


def _instant(value: Any) -> Optional[datetime]:
    if isinstance(value, (int, float)):
        return None
    try:
        moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _is_now(text: Any) -> bool:
    return isinstance(text, str) and bool(re.fullmatch(r"\{\{\s*(now_utc|now_local|today_utc)\(\)(\.strftime\([^)]*\))?\s*\}\}", text.strip()))


def _reset(context: ImportContext, stream: str, reset: Any, incremental: Optional[dict[str, Any]]) -> Optional[dict[str, Any]]:
    """`pagination_reset` -> `restart_on` where it fits: SPLIT_USING_CURSOR on a RESET_PAGINATION
    error filter of one status, for a resource with a cursor. Otherwise a line."""
    filters = context.resets.get(stream) or []
    if not reset and not filters:
        return None
    action = reset.get("action") if isinstance(reset, dict) else None
    limits = reset.get("limits") if isinstance(reset, dict) else None
    if not reset:
        context.note(stream, f"error_handler RESET_PAGINATION {filters} without a pagination_reset")
        return None
    if action != "SPLIT_USING_CURSOR" or incremental is None:
        why = "restsync restarts only from the cursor (SPLIT_USING_CURSOR) of a resource with an incremental cursor"
        context.note(stream, f"pagination_reset {action}: {why}", reset)
        return None
    if limits:
        context.note(stream, f"pagination_reset.limits {dict(limits)} (restsync restarts on an error answer only)", limits)
    if len(filters) != 1 or len(filters[0][0]) != 1:
        if not filters:
            return None
        context.approx(stream, f"pagination_reset on {filters}: restarts on the first filter's status only")
    codes, message = filters[0]
    restart: dict[str, Any] = {"status": codes[0] if codes else 400}
    if message:
        restart["body_contains"] = message
    return restart
