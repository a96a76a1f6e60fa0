"""A client-side request budget per API, shared by every request of the API wherever it runs.

dlt has no client-side rate limiter: concurrent child requests would storm a rate-limited API
into 429s and then sleep out `Retry-After` penalties. With `client.rate_limit` (requests per
second) set, every request attempt first takes a slot; slots are spaced evenly at 1/rate (GCRA
"virtual scheduling", no burst), so the server's own bucket never empties and the crawl runs at
the allowed rate instead of bouncing off it.

The server counts every request of the API, not those of one process: the next free slot is kept
in a `SlotBook` that all the API's requesters share. `ProcessSlots` serves the threads of one
process; `MachineSlots` (a file under a lock) every process on one machine, e.g. the windows of a
backfill in runs of their own; the load layer adds one in the destination database for runs on
several machines (load/request_budget.py).
"""

from __future__ import annotations

import fcntl
import os
import struct
import threading
import time
from pathlib import Path
from typing import Callable, Optional, Protocol

_SLOT = struct.Struct("<d")  # the next free slot, seconds since the epoch


def furthest_ahead(interval: float) -> float:
    """How far ahead a booked slot may plausibly be: beyond it the book is stale or corrupt.

    Every requester waits for at most one slot, and an API has at most a few hundred requesters (its
    threads in every run), so a slot further ahead than that comes from a clock that jumped back or
    a file written by something else; trusting it would stall every run of the API.
    """
    return max(60.0, 1000 * interval)


def next_slot(booked: float, now: float, interval: float) -> float:
    """The slot a new request gets, given the book's next free one (GCRA): now, or the queue's end.

    A NaN book (bytes written by something else) compares false both ways: `max` keeps `now`."""
    if booked - now > furthest_ahead(interval):
        booked = now
    return max(now, booked)


class SlotBook(Protocol):
    """Where an API's next free request slot is kept."""

    def reserve(self, interval: float) -> float:
        """Take the next free slot and move it on by `interval`; returns the seconds until the slot."""
        ...


class ProcessSlots:
    """The slot book of the threads of one process."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._next_free = 0.0
        self._lock = threading.Lock()

    def reserve(self, interval: float) -> float:
        with self._lock:
            now = self._clock()
            slot = next_slot(self._next_free, now, interval)
            self._next_free = slot + interval
        return slot - now


class MachineSlots:
    """The slot book of every process on one machine: 8 bytes in a file, read and moved under flock.

    The file is opened once per process and kept open; the flock (released if the process dies) makes
    the read-move-write atomic across processes, the thread lock across this process's threads (a
    flock is held per open file, not per thread).
    """

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self._clock = clock
        self._lock = threading.Lock()
        self._fd: Optional[int] = None

    def _descriptor(self) -> int:
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        return self._fd

    def reserve(self, interval: float) -> float:
        with self._lock:
            fd = self._descriptor()
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                raw = os.pread(fd, _SLOT.size, 0)
                booked = _SLOT.unpack(raw)[0] if len(raw) == _SLOT.size else 0.0
                now = self._clock()
                slot = next_slot(booked, now, interval)
                os.pwrite(fd, _SLOT.pack(slot + interval), 0)
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        return slot - now


class RequestBudget:
    """Hands out request start times at most `rate` per second, in arrival order, from its slot book."""

    def __init__(
        self,
        rate: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        book: Optional[SlotBook] = None,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be > 0 requests per second")
        self.rate = rate
        self.interval = 1.0 / rate
        self.book: SlotBook = book if book is not None else ProcessSlots(clock)
        self._sleep = sleep
        self.waited_seconds = 0.0

    def acquire(self) -> float:
        """Block until this caller may send one request; returns the seconds waited."""
        wait = max(0.0, self.book.reserve(self.interval))
        self.waited_seconds += wait
        if wait > 0:
            self._sleep(wait)
        return wait


_budgets: dict[tuple[str, float, str], RequestBudget] = {}
_registry_lock = threading.Lock()


def budget_for(
    api_name: str, rate: Optional[float], place: str = "process", book: Optional[Callable[[], SlotBook]] = None
) -> Optional[RequestBudget]:
    """The budget of one API in this process (None without a rate limit), kept in the book of `place`.

    One budget per API and place, not per session: each resource and each child thread has its own
    session, but the server counts them all against the same limit. `book` makes the slot book of
    a `place` other than "process" the first time it is asked for.
    """
    if not rate:
        return None
    key = (api_name, float(rate), place)
    with _registry_lock:
        budget = _budgets.get(key)
        if budget is None:
            budget = _budgets[key] = RequestBudget(rate, book=book() if book is not None else None)
        return budget


def machine_budget(api_name: str, rate: Optional[float], folder: Path) -> Optional[RequestBudget]:
    """The API's budget shared by every process on this machine that uses `folder`."""
    path = folder / f".restsync-{api_name}.budget"
    return budget_for(api_name, rate, f"file:{path}", lambda: MachineSlots(path))
