"""A live progress line for `restsync run` on a terminal: resources done, pages, records, rate.

Pages are counted as the API sessions receive them (`http.page_listeners`: answered pages, not
retries or unused read-ahead guesses). Resources and records come from Dagster's materialization
events, received by a Dagster logger added to the run.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Optional, TextIO

from dagster import DagsterEventType, logger

from restsync_dagster.http.session import page_listeners


@dataclass
class Progress:
    """Counters shared by the run (writers) and the display (reader)."""

    total_resources: int
    started: float = field(default_factory=time.monotonic)
    resources_done: int = 0
    records: int = 0
    pages: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = self.records / elapsed
        minutes, seconds = divmod(int(elapsed), 60)
        return (
            f"resources {self.resources_done}/{self.total_resources}  pages {self.pages:,}  "
            f"records {self.records:,}  {rate:,.0f} records/s  {minutes:02d}:{seconds:02d}"
        )


class PageCounting:
    """Context manager: count every page an API session of this process receives."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress

    def _count(self) -> None:
        with self.progress.lock:
            self.progress.pages += 1

    def __enter__(self) -> "PageCounting":
        page_listeners.append(self._count)
        return self

    def __exit__(self, *exc: Any) -> None:
        page_listeners.remove(self._count)


class _EventHandler(logging.Handler):
    def __init__(self, progress: Progress) -> None:
        super().__init__()
        self.progress = progress

    def emit(self, record: logging.LogRecord) -> None:
        event = getattr(record, "dagster_event", None)
        if event is None:
            return
        if event.event_type != DagsterEventType.ASSET_MATERIALIZATION:
            return
        rows = event.event_specific_data.materialization.metadata.get("rows_loaded")
        with self.progress.lock:
            self.progress.resources_done += 1
            self.progress.records += int(rows.value) if rows is not None and rows.value else 0


class _WarningPrinter(logging.Handler):
    """One line per warning the run's code logs; Dagster's own events (a failure with its stack
    trace among them) are left out: the command prints each failure once the run is over."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__(level=logging.WARNING)
        self.stream = stream

    def emit(self, record: logging.LogRecord) -> None:
        meta = getattr(record, "dagster_meta", None) or {}
        if record.levelno != logging.WARNING or meta.get("dagster_event") is not None:
            return
        message = str(meta.get("orig_message") or record.getMessage())
        self.stream.write(f"warning  {message}\n")
        self.stream.flush()


def warnings_logger(stream: Optional[TextIO] = None) -> Any:
    """A Dagster logger definition printing the run's warnings, one line each, to stderr."""

    @logger(description="restsync: the run's warnings, one line each")
    def _warnings(_init_context: Any) -> logging.Logger:
        log = logging.Logger("restsync_warnings", level=logging.WARNING)
        log.addHandler(_WarningPrinter(stream or sys.stderr))
        return log

    return _warnings


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
