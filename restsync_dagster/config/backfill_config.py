"""A resource's history loaded in windows: the `backfill` block of an incremental resource.

```yaml
  - name: tickets
    incremental: {cursor_path: updated_at, param: updated_since, initial_value: "2025-01-01T00:00:00Z"}
    backfill:
      start: 2022-01-01        # the first window starts at the window boundary at or before it
      window: monthly          # daily | weekly (ISO weeks, from Monday) | monthly
      end_param: updated_before  # the API's "updated before" filter; incremental.param bounds the start
      parallelism: 4           # windows at once where the destination allows it (Postgres)
```

A vendor whose bounded listing is another endpoint or one templated parameter says so with `path`
and `params`, whose values may hold `{start}` and `{end}` (the window's bounds, formatted as
`incremental.format` says, `auto`: the form of `incremental.initial_value`):

```yaml
    backfill: {start: 2022-01-01, window: weekly, path: /tickets/search,
               params: {modifiedTimeRange: "{start},{end}", sortBy: modifiedTime}}
```

A window is `[start, end)`: `end` of one window is `start` of the next, so an API whose bounds are
both inclusive lists a record stamped exactly on a boundary in two windows, merged on the key.
`window_request` is what one window's listing sends; the partitions themselves are Dagster's
(orchestration/history.py). Everything here is pure: no request, no Dagster.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from typing import Any, Literal, Optional, Union

from pydantic import Field, field_validator, model_validator

from restsync_dagster.config.cursor_values import CursorValue, format_cursor, parse_cursor
from restsync_dagster.config.strict_model import StrictModel

Window = Literal["daily", "weekly", "monthly"]
WINDOWS: tuple[str, ...] = ("daily", "weekly", "monthly")
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
BOUNDS = ("start", "end")


def _as_text(value: Any) -> Any:
    """YAML reads an unquoted `2022-01-01` as a date: keep it as text, as initial_value does."""
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return value


def _instant(value: Any, field: str) -> datetime:
    parsed = parse_cursor(value)
    if parsed is None or parsed.kind != "instant":
        raise ValueError(f"{field} {value!r} is no time: use a date ('2022-01-01') or an ISO 8601 time ('2022-01-01T00:00:00Z')")
    return parsed.instant


class BackfillConfig(StrictModel):
    """The history of an incremental resource, as Dagster time-window partitions (one run each)."""

    start: str
    # exclusive; the window holding it is the last. None: up to the window running now
    end: Optional[str] = None
    window: Window
    # the API's "updated before" filter: a window sends incremental.param=<start> and end_param=<end>
    end_param: Optional[str] = None
    # the listing that takes a range, when it is not endpoint.path (Zoho Desk: /tickets/search)
    path: Optional[str] = None
    # sent on top of endpoint.params; `{start}` / `{end}` filled with the window's bounds
    params: dict[str, Union[str, int]] = Field(default_factory=dict)
    # windows loading at once on a destination that takes parallel writers (Postgres); DuckDB: 1
    parallelism: int = Field(default=1, ge=1, le=64)

    @field_validator("start", "end", mode="before")
    @classmethod
    def _a_time(cls, value: Any, info: Any) -> Any:
        value = _as_text(value)
        if value is not None:
            _instant(value, info.field_name)
        return value

    @field_validator("path")
    @classmethod
    def _path_placeholders(cls, value: Optional[str]) -> Optional[str]:
        if value is not None:
            if not value.startswith("/") and not re.match(r"^https?://", value):
                raise ValueError(f"'{value}' is no path: start it with '/' (relative to client.base_url)")
            _only_bounds(value)
        return value

    @field_validator("params")
    @classmethod
    def _params_placeholders(cls, value: dict[str, Union[str, int]]) -> dict[str, Union[str, int]]:
        for item in value.values():
            if isinstance(item, str):
                _only_bounds(item)
        return value

    @model_validator(mode="after")
    def _bounded(self) -> "BackfillConfig":
        if self.end is not None and _instant(self.end, "end") <= _instant(self.start, "start"):
            raise ValueError(f"start {self.start} is not before end {self.end}")
        templated = " ".join(str(v) for v in self.params.values()) + (self.path or "")
        if self.end_param is None and not all("{%s}" % bound in templated for bound in BOUNDS):
            raise ValueError(
                "a window needs both bounds: set end_param (the API's 'updated before' filter, sent with "
                "incremental.param), or params (or path) holding both '{start}' and '{end}', e.g. "
                "modifiedTimeRange: '{start},{end}'"
            )
        return self

    @property
    def start_instant(self) -> datetime:
        return _instant(self.start, "start")

    @property
    def end_instant(self) -> Optional[datetime]:
        return _instant(self.end, "end") if self.end is not None else None


def _only_bounds(text: str) -> None:
    unknown = [name for name in PLACEHOLDER.findall(text) if name not in BOUNDS]
    if unknown:
        raise ValueError(f"'{{{unknown[0]}}}' in '{text}': only {{start}} and {{end}} are filled in (the window's bounds)")


def window_floor(moment: datetime, window: str) -> datetime:
    """The start of the window holding `moment` (UTC midnight; weeks from Monday; months from the 1st)."""
    moment = moment.astimezone(timezone.utc)
    day = datetime(moment.year, moment.month, moment.day, tzinfo=timezone.utc)
    if window == "weekly":
        return day - timedelta(days=day.weekday())
    if window == "monthly":
        return day.replace(day=1)
    return day


def next_window(start: datetime, window: str) -> datetime:
    """The start of the window after the one starting at `start`."""
    if window == "daily":
        return start + timedelta(days=1)
    if window == "weekly":
        return start + timedelta(days=7)
    year, month = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
    return start.replace(year=year, month=month, day=1)


def window_ceil(moment: datetime, window: str) -> datetime:
    """`moment` itself when it starts a window, else the start of the next window."""
    floor = window_floor(moment, window)
    return floor if floor == moment.astimezone(timezone.utc) else next_window(floor, window)


def _bound(moment: datetime, fmt: str, initial_value: Any) -> Any:
    value = CursorValue("instant", int((moment - datetime(1970, 1, 1, tzinfo=timezone.utc)) / timedelta(microseconds=1)), "iso")
    if fmt == "auto":
        initial = parse_cursor(initial_value)
        fmt = initial.form if initial is not None and initial.kind == "instant" else "iso"
    return format_cursor(value, fmt)


def _fill(template: Any, bounds: dict[str, Any]) -> Any:
    if not isinstance(template, str):
        return template
    whole = PLACEHOLDER.fullmatch(template)
    if whole and whole.group(1) in bounds:
        return bounds[whole.group(1)]  # `{start}` alone keeps the value's type (epoch numbers)
    return PLACEHOLDER.sub(lambda m: str(bounds.get(m.group(1), m.group(0))), template)


def window_request(resource: Any, start: datetime, end: datetime) -> tuple[str, dict[str, Any]]:
    """(path, query) of one window `[start, end)` of a resource with a backfill block: the query goes
    on top of endpoint.params, in place of the cursor's filter (a window never reads or moves it)."""
    backfill, incremental = resource.backfill, resource.incremental
    assert backfill is not None and incremental is not None
    bounds = {
        "start": _bound(start, incremental.format, incremental.initial_value),
        "end": _bound(end, incremental.format, incremental.initial_value),
    }
    path = _fill(backfill.path or resource.endpoint.path, {k: str(v) for k, v in bounds.items()})
    query: dict[str, Any] = {}
    if backfill.end_param is not None:
        query[incremental.param] = bounds["start"]
        query[backfill.end_param] = bounds["end"]
    for name, template in backfill.params.items():
        query[name] = _fill(template, bounds)
    return str(path), query
