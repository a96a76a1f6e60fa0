"""One run's cursor: the filter value to send, the newest value loaded, and what the API did.

"Load everything and merge; never move a cursor on a guess": every record the API returns is
loaded (the merge on the primary key absorbs overlap), the cursor moves only to a value read from
the records, and two assumptions of the config are checked on the way:

- the cursor field is there: records without it are still loaded (a full read each run, merged),
  the cursor stays, and the user is told which fields look like the right one;
- the API honours the filter: records older than the value sent mean it ignored it; the data is
  still right (everything was loaded), but each run reads the whole list, and the user is told.
"""

from __future__ import annotations

import difflib
import re
from typing import Any, Mapping, MutableMapping, Optional

from dlt.common import jsonpath

from restsync_dagster.config.cursor_values import (
    CursorFormatError,
    CursorValue,
    Raw,
    format_cursor,
    later,
    newest,
    parse_cursor,
)
from restsync_dagster.config.errors import RestsyncError
from restsync_dagster.config.change_tracking import IncrementalConfig
from restsync_dagster.extract.incremental_state import (
    CURSOR_KEY,
    OBSERVED_KEY,
    Observed,
    stored_cursor,
)

_TIME_NAME = re.compile(r"(time|date|updat|modif|creat|chang|stamp|_at$|At$|^ts$|since|version)", re.IGNORECASE)
_CHANGE_NAME = re.compile(r"(updat|modif|chang|last)", re.IGNORECASE)
_MAX_SUGGESTIONS = 3


class CursorConfigError(RestsyncError):
    """The cursor cannot be sent in the configured format."""


class CursorFields:
    """`incremental.cursor_path` compiled: one field, or alternatives tried in order on each record."""

    def __init__(self, config: IncrementalConfig) -> None:
        self.paths = [jsonpath.compile_path(path) for path in config.cursor_paths]

    def raw(self, record: Mapping[str, Any]) -> Any:
        """The record's cursor value as it carries it: the first alternative present and not null (None: none)."""
        for path in self.paths:
            values = jsonpath.find_values(path, record)
            if values and values[0] is not None:
                return values[0]
        return None


