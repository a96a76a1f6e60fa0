"""The API's request budget where its runs meet: the destination database, or this machine.

Interface (used by every run, sensor tick and backfill window through `resolve_plan`):

    from restsync_dagster.load.request_budget import shared_budget

    budget = shared_budget("service_desk", 60.0)   # None without client.rate_limit

A Dagster backfill runs each window as a run of its own, and a run launcher may put each in its own
process or pod; the API's server counts all their requests against one limit. So the next free
request slot (http/ratelimit.py) is kept where every run of the API can see it:

- on Postgres, in the destination database (`_restsync.request_budget`, one row per API, moved by
  one `INSERT .. ON CONFLICT .. RETURNING` per request, on the database's clock so the pods' clocks
  need not agree): every run that loads into that database shares it, on any machine;
- elsewhere (DuckDB, one writer on one machine), in a file beside the dlt pipelines folder, the
  same folder `pipeline_lock` uses: every process of that deployment shares it.

If the database cannot be reached the request is paced by this process's own book for that once,
and the next request tries the database again: a budget must never be why a load fails.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from pathlib import Path
from typing import Any, Optional

from dlt.common.pipeline import get_dlt_pipelines_dir

from restsync_dagster.http.ratelimit import (
    ProcessSlots,
    RequestBudget,
    budget_for,
    furthest_ahead,
    machine_budget,
)
from restsync_dagster.load.destination import destination_kind, postgres_dsn

logger = logging.getLogger("restsync")

SCHEMA = "_restsync"  # restsync's own bookkeeping in the destination database; no API is named so
TABLE = f"{SCHEMA}.request_budget"

_CREATE = (
    f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}",
    f"CREATE TABLE IF NOT EXISTS {TABLE} (api text PRIMARY KEY, next_free double precision NOT NULL)",
)
# the slot is the book's next free one, or now (the queue is empty), or now when the book is
# implausibly far ahead (a clock that jumped); it returns the seconds to wait for it
_RESERVE = f"""
WITH clock AS (SELECT extract(epoch FROM clock_timestamp())::double precision AS now)
INSERT INTO {TABLE} AS book (api, next_free)
SELECT %(api)s, clock.now + %(interval)s FROM clock
ON CONFLICT (api) DO UPDATE SET next_free = (
    SELECT CASE WHEN book.next_free - clock.now > %(furthest)s THEN clock.now
                ELSE greatest(book.next_free, clock.now) END + %(interval)s
    FROM clock)
RETURNING next_free - %(interval)s - (SELECT now FROM clock)
"""


class PostgresSlots:
    """The slot book of every run that loads into one Postgres database: a row per API."""

    def __init__(self, dsn: str, api_name: str) -> None:
        self._dsn = dsn  # holds the password: psycopg2.connect only
        self.api_name = api_name
        self._lock = threading.Lock()
        self._connection: Any = None
        self._fallback = ProcessSlots()
        self._warned = False

    def _connect(self) -> Any:
        import psycopg2  # dlt[postgres]'s driver

        connection = psycopg2.connect(self._dsn, connect_timeout=10)
        connection.autocommit = True
        with connection.cursor() as cursor:
            for statement in _CREATE:
                try:
                    cursor.execute(statement)
                except (psycopg2.errors.UniqueViolation, psycopg2.errors.DuplicateObject):
                    pass  # another run created it at the same moment (IF NOT EXISTS is not atomic)
        return connection

    def reserve(self, interval: float) -> float:
        import psycopg2

        with self._lock:
            try:
                if self._connection is None:
                    self._connection = self._connect()
                with self._connection.cursor() as cursor:
                    cursor.execute(_RESERVE, {"api": self.api_name, "interval": interval, "furthest": furthest_ahead(interval)})
                    (wait,) = cursor.fetchone()
                return float(wait)
            except psycopg2.Error as exc:
                self.close()
                if not self._warned:  # the class only: a psycopg2 message can quote the DSN
                    logger.warning(
                        "restsync: the request budget of %s in the destination database is unreachable (%s); "
                        "pacing this process's requests alone until it answers", self.api_name, type(exc).__name__,
                    )
                    self._warned = True
                return self._fallback.reserve(interval)

    def close(self) -> None:
        if self._connection is not None:
            try:
                self._connection.close()
            except Exception:  # noqa: BLE001 - already broken
                pass
            self._connection = None


def shared_budget(api_name: str, rate: Optional[float]) -> Optional[RequestBudget]:
    """The API's budget shared by all its runs (None without a rate limit); see the module docstring."""
    if not rate:
        return None
    dsn = None
    if destination_kind() == "postgres":
        try:
            dsn = postgres_dsn(api_name)
        except Exception:  # noqa: BLE001 - no credentials: the load says so itself, in its own words
            pass
    if dsn is None:
        return machine_budget(api_name, rate, Path(get_dlt_pipelines_dir()))
    place = "postgres:" + hashlib.sha256(dsn.encode("utf-8")).hexdigest()[:16]  # never the DSN itself
    return budget_for(api_name, rate, place, lambda: PostgresSlots(dsn, api_name))
