"""Where an incremental resource keeps its cursor and what its last run observed: its dlt resource state.

The state is committed with the load (dlt writes it into the load package), so a failed run never
moves a cursor, and dagster-dlt restores it from the destination before every run. Layout, under
`sources.<api>.resources.<resource>`:

- `cursor`: `{cursor_path, last_value, format}` (`cursor_path` as configured: a field or a list of alternatives): the newest cursor value loaded, as the records
  carry it, and the form it came in (what `incremental.format: auto` sends next);
- `incremental_observed`: what the last run saw about the config's assumptions (see `Observed`).

Pipelines that dlt's own `incremental` ran before keep their cursor: `incremental.<cursor_path>.
last_value` is read when `cursor` is absent.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence, TypedDict, Union

from restsync_dagster.extract.resource_state import resource_state_of

CURSOR_KEY = "cursor"
OBSERVED_KEY = "incremental_observed"


class Observed(TypedDict, total=False):
    """What one run of an incremental resource saw (JSON, stored in the resource state)."""

    records: int  # records read
    param: str  # the filter parameter
    sent: Any  # the value sent in it
    cursor_missing: Optional[str]  # the message when no record had a usable cursor value
    filter_honoured: Optional[bool]  # False: records older than the filter came back; None: unknown
    filter_message: Optional[str]  # the message when the filter was ignored


def _paths(cursor_path: Any) -> tuple[str, ...]:
    if isinstance(cursor_path, str):
        return (cursor_path,)
    return tuple(cursor_path) if isinstance(cursor_path, (list, tuple)) else ()


def stored_cursor(resource_state: Mapping[str, Any], cursor_path: Union[str, Sequence[str]]) -> Optional[Any]:
    """The cursor value the resource reached, for this cursor path (None: never moved).

    With alternatives (a list), a cursor stored for the same list counts, and so does one stored
    for one of them alone (a config that named one field before its fallback was added)."""
    paths = _paths(cursor_path)
    cursor = resource_state.get(CURSOR_KEY)
    if isinstance(cursor, Mapping) and cursor.get("last_value") is not None:
        stored = _paths(cursor.get("cursor_path"))
        if stored == paths or (len(stored) == 1 and stored[0] in paths):
            return cursor["last_value"]
    legacy = resource_state.get("incremental", {})
    for path in paths:
        found = legacy.get(path) if isinstance(legacy, Mapping) else None
        if isinstance(found, Mapping) and found.get("last_value") is not None:
            return found["last_value"]
    return None


def cursor_of(pipeline_state: Mapping[str, Any], source_name: str, resource_name: str, cursor_path: Union[str, Sequence[str]]) -> Optional[Any]:
    return stored_cursor(resource_state_of(pipeline_state, source_name, resource_name), cursor_path)


def observed_of(pipeline_state: Mapping[str, Any], source_name: str, resource_name: str) -> Observed:
    """What the resource's last committed run observed (empty: it never ran with this engine)."""
    value = resource_state_of(pipeline_state, source_name, resource_name).get(OBSERVED_KEY)
    return value if isinstance(value, dict) else Observed()  # type: ignore[return-value]


def warnings_of(observed: Observed) -> list[str]:
    """The messages the user should see about a run's broken assumptions."""
    return [message for message in (observed.get("cursor_missing"), observed.get("filter_message")) if message]
