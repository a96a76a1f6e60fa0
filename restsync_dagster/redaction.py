"""Keep secret values out of every log line, whoever writes it.

At DEBUG, dlt logs request params, bodies and headers unredacted, and urllib3 logs full URLs. A
log record factory (and a filter on those loggers) replaces every known secret value (configured
secrets, and OAuth2 access tokens as they are issued) with `***` before any handler sees the record.
"""

from __future__ import annotations

import logging
import threading
from typing import Iterable

MIN_SECRET_LENGTH = 4
WATCHED_LOGGERS = ("dlt", "urllib3", "requests", "restsync_dagster", "dagster")


class SecretRedactor(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self._secrets: tuple[str, ...] = ()  # longest first: a secret containing another is replaced whole
        self._lock = threading.Lock()

    def add(self, values: Iterable[str]) -> None:
        fresh = {v for v in values if isinstance(v, str) and len(v) >= MIN_SECRET_LENGTH}
        with self._lock:
            self._secrets = tuple(sorted(set(self._secrets) | fresh, key=len, reverse=True))

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        message = record.getMessage()
        redacted = self.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
        return True


REDACTOR = SecretRedactor()
_factory_lock = threading.Lock()
_factory_installed = False


def _install_record_factory() -> None:
    """Redact every record as it is created, whichever logger makes it.

    A filter on a logger does not see records of its child loggers (`urllib3.connectionpool`
    propagates to `urllib3`'s handlers, not through its filters), so the filters above are a second
    line; the record factory is the one place every record passes.
    """
    global _factory_installed
    with _factory_lock:
        if _factory_installed:
            return
        previous = logging.getLogRecordFactory()

        def make_record(*args: object, **kwargs: object) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            try:
                REDACTOR.filter(record)
            except Exception:  # noqa: BLE001 - a record whose args do not format is left to logging's own error path
                pass
            return record

        logging.setLogRecordFactory(make_record)
        _factory_installed = True


def protect(values: Iterable[str]) -> None:
    """Register secret values and make sure every log record is redacted."""
    REDACTOR.add(values)
    _install_record_factory()
    for name in WATCHED_LOGGERS:
        logger = logging.getLogger(name)
        if REDACTOR not in logger.filters:
            logger.addFilter(REDACTOR)
