"""API records made safe for dlt before it sees them: one map step on every resource that fetches.

What dlt does with hostile records as they come (measured with dlt 1.31 on DuckDB):

- a field named like dlt's own columns (`_dlt_id`, `_dlt_load_id`, any name dlt's snake_case
  naming turns into `_dlt_...`, e.g. `_DLT_ID` or `-dlt-id`) is trusted as dlt's row key: two
  records carrying the same `_dlt_id` share one row key, and the next merge deletes the other's
  nested rows. Such a field is renamed `_api` + its name (`_dlt_id` -> `_api_dlt_id`), at any depth;
- an integer outside 64 bits fails the whole run's extract (`Integer exceeds 64-bit range`, no
  resource or field named): it is loaded as text, its exact digits;
- a record nested past ~254 levels fails the extract (`Recursion limit reached`): whatever lies
  deeper than `MAX_DEPTH` containers is loaded as a JSON string in one text column;
- NaN and Infinity (Python's `json` reads them) were silently dropped: they are loaded as the text
  `NaN`, `Infinity`, `-Infinity`; a lone UTF-16 surrogate in a string (`"\\ud800"`) failed the
  extract: it is replaced by U+FFFD;
- a record without its primary key (or with it null) failed normalize for every resource of the
  run: it fails its own resource, naming file, resource and `primary_key`, before anything of it
  is loaded (the runner then loads the other resources).

A text value in a column dlt typed `bigint` or `double` lands in dlt's variant column
(`<field>__v_text`), as any type change does.
"""

from __future__ import annotations

import json
import math
import re
from functools import lru_cache
from typing import Any

from dlt.common.normalizers.naming.snake_case import NamingConvention

from restsync_dagster.config.errors import RestsyncError
from restsync_dagster.config.model import Resource
from restsync_dagster.extract.plan import ApiPlan

DLT_PREFIX = "_dlt_"
RENAMED_PREFIX = "_api"  # `_dlt_id` -> `_api_dlt_id`
MAX_DEPTH = 64  # containers (objects and lists) deep; deeper values are kept as a JSON string
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_SURROGATE = re.compile("[\ud800-\udfff]")
_NAMING = NamingConvention()  # dlt's default naming, which the pipelines use


class RecordError(RestsyncError):
    """A record the resource cannot load; names the file, the resource and the field."""

    def __init__(self, where: str, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{where}: field '{field}': {message}")


@lru_cache(maxsize=8192)
def is_dlt_name(key: str) -> bool:
    """Would dlt's naming turn this field name into one of its own columns?"""
    return _NAMING.normalize_identifier(key).startswith(DLT_PREFIX)


def renamed(key: str, record: dict[str, Any]) -> str:
    """The name a `_dlt_` field is loaded under: `_api` before it, again while that is taken."""
    new = RENAMED_PREFIX + key
    while new in record:
        new = RENAMED_PREFIX + new
    return new


class RecordHygiene:
    """The map step of one resource: `__call__` returns the record safe to load, or raises
    RecordError (which fails this resource alone)."""

    def __init__(self, plan: ApiPlan, resource: Resource, check_primary_key: bool = True) -> None:
        self.where = f"{plan.source_file or plan.name}: resource '{resource.name}'"
        self.primary_key = resource.primary_key_columns if check_primary_key else ()

    def __call__(self, record: Any) -> Any:
        if not isinstance(record, dict):
            return record
        clean = self._object(record, 1)
        for column in self.primary_key:
            self._check_key(clean, column)
        return clean

    def _check_key(self, record: dict[str, Any], column: str) -> None:
        value = record.get(column)
        if value is None:  # the API may spell it otherwise (`Id`): dlt matches normalized names
            value = next((v for k, v in record.items() if _NAMING.normalize_identifier(k) == column and v is not None), None)
        if value is None:
            state = "null" if column in record else "no"
            raise RecordError(
                self.where, "primary_key",
                f"a record has {state} '{column}' (its fields: {sorted(record)[:20]}); set primary_key to a field "
                "every record has, or fix the API's records; nothing of this resource was loaded",
            )

    def _object(self, record: dict[str, Any], depth: int) -> dict[str, Any]:
        clean: dict[str, Any] = {}
        for key, value in record.items():
            if isinstance(key, str) and not key[:1].isalpha() and is_dlt_name(key):
                key = renamed(key, record)
            clean[key] = self._value(value, depth, key)
        return clean

    def _value(self, value: Any, depth: int, field: str) -> Any:
        if isinstance(value, str):
            return value if value.isascii() or not _SURROGATE.search(value) else _SURROGATE.sub("\ufffd", value)
        if isinstance(value, bool) or value is None:
            return value
        if isinstance(value, int):
            return value if INT64_MIN <= value <= INT64_MAX else str(value)
        if isinstance(value, float):
            return value if math.isfinite(value) else json.dumps(value)  # NaN, Infinity, -Infinity
        if isinstance(value, (dict, list)):
            if depth >= MAX_DEPTH and value:
                return self._as_json(value, field)
            if isinstance(value, dict):
                return self._object(value, depth + 1)
            return [self._value(item, depth + 1, field) for item in value]
        return value

    def _as_json(self, value: Any, field: str) -> str:
        try:
            return json.dumps(value, default=str, ensure_ascii=False)
        except (RecursionError, ValueError) as exc:
            raise RecordError(self.where, field, f"a value nested too deep to store even as JSON ({type(exc).__name__})") from None
