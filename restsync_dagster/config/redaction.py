"""Keep secret values out of every log line, error and metadata value, whoever writes it.

At DEBUG, dlt logs request params, bodies and headers unredacted, and urllib3 logs full URLs. A
log record factory (and a filter on those loggers) replaces every known secret value (configured
secrets, and OAuth2 access tokens as they are issued) with `***` before any handler sees the record.
A secret rarely travels as typed: a query string or a form body carries it URL-encoded, basic auth
base64-encoded, a JSON document or a repr escaped. `forms` lists those spellings and every one of
them is redacted. Errors and metadata that Dagster stores go through `redact` / `redact_metadata`
(runner.py), since Dagster's event log does not pass through logging's record factory.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
from typing import Any, Iterable, Mapping
from urllib.parse import quote, quote_plus

MIN_SECRET_LENGTH = 4
WATCHED_LOGGERS = ("dlt", "urllib3", "requests", "restsync_dagster", "dagster")
_PERCENT_ESCAPE = re.compile(r"%[0-9A-F]{2}")


def _encodings(value: str) -> set[str]:
    raw = value.encode("utf-8")
    spelled = {value, quote(value), quote(value, safe=""), quote_plus(value), json.dumps(value)[1:-1], repr(value)[1:-1]}
    spelled |= {_PERCENT_ESCAPE.sub(lambda m: m.group(0).lower(), text) for text in list(spelled)}  # %2f as well as %2F
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        encoded = encode(raw).decode("ascii")
        spelled |= {encoded, encoded.rstrip("=")}
    return spelled


def forms(secret: str) -> set[str]:
    """Every spelling a secret can take on its way out: plain, stripped, URL-encoded (quote and
    quote_plus, upper or lower case escapes), base64 (standard and URL-safe, with and without
    padding), JSON- and repr-escaped. Spellings shorter than MIN_SECRET_LENGTH are left out."""
    found: set[str] = set()
    for value in {secret, secret.strip()}:
        if len(value) >= MIN_SECRET_LENGTH:
            found |= _encodings(value)
    return {text for text in found if len(text) >= MIN_SECRET_LENGTH}


def basic_auth_forms(username: str, password: str) -> set[str]:
    """The base64 spellings of an HTTP basic `user:password` pair (the Authorization header)."""
    raw = f"{username}:{password}".encode("utf-8")
    spelled: set[str] = set()
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        encoded = encode(raw).decode("ascii")
        spelled |= {encoded, encoded.rstrip("=")}
    return spelled


class SecretRedactor(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self._secrets: frozenset[str] = frozenset()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()

    def add(self, values: Iterable[str]) -> None:
        """Register secret values, each in every spelling `forms` knows."""
        self.add_spellings(text for value in values if isinstance(value, str) for text in forms(value))

    def add_spellings(self, spellings: Iterable[str]) -> None:
        """Register exact spellings (e.g. `basic_auth_forms`) without deriving more from them."""
        fresh = {text for text in spellings if isinstance(text, str) and len(text) >= MIN_SECRET_LENGTH}
        with self._lock:
            if fresh <= self._secrets:
                return
            self._secrets = self._secrets | fresh
            # longest first: a secret containing another (or its own shorter spelling) is replaced whole
            ordered = sorted(self._secrets, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(text) for text in ordered))

    def spellings(self) -> frozenset[str]:
        """Every registered spelling of every secret (for redacting bytes, e.g. dlt's trace file)."""
        return self._secrets

    def redact(self, text: str) -> str:
        pattern = self._pattern
        if pattern is None or not isinstance(text, str):
            return text
        return pattern.sub("***", text)

    def filter(self, record: logging.LogRecord) -> bool:
        if self._pattern is None:
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


def redact(text: str) -> str:
    """`text` with every known secret, in any spelling, replaced by `***`."""
    return REDACTOR.redact(text)


def redact_data(value: Any) -> Any:
    """A JSON-like value (dicts, lists, strings) with every string redacted."""
    if isinstance(value, str):
        return REDACTOR.redact(value)
    if isinstance(value, Mapping):
        return {redact_data(k): redact_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_data(v) for v in value]
    return value


def redact_metadata(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """Dagster metadata with every text, markdown, URL, path and JSON value redacted (numbers and
    schemas pass through): Dagster stores metadata in its event log, which no log filter sees."""
    from dagster import MetadataValue
    from dagster._core.definitions.metadata import (
        JsonMetadataValue,
        MarkdownMetadataValue,
        PathMetadataValue,
        TextMetadataValue,
        UrlMetadataValue,
    )

    redacted: dict[str, Any] = {}
    for key, value in metadata.items():
        if isinstance(value, str):
            value = REDACTOR.redact(value)
        elif isinstance(value, TextMetadataValue):
            value = MetadataValue.text(REDACTOR.redact(value.text))
        elif isinstance(value, MarkdownMetadataValue):
            value = MetadataValue.md(REDACTOR.redact(value.md_str))
        elif isinstance(value, UrlMetadataValue):
            value = MetadataValue.url(REDACTOR.redact(value.url))
        elif isinstance(value, PathMetadataValue):
            value = MetadataValue.path(REDACTOR.redact(str(value.path)))
        elif isinstance(value, JsonMetadataValue):
            value = MetadataValue.json(redact_data(value.data))
        elif isinstance(value, (Mapping, list)):
            value = redact_data(value)
        redacted[REDACTOR.redact(key)] = value
    return redacted


def redact_event(event: Any) -> Any:
    """An op's MaterializeResult or AssetCheckResult with its metadata redacted; others unchanged."""
    from dagster import AssetCheckResult, MaterializeResult

    # `_replace`: dagster's records keep the NamedTuple copy-with (LegacyNamedTupleMixin)
    if isinstance(event, MaterializeResult):
        return event._replace(
            metadata=redact_metadata(event.metadata or {}) if event.metadata else event.metadata,
            check_results=[redact_event(check) for check in event.check_results or []],
        )
    if isinstance(event, AssetCheckResult) and (event.metadata or event.description):
        return event._replace(
            metadata=redact_metadata(event.metadata) if event.metadata else event.metadata,
            description=REDACTOR.redact(event.description) if event.description else event.description,
        )
    return event


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


def _watch_loggers() -> None:
    _install_record_factory()
    for name in WATCHED_LOGGERS:
        logger = logging.getLogger(name)
        if REDACTOR not in logger.filters:
            logger.addFilter(REDACTOR)


def protect(values: Iterable[str]) -> None:
    """Register secret values (in every spelling) and make sure every log record is redacted."""
    REDACTOR.add(values)
    _watch_loggers()