class CursorRun:
    """The cursor of one listing of an incremental resource, read from and written to its dlt state."""

    def __init__(self, label: str, config: IncrementalConfig, resource_state: Mapping[str, Any]) -> None:
        self.label = label
        self.config = config
        self.fields = CursorFields(config)
        self.stored_raw = stored_cursor(resource_state, config.cursor_path)
        self.stored = parse_cursor(self.stored_raw, config.format)
        self.sent: Raw = self._start_value()
        self.sent_value = parse_cursor(self.sent, config.format)
        self.newest_raw: Any = None
        self.newest: Optional[CursorValue] = None
        self.records = 0
        self.with_cursor = 0
        self.unparsable: Any = None
        self.older = 0
        self.oldest_raw: Any = None
        self.sample: Optional[Mapping[str, Any]] = None

    def _start_value(self) -> Raw:
        """The stored cursor minus the lag, in the API's form; before any, the initial value."""
        fmt = self.config.format
        if self.stored is not None:
            start = self.stored.minus_seconds(self.config.lag_seconds)
        elif fmt == "auto":
            return self.config.initial_value  # sent as written
        else:
            start = parse_cursor(self.config.initial_value, fmt)  # type: ignore[assignment]
            assert start is not None  # validated when the config was loaded
        try:
            return format_cursor(start, fmt)
        except CursorFormatError as exc:
            raise CursorConfigError(
                f"{self.label}: field 'incremental.format': {exc}; set incremental.format to 'int' (or 'auto')"
            ) from exc

    def observe(self, page: list[Any]) -> None:
        """Track the newest cursor value of a page and whether the filter held (the page is loaded as is)."""
        for record in page:
            if not isinstance(record, Mapping):
                continue
            self.records += 1
            raw = self.fields.raw(record)
            if raw is None:
                if self.sample is None:
                    self.sample = record
                continue
            value = parse_cursor(raw, self.config.format)
            if value is None:
                self.unparsable = raw if self.unparsable is None else self.unparsable
                continue
            self.with_cursor += 1
            if later(value, self.newest) or self.newest is None:
                self.newest, self.newest_raw = value, raw
            if self.sent_value is not None and later(self.sent_value, value):
                self.older += 1
                if self.oldest_raw is None or later(parse_cursor(self.oldest_raw, self.config.format), value):
                    self.oldest_raw = raw

    _CARRIED = ("newest_raw", "records", "with_cursor", "unparsable", "older", "oldest_raw", "sample")

    def snapshot(self) -> dict[str, Any]:
        """What this run has read so far, as JSON: a checkpoint carries it to the run that resumes (checkpoint.py)."""
        return {"sent": self.sent, **{name: getattr(self, name) for name in self._CARRIED}}

    def resume(self, snapshot: Mapping[str, Any]) -> None:
        """Go on from what an interrupted listing of the same query had read (its `snapshot`)."""
        for name in self._CARRIED:
            if name in snapshot:
                setattr(self, name, snapshot[name])
        self.newest = parse_cursor(self.newest_raw, self.config.format) if self.newest_raw is not None else None

    def commit(self, state: MutableMapping[str, Any]) -> Observed:
        """Move the cursor to the newest value read (never back, never on a guess) and record what was seen."""
        reached = newest(self.stored, self.newest)
        if self.newest is not None and reached is self.newest:
            state[CURSOR_KEY] = {"cursor_path": self.config.cursor_path, "last_value": self.newest_raw, "format": self.newest.form}
        observed = Observed(
            records=self.records,
            param=self.config.param,
            sent=self.sent,
            cursor_missing=self._missing_message(),
            filter_honoured=self._filter_honoured(),
            filter_message=None,
        )
        if observed["filter_honoured"] is False:
            observed["filter_message"] = (
                f"{self.label}: field 'incremental.param': the API ignored the filter {self.config.param}={self.sent}: "
                f"{self.older} of {self.records} records are older than it (oldest: {self.oldest_raw!r}); all were "
                f"loaded and merged, so the table is right, but every run reads the whole list. Check the parameter "
                f"name and the form of its value (incremental.format)"
            )
        state[OBSERVED_KEY] = dict(observed)
        return observed

    def _filter_honoured(self) -> Optional[bool]:
        if self.sent_value is None or not self.with_cursor:
            return None
        return self.older == 0

    def _missing_message(self) -> Optional[str]:
        if not self.records or self.with_cursor:
            return None
        field = f"{self.label}: field 'incremental.cursor_path'"
        if self.unparsable is not None:
            return (
                f"{field}: values of {self.config.cursor_names} are no time and no number (e.g. {self.unparsable!r}); "
                "loaded in full and merged on the key, the cursor did not move"
            )
        suggestions = suggest_cursor_fields(self.sample or {}, self.config.cursor_paths[0])
        hint = (
            "fields that look like one: " + ", ".join(f"'{name}'" for name in suggestions)
            if suggestions
            else f"no field looks like a time (fields: {', '.join(sorted(map(str, self.sample or {}))[:15])})"
        )
        return f"{field}: records have no {self.config.cursor_names}; {hint}. Loaded in full and merged on the key; the cursor did not move"


def suggest_cursor_fields(record: Mapping[str, Any], wanted: str) -> list[str]:
    """Fields of a record that could be the cursor: names like a time or a change stamp, or values
    that parse as timestamps; closest to the configured name first."""
    candidates: dict[str, Any] = {}
    for name, value in record.items():
        if isinstance(value, Mapping):
            candidates.update({f"{name}.{inner}": v for inner, v in value.items() if not isinstance(v, (Mapping, list))})
        elif not isinstance(value, list):
            candidates[str(name)] = value
    plain = re.sub(r"[^a-z0-9]", "", wanted.lower())

    def rank(name: str) -> tuple[int, float]:
        leaf = name.rsplit(".", 1)[-1]
        if re.sub(r"[^a-z0-9]", "", leaf.lower()) == plain:
            tier = 0
        elif _CHANGE_NAME.search(leaf):
            tier = 1
        elif _TIME_NAME.search(leaf):
            tier = 2
        else:
            tier = 3
        return tier, -difflib.SequenceMatcher(None, leaf.lower(), wanted.lower()).ratio()

    def plausible(name: str, value: Any) -> bool:
        if value is None or isinstance(value, bool):
            return False
        parsed = parse_cursor(value)
        if parsed is None:
            return False
        if _TIME_NAME.search(name.rsplit(".", 1)[-1]):
            return True
        # by value alone: text that parses as a time, or a number only in the epoch-ms range (ids
        # often fall in the epoch-seconds range)
        return parsed.kind == "instant" and (isinstance(value, str) and not value.strip().lstrip("-").isdigit() or parsed.form == "epoch_ms")

    found = [name for name, value in candidates.items() if plausible(name, value)]
    return sorted(found, key=rank)[:_MAX_SUGGESTIONS]
