"""dlt's pipeline trace on disk (`trace.pickle` in the pipeline's working folder), scrubbed of secrets.

dlt pickles the trace of every run: step exceptions with their messages, resolved config values.
An exception that quoted a secret (a URL with a key in it, requests' `Invalid header value`) would
stay there in plain text. dagster-dlt reads the trace from memory after the run (`last_trace`, for
row counts), so the file can be cleaned once the run is over. It cannot be unpickled and pickled
again (dlt's Schema does not survive the round trip), so each secret's bytes are masked with as
many `*`: the pickle keeps its string lengths and stays loadable; a file that does not load after
that is removed.
"""

from __future__ import annotations

import logging
import os
import pickle
import re

from dlt.common.pipeline import get_dlt_pipelines_dir
from dlt.pipeline.trace import TRACE_FILE_NAME

from restsync_dagster.config.redaction import REDACTOR

log = logging.getLogger(__name__)


def mask_secrets(raw: bytes) -> bytes:
    """`raw` with every known secret spelling's UTF-8 bytes replaced by as many `*`."""
    spellings = sorted(REDACTOR.spellings(), key=len, reverse=True)
    if not spellings:
        return raw
    pattern = re.compile(b"|".join(re.escape(text.encode("utf-8")) for text in spellings))
    return pattern.sub(lambda match: b"*" * len(match.group(0)), raw)


def scrub_trace(pipeline_name: str, pipelines_dir: str | None = None) -> None:
    """Mask every known secret in the pipeline's trace file; remove the file if it no longer loads."""
    path = os.path.join(pipelines_dir or get_dlt_pipelines_dir(), pipeline_name, TRACE_FILE_NAME)
    if not os.path.isfile(path):
        return
    try:
        with open(path, "rb") as file:
            raw = file.read()
        cleaned = mask_secrets(raw)
        if cleaned == raw:
            return
        pickle.loads(cleaned)  # still a trace dlt (`dlt pipeline ... trace`) can read
        with open(path + ".tmp", "wb") as file:
            file.write(cleaned)
        os.replace(path + ".tmp", path)
    except Exception as exc:  # noqa: BLE001 - a trace that cannot be cleaned is not kept
        log.debug("removing dlt's trace %s, which could not be scrubbed: %s", path, type(exc).__name__)
        for leftover in (path, path + ".tmp"):
            if os.path.exists(leftover):
                os.remove(leftover)
