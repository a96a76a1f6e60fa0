"""How a resource fetches only what changed: an updated-since cursor (`incremental`) or a Graph-style
delta link (`delta`).

Both are sub-models of a resource, with their own rules (a cursor value must parse as one); kept
apart from `model` because the extract layer's cursor and delta code reads them on their own.
"""

from __future__ import annotations

from typing import Any, Literal, Optional, Union

from pydantic import Field, field_validator

from restsync_dagster.config.strict_model import StrictModel


class RestartOn(StrictModel):
    """An answer that means "no further pages this way" (Freshdesk: 400 "You cannot access tickets
    beyond the 300th page"): the listing starts again from page 1 filtered on the newest cursor
    value read (Airbyte's SPLIT_USING_CURSOR). Each restart must reach a newer value than the one
    before, at most `max_restarts` times; the overlap merges away on the primary key."""

    status: int = Field(default=400, ge=400, le=599)
    # text the answer's body must contain (case-insensitive); empty: any body with that status
    body_contains: str = ""
    max_restarts: int = Field(default=100, ge=1)


class IncrementalConfig(StrictModel):
    """Fetch only records changed since the last loaded cursor value.

    `param` is the query parameter the API filters on (`?updated_since=<cursor>`); `lag_seconds`
    re-reads a window before the cursor for late updates (merge on the key absorbs the overlap);
    `probe_params` ask the API for its newest record, which the change sensor compares to the cursor.
    """

    # the record's field; a list names alternatives: per record, the first one it carries counts
    # (Help Scout conversations: [userUpdatedAt, updatedAt])
    cursor_path: Union[str, list[str]]
    param: str
    # any usual cursor form: ISO 8601, a date, epoch seconds or milliseconds, a version number
    initial_value: Union[int, float, str]
    # the form the filter value is sent in; `auto`: the records' form (before any, initial_value's)
    format: Literal["auto", "iso", "epoch_s", "epoch_ms", "date", "int"] = "auto"
    lag_seconds: float = Field(default=0, ge=0)
    probe_params: dict[str, Union[str, int]] = Field(default_factory=dict)
    # restart the listing from the newest cursor value read when the API refuses to page on
    restart_on: Optional[RestartOn] = None

    @field_validator("cursor_path")
    @classmethod
    def _cursor_paths_named(cls, value: Any) -> Any:
        paths = [value] if isinstance(value, str) else list(value)
        if not paths or any(not path.strip() for path in paths):
            raise ValueError("name the record's cursor field, or a list of alternatives (the first a record carries counts)")
        if len(set(paths)) != len(paths):
            raise ValueError(f"{paths}: each alternative once")
        return value

    @property
    def cursor_paths(self) -> tuple[str, ...]:
        """The cursor field's alternatives, in the order they are tried on each record."""
        return (self.cursor_path,) if isinstance(self.cursor_path, str) else tuple(self.cursor_path)

    @property
    def cursor_names(self) -> str:
        """The cursor field(s) for messages: `'updated_at'`, or `'userUpdatedAt' or 'updatedAt'`."""
        return " or ".join(f"'{path}'" for path in self.cursor_paths)

    @field_validator("initial_value", mode="before")
    @classmethod
    def _initial_value_parses(cls, value: Any, info: Any) -> Any:
        """YAML reads an unquoted `2024-01-01` as a date: keep it as text; refuse what is no cursor."""
        from datetime import date, datetime

        from restsync_dagster.config.cursor_values import parse_cursor

        if isinstance(value, datetime):
            value = value.isoformat().replace("+00:00", "Z")
        elif isinstance(value, date):
            value = value.isoformat()
        if parse_cursor(value) is None:
            raise ValueError(
                f"{value!r} is no cursor value: use an ISO 8601 time ('2024-01-01T00:00:00Z'), a date "
                "('2024-01-01'), epoch seconds or milliseconds (1704067200000) or a version number (0)"
            )
        return value


class DeltaConfig(StrictModel):
    """Graph-style delta query: a round pages through `path` and its last page links to the next
    round, which returns only what changed since, deletions included.

    The link is kept in the resource's dlt state (with the data, like a cursor). A record carrying
    `removed_field` was deleted upstream and is deleted from the table by the merge.
    """

    path: str
    delta_link_path: str = "['@odata.deltaLink']"
    removed_field: str = "@removed"
    # the one field a removed entry carries besides `removed_field` (Graph: id); the resource's
    # primary key must be this field, or the merge could not tell which row to delete
    removed_key: str = "id"
    # query of a round that starts from now and returns nothing (Graph: $deltatoken=latest); the
    # change sensor starts watching with it instead of reading every record
    latest_params: dict[str, Union[str, int]] = Field(default_factory=lambda: {"$deltatoken": "latest"})
