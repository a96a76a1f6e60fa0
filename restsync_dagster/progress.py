"""A live progress line for `restsync run` on a terminal: resources done, pages, records, rate.

Pages are counted as the HTTP responses arrive (urllib3 logs one line per request at DEBUG; we
count them, never print them: a query string may carry a key). Resources and records come from
Dagster's materialization events, received by a Dagster logger added to the run.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Optional, TextIO

from dagster import DagsterEventType, logger

URLLIB3_LOGGER = "urllib3.connectionpool"
_RESPONSE_LINE = re.compile(r'"GET \S+ HTTP/[0-9.]+" \d{3} ')


@dataclass
class Progress:
    """Counters shared by the run (writers) and the display (reader)."""

    total_resources: int
    started: float = field(default_factory=time.monotonic)
    resources_done: int = 0
    records: int = 0
    pages: int = 0
    failed: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = self.records / elapsed
        minutes, seconds = divmod(int(elapsed), 60)
        return (
            f"resources {self.resources_done}/{self.total_resources}  pages {self.pages:,}  "
            f"records {self.records:,}  {rate:,.0f} records/s  {minutes:02d}:{seconds:02d}"
        )


class _PageCounter(logging.Handler):
    def __init__(self, progress: Progress) -> None:
        super().__init__(level=logging.DEBUG)
        self.progress = progress

    def emit(self, record: logging.LogRecord) -> None:
        # urllib3's per-response line, `http://host:port "GET /path HTTP/1.1" 200 1234` (maybe redacted)
        if _RESPONSE_LINE.search(record.getMessage()):
            with self.progress.lock:
                self.progress.pages += 1


class PageCounting:
    """Context manager: count every HTTP response urllib3 sees in this process."""

    def __init__(self, progress: Progress) -> None:
        self.handler = _PageCounter(progress)
        self.log = logging.getLogger(URLLIB3_LOGGER)
        self.saved: tuple[int, bool] = (self.log.level, self.log.propagate)

    def __enter__(self) -> "PageCounting":
        self.log.addHandler(self.handler)
        self.log.setLevel(logging.DEBUG)
        self.log.propagate = False  # the lines stay out of every other handler
        return self

    def __exit__(self, *exc: Any) -> None:
        self.log.removeHandler(self.handler)
        self.log.setLevel(self.saved[0])
        self.log.propagate = self.saved[1]


class _EventHandler(logging.Handler):
    def __init__(self, progress: Progress) -> None:
        super().__init__()
        self.progress = progress

    def emit(self, record: logging.LogRecord) -> None:
        event = getattr(record, "dagster_event", None)
        if event is None:
            return
        with self.progress.lock:
            if event.event_type == DagsterEventType.ASSET_MATERIALIZATION:
                self.progress.resources_done += 1
                rows = event.event_specific_data.materialization.metadata.get("rows_loaded")
                self.progress.records += int(rows.value) if rows is not None and rows.value else 0
            elif event.event_type == DagsterEventType.STEP_FAILURE:
                self.progress.failed.append(event.step_key or "?")


def progress_logger(progress: Progress) -> Any:
    """A Dagster logger definition feeding `progress` from the run's events."""

    @logger(description="restsync progress counter")
    def _progress(_init_context: Any) -> logging.Logger:
        log = logging.Logger("restsync_progress", level=logging.DEBUG)
        log.addHandler(_EventHandler(progress))
        return log

    return _progress


class Display:
    """Redraws the progress line on a TTY every `interval` seconds until stopped."""

    def __init__(self, progress: Progress, label: str, stream: TextIO = sys.stdout, interval: float = 0.25) -> None:
        self.progress, self.label, self.stream, self.interval = progress, label, stream, interval
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def _draw(self, final: bool = False) -> None:
        with self.progress.lock:
            text = f"{self.label}  {self.progress.line()}"
        self.stream.write("\r\x1b[2K" + text + ("\n" if final else ""))
        self.stream.flush()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._draw()

    def __enter__(self) -> "Display":
        self._thread = threading.Thread(target=self._loop, daemon=True, name="restsync-progress")
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._draw(final=True)
