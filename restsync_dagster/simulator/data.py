"""Deterministic, lazily generated records plus a small overlay of changes.

Record `i` of a resource is a pure function of (seed, api, resource, i): a million-record resource
costs no memory. Base `updated` timestamps grow with `i` over the resource's history (`span`, 730 days
by default, always ending at BASE_END), so an updated-since/before window over the base is two binary
searches. Updates, inserts and deletes live in an overlay; updated and inserted records get
the simulator clock (real UTC now), later than every base timestamp.
"""

from __future__ import annotations

import bisect
import random
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, NamedTuple, Optional, Sequence

BASE_START = datetime(2024, 1, 1, tzinfo=timezone.utc)
BASE_SPAN = timedelta(days=730)
# the base history ends here whatever its length: a longer history (`history_days`) reaches further back,
# so the overlay's changes (the clock, now) stay later than every generated timestamp
BASE_END = BASE_START + BASE_SPAN
EARLIEST = datetime(1970, 1, 1, tzinfo=timezone.utc)  # before every record: "since the beginning"


def history_start(span: timedelta = BASE_SPAN) -> datetime:
    """The first generated `updated` timestamp of a history `span` long."""
    return BASE_END - span

Generator = Callable[[random.Random, int], dict[str, Any]]
PAD_TEXT = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor " * 64


