"""Cursor values as APIs send them, parsed into something comparable and formatted back for a filter.

Real APIs stamp records in every usual form: ISO 8601 (with `Z`, an offset, fractional seconds, or
no zone at all), a date alone, epoch seconds or milliseconds (numbers or numeric strings), or an
increasing integer (a version, an id). dlt compares raw values, so an epoch-ms record against an ISO
initial value raises `TypeError` (str > int). Here every value becomes a `CursorValue`: an instant
(microseconds since the epoch, UTC; a zone-less time is taken as UTC) or a plain number, compared
only with its own kind, and formatted back in the form the API's filter takes.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Literal, Optional, Union

CursorFormat = Literal["auto", "iso", "epoch_s", "epoch_ms", "date", "int"]
FORMATS: tuple[str, ...] = ("auto", "iso", "epoch_s", "epoch_ms", "date", "int")
Raw = Union[str, int, float]

# numbers in these ranges read as epoch seconds / milliseconds (both 1973..5138); smaller ones are
# versions or ids; larger ones too (no API stamps records past the year 5138)
_EPOCH_S_MIN = 10**8
_EPOCH_MS_MIN = 10**11
_EPOCH_MS_MAX = 10**14
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?$")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class CursorValue:
    """A cursor parsed: `kind` 'instant' (key: microseconds since the epoch) or 'number' (key: the number).

    `form` is the format the value came in (iso, epoch_s, epoch_ms, date or int), which `auto`
    sends the next filter in. Values of different kinds are never compared."""

    kind: str
    key: Union[int, float]
    form: str

    def comparable(self, other: "CursorValue") -> bool:
        return self.kind == other.kind

    def minus_seconds(self, seconds: float) -> "CursorValue":
        """The instant `seconds` earlier (a lag); a number (a version) is left as is."""
        if self.kind != "instant" or not seconds:
            return self
        return CursorValue(self.kind, self.key - int(seconds * 1_000_000), self.form)

    @property
    def instant(self) -> datetime:
        return _EPOCH + timedelta(microseconds=int(self.key))


def _number(value: Union[int, float], hint: str) -> Optional[CursorValue]:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hint == "int":
        return CursorValue("number", value, "int")
    if hint == "epoch_ms" or (hint not in ("epoch_s",) and _EPOCH_MS_MIN <= abs(value) < _EPOCH_MS_MAX):
        return CursorValue("instant", int(value * 1000), "epoch_ms")
    if hint == "epoch_s" or (hint not in ("epoch_ms",) and _EPOCH_S_MIN <= abs(value) < _EPOCH_MS_MIN):
        return CursorValue("instant", int(value * 1_000_000), "epoch_s")
    return CursorValue("number", value, "int")


def _instant(moment: datetime, form: str) -> CursorValue:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)  # a zone-less time: taken as UTC
    delta = moment - _EPOCH
    return CursorValue("instant", (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds, form)


def parse_cursor(value: Any, hint: str = "auto") -> Optional[CursorValue]:
    """The value parsed, or None when it is no time and no number (None, a bool, free text...).

    `hint` is the configured format: `epoch_s`, `epoch_ms` or `int` say how to read a number
    whatever its size; `auto` (and the others) tell epoch seconds, milliseconds and versions by size."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return _number(value, hint)
    if isinstance(value, datetime):
        return _instant(value, "iso")
    if isinstance(value, date):
        return _instant(datetime(value.year, value.month, value.day), "date")
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text:
        return None
    if _NUMBER.match(text):
        return _number(float(text) if "." in text else int(text), hint)
    if _DATE_ONLY.match(text):
        try:
            return _instant(datetime.fromisoformat(text), "date")
        except ValueError:
            return None
    try:
        return _instant(datetime.fromisoformat(text), "iso")
    except ValueError:
        pass
    try:  # RFC 2822 (`Mon, 01 Jan 2024 00:00:00 GMT`), as some APIs stamp records
        return _instant(parsedate_to_datetime(text), "iso")
    except (TypeError, ValueError, IndexError):
        return None


def later(candidate: Optional[CursorValue], than: Optional[CursorValue]) -> bool:
    """Whether `candidate` is after `than` (anything is after nothing; other kinds never are)."""
    if candidate is None:
        return False
    if than is None:
        return True
    return candidate.comparable(than) and candidate.key > than.key


def newest(first: Optional[CursorValue], second: Optional[CursorValue]) -> Optional[CursorValue]:
    """The later of two values; `second` wins when they cannot be compared (what was just read)."""
    if first is None:
        return second
    if second is None:
        return first
    if not first.comparable(second):
        return second
    return second if second.key > first.key else first


class CursorFormatError(ValueError):
    """A cursor value cannot be sent in the configured format (e.g. a version as a date)."""


def format_cursor(value: CursorValue, fmt: str) -> Raw:
    """The value as the API's filter parameter takes it: `fmt` is the configured format, or for
    `auto` the form the value came in. Instants are floored to the unit sent (floors only re-read)."""
    target = value.form if fmt == "auto" else fmt
    if value.kind == "number":
        if target not in ("int", "epoch_s", "epoch_ms"):
            raise CursorFormatError(f"{value.key!r} is a number (a version or an id), not a time: it cannot be sent as '{target}'")
        return int(value.key) if float(value.key).is_integer() else value.key
    micros = int(value.key)
    if target == "epoch_ms":
        return micros // 1000
    if target in ("epoch_s", "int"):
        return micros // 1_000_000
    if target == "date":
        return value.instant.date().isoformat()
    return value.instant.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def looks_like_time(value: Any) -> bool:
    """A value that reads as a timestamp: ISO text, a date, or a number in the epoch ranges."""
    parsed = parse_cursor(value)
    return parsed is not None and parsed.kind == "instant"
