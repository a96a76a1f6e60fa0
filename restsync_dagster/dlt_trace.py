"""dlt's pipeline trace on disk (`trace.pickle` in the pipeline's working folder), scrubbed of secrets.

dlt pickles the trace of every run: step exceptions with their messages and attributes, resolved
config values. An exception that quoted a secret (requests' `Invalid header value`, a URL with a
key) would stay there in plain text. dagster-dlt reads the trace from memory after the run
(`last_trace`, for row counts), so the file can be rewritten once the run is over: every string in
it redacted, or the file removed when something secret-looking is still found in its bytes.
"""

from __future__ import annotations

import logging
import os
import pickle
from typing import Any

from dlt.common.pipeline import get_dlt_pipelines_dir
from dlt.pipeline.trace import TRACE_FILE_NAME

from restsync_dagster.redaction import REDACTOR

log = logging.getLogger(__name__)


def _scrubbed(value: Any, seen: set[int]) -> Any:
    if isinstance(value, str):
        return REDACTOR.redact(value)
    if id(value) in seen or isinstance(value, (bytes, int, float, bool, type(None), type)):
        return value
    seen.add(id(value))
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return type(value)(*(_scrubbed(item, seen) for item in value))
    if isinstance(value, (list, tuple, set, frozenset)):
        return type(value)(_scrubbed(item, seen) for item in value)
    if isinstance(value, dict):
        return type(value)((_scrubbed(k, seen), _scrubbed(v, seen)) for k, v in value.items())
    attributes = getattr(value, "__dict__", None)
    if isinstance(attributes, dict):  # a freshly unpickled copy: changed in place (frozen dataclasses too)
        for key, item in list(attributes.items()):
            attributes[key] = _scrubbed(item, seen)
    return value


def scrub_trace(pipeline_name: str, pipelines_dir: str | None = None) -> None:
    """Rewrite the pipeline's trace with every known secret redacted; remove it if any remains."""
    path = os.path.join(pipelines_dir or get_dlt_pipelines_dir(), pipeline_name, TRACE_FILE_NAME)
    if not os.path.isfile(path) or not REDACTOR.active:
        return
    try:
        with open(path, "rb") as file:
            raw = file.read()
        if not REDACTOR.found_in(raw.decode("utf-8", errors="replace")):
            return
        cleaned = pickle.dumps(_scrubbed(pickle.loads(raw), set()))
        if REDACTOR.found_in(cleaned.decode("utf-8", errors="replace")):
            raise ValueError("a secret is still in the trace after redaction")
        with open(path + ".tmp", "wb") as file:
            file.write(cleaned)
        os.replace(path + ".tmp", path)
    except Exception as exc:  # noqa: BLE001 - a trace that cannot be cleaned is not kept
        log.debug("removing dlt's trace %s, which could not be scrubbed: %s", path, type(exc).__name__)
        os.remove(path)
