"""A client-side request budget per API, shared by every thread and resource of the API.

dlt has no client-side rate limiter: concurrent child requests would storm a rate-limited API
into 429s and then sleep out `Retry-After` penalties. With `client.rate_limit` (requests per
second) set, every request attempt first takes a slot here; slots are spaced evenly at 1/rate
(GCRA "virtual scheduling", no burst), so the server's own bucket never empties and the crawl runs
at the allowed rate instead of bouncing off it.
"""

from __future__ import annotations

import threading
import time
from typing import Callable, Optional


class RequestBudget:
    """Hands out request start times at most `rate` per second, in arrival order across threads."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        if rate <= 0:
            raise ValueError("rate must be > 0 requests per second")
        self.rate = rate
        self.interval = 1.0 / rate
        self._clock = clock
        self._sleep = sleep
        self._next_free = 0.0
        self._lock = threading.Lock()
        self.waited_seconds = 0.0

    def acquire(self) -> float:
        """Block until this caller may send one request; returns the seconds waited."""
        with self._lock:
            current = self._clock()
            slot = max(current, self._next_free)
            self._next_free = slot + self.interval
            wait = slot - current
            self.waited_seconds += wait
        if wait > 0:
            self._sleep(wait)
        return wait


_budgets: dict[str, RequestBudget] = {}
_registry_lock = threading.Lock()


def budget_for(api_name: str, rate: Optional[float]) -> Optional[RequestBudget]:
    """The process-wide budget of one API (None without a rate limit).

    One budget per API, not per session: each resource and each child thread has its own session,
    but the server counts them all against the same limit. Runs of one API in one process share it.
    """
    if not rate:
        return None
    with _registry_lock:
        budget = _budgets.get(api_name)
        if budget is None or budget.rate != rate:
            budget = _budgets[api_name] = RequestBudget(rate)
        return budget