def padding(number: int, size: int) -> str:
    """`size` characters of filler, shifted by the record number (cheap, deterministic)."""
    start = number % 61
    text = PAD_TEXT[start : start + size]
    return text if len(text) == size else (text * (size // max(len(text), 1) + 1))[:size]


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text: str) -> datetime:
    text = text.strip().replace(" ", "+")
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Spec:
    """One resource of a simulated API, declared in `catalog.py`."""

    api: str
    name: str
    path: str  # relative to the API base; `{id}` marks the parent id in a child path
    generate: Generator
    count: int = 0  # top-level size at scale 1
    parent: Optional[str] = None
    fanout: tuple[int, int] = (0, 0)  # children per parent, inclusive range
    created_field: str = "createdAt"
    updated_field: str = "updatedAt"
    members_of: Optional[str] = None  # children drawn from another resource's records (team members)
    id_format: Callable[[int], Any] = int


@dataclass
class Overlay:
    updated: dict[int, dict[str, Any]] = field(default_factory=dict)
    inserted: dict[int, dict[str, Any]] = field(default_factory=dict)
    deleted: set[int] = field(default_factory=set)
    deleted_at: dict[int, datetime] = field(default_factory=dict)  # when each went: delta rounds report removals since a moment
    version: int = 0


class Change(NamedTuple):
    """A record updated, inserted or deleted, as a delta round reports it."""

    moment: datetime
    id: str  # the id as text: with `moment`, the order of a delta round
    number: int
    record: Optional[dict[str, Any]]  # None: deleted


class ResourceData:
    """The records one resource serves now: generated base, then the overlay."""

    def __init__(self, spec: Spec, seed: int, count: int, pad_bytes: int = 0, span: timedelta = BASE_SPAN) -> None:
        self.spec = spec
        self.seed = seed
        self.count = count
        self.pad_bytes = pad_bytes  # filler per record, for benchmarks that need ~1 KB records
        self.span = span  # how far back the generated history reaches (it ends at BASE_END)
        self.start = history_start(span)
        self.overlay = Overlay()
        self.lock = threading.RLock()
        self._views: dict[Any, "View"] = {}

    # --- single records ---------------------------------------------------------------------
    def rng(self, *parts: Any) -> random.Random:
        return random.Random(":".join(str(p) for p in (self.seed, self.spec.api, self.spec.name, *parts)))

    def base_updated(self, index: int, total: int) -> datetime:
        return self.start + self.span * (index / max(total, 1))

    def make(self, number: int, updated: datetime, rng: Optional[random.Random] = None) -> dict[str, Any]:
        rng = rng or self.rng(number)
        record = {"id": self.spec.id_format(number), **self.spec.generate(rng, number)}
        record[self.spec.created_field] = iso(updated - timedelta(days=rng.randint(0, 60), minutes=rng.randint(0, 1440)))
        record[self.spec.updated_field] = iso(updated)
        if self.pad_bytes:
            record["notes"] = padding(number, self.pad_bytes)
        return record

    def record(self, number: int) -> Optional[dict[str, Any]]:
        """Top-level record by number (1-based), as served now."""
        overlay = self.overlay
        if number in overlay.deleted:
            return None
        if number in overlay.updated:
            return dict(overlay.updated[number])
        if number in overlay.inserted:
            return dict(overlay.inserted[number])
        if 1 <= number <= self.count:
            return self.make(number, self.base_updated(number, self.count))
        return None

    def changes(self, since: datetime, until: datetime) -> list[Change]:
        """What changed in [since, until), oldest first, ties by id: one delta round's records.

        Updated and inserted records count with their updated timestamp (the clock when they
        changed), deleted ones with their deletion time; a record changed again later leaves the window.
        """
        with self.lock:
            overlay = self.overlay
            found = [Change(moment, str(r["id"]), n, dict(r)) for moment, n, r in self._changed_records()]
            found += [Change(moment, str(self.spec.id_format(n)), n, None) for n, moment in overlay.deleted_at.items()]
        return sorted((c for c in found if since <= c.moment < until), key=lambda c: (c.moment, c.id))

    def _changed_records(self) -> list[tuple[datetime, int, dict[str, Any]]]:
        """(updated timestamp, number, record) of every live updated or inserted record; an
        inserted record that was later updated is in both maps and listed once, as updated."""
        overlay = self.overlay
        current = {**overlay.inserted, **overlay.updated}
        return [(parse_iso(r[self.spec.updated_field]), n, r) for n, r in current.items() if n not in overlay.deleted]

    # --- views (ordered id lists, cached per overlay version) ----------------------------------
    def view(self, since: Optional[datetime] = None, descending: bool = False, until: Optional[datetime] = None) -> "View":
        """The record numbers served now: all of them in id order, or those updated in [since, until)
        in updated order (either bound may be None: open; an `until` alone means since the beginning)."""
        if until is not None and since is None:
            since = EARLIEST
        with self.lock:
            key = (since, until, descending, self.overlay.version)
            view = self._views.get(key)
            if view is None:
                if len(self._views) > 16:
                    self._views.clear()
                view = self._views[key] = self._build_view(since, descending, until)
            return view

    def _first_at(self, moment: datetime) -> int:
        """The first base number whose generated updated timestamp is >= moment (monotonic in number)."""
        low, high = 1, self.count + 1
        while low < high:
            mid = (low + high) // 2
            if self.base_updated(mid, self.count) >= moment:
                high = mid
            else:
                low = mid + 1
        return low

    def _build_view(self, since: Optional[datetime], descending: bool, until: Optional[datetime] = None) -> "View":
        overlay = self.overlay
        start = self._first_at(since) if since is not None else 1
        stop = self._first_at(until) if until is not None else self.count + 1
        touched = sorted(n for n in set(overlay.updated) | overlay.deleted if n <= self.count)
        changed = [(moment, n) for moment, n, _ in self._changed_records()]
        if since is not None:
            changed = [item for item in changed if item[0] >= since and (until is None or item[0] < until)]
            extra = [n for _, n in sorted(changed)]
        else:
            extra = sorted(n for _, n in changed if n > self.count)  # id order; updated base stay in place
            touched = sorted(n for n in overlay.deleted if n <= self.count)
        return View(range(start, max(start, stop)), touched, extra, descending)


class View:
    """An ordered list of record numbers: a base range minus `touched`, then `extra`."""

    def __init__(self, base: range, touched: Sequence[int], extra: list[int], descending: bool) -> None:
        self.base = base
        self.touched = [n for n in touched if base.start <= n < base.stop]
        self.extra = extra
        self.descending = descending
        self.base_len = len(base) - len(self.touched)

    def __len__(self) -> int:
        return self.base_len + len(self.extra)

    def slice(self, offset: int, limit: int) -> list[int]:
        total = len(self)
        if self.descending:
            positions = [total - 1 - p for p in range(offset, min(offset + limit, total))]
            return [self._at(p) for p in positions]
        return [self._at(p) for p in range(offset, min(offset + limit, total))]

    def rank(self, number: int) -> int:
        """How many positions hold a number <= `number`: where a page keyed on the last number served
        starts. Only for the plain view (no `since`, ascending), whose numbers ascend."""
        before = 0
        if number >= self.base.start:
            upto = min(number, self.base.stop - 1)
            before = (upto - self.base.start + 1) - bisect.bisect_right(self.touched, upto)
        return before + bisect.bisect_right(self.extra, number)

    def _at(self, position: int) -> int:
        if position >= self.base_len:
            return self.extra[position - self.base_len]
        if not self.touched:
            return self.base.start + position
        # smallest number x with (x - start + 1) - touched(<= x) == position + 1
        low, high = self.base.start + position, self.base.start + position + len(self.touched)
        while low < high:
            mid = (low + high) // 2
            if (mid - self.base.start + 1) - bisect.bisect_right(self.touched, mid) >= position + 1:
                high = mid
            else:
                low = mid + 1
        return low
