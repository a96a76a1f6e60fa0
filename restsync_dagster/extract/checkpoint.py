"""Checkpoints of a long top-level listing: where it stands, committed with the rows read so far.

dlt commits a resource's state only with a load, at the end of a run: a first load of hours killed
near its end starts again from the first page. So a listing (extract/listing.py) stops its
extraction every `error_handling.checkpoint_pages` pages (or `checkpoint_records` records) and
leaves in its dlt resource state, under `checkpoint`, where it stands: the paginator's next page
(ListingRequests.next_reference: page number, offset, cursor token or next link) and its cursor
run so far (the newest cursor value read, the counts behind the run's observations). The runner
(orchestration/runner.py) loads that part, rows and state in one load package, so the checkpoint
is in the destination exactly when its rows are, and extracts again: the listing resumes at the
saved page. When the listing ends the checkpoint is removed and the cursor moves as it would have
in one go (newest value of every part). A run killed between two checkpoints resumes at the last
one: at most one interval of pages is requested again, merged on the primary key.

A checkpoint is used only for the same listing: same path, query (the filter value sent included),
paginator and selector (`fingerprint`), and only if younger than `checkpoint_max_age_hours` (a
cursor token or a listing's order does not last forever); otherwise the listing starts over,
saying why. A checkpoint that would hold a secret (a next link echoing an api key) is not written.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any, Mapping, MutableMapping, Optional

from restsync_dagster.config.redaction import REDACTOR

CHECKPOINT_KEY = "checkpoint"
VERSION = 1


def fingerprint(path: str, query: Mapping[str, Any], resource_config: Any) -> str:
    """What a checkpoint is valid for: the listing's path, its query and the resource's endpoint config."""
    payload = json.dumps({"path": path, "query": query, "config": resource_config}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def saved_checkpoint(resource_state: Mapping[str, Any]) -> Optional[Mapping[str, Any]]:
    value = resource_state.get(CHECKPOINT_KEY)
    return value if isinstance(value, Mapping) else None


def usable(checkpoint: Mapping[str, Any], expected: str, max_age_hours: float, run_id: str, now: Optional[float] = None) -> Optional[str]:
    """Why the checkpoint cannot be resumed from (None: it can). The age bounds only a checkpoint of
    another run: the parts of one run follow each other whatever the bound."""
    if checkpoint.get("version") != VERSION:
        return f"it was written by another version of restsync ({checkpoint.get('version')!r})"
    if checkpoint.get("fingerprint") != expected:
        return "it was made for another query or config of the listing (path, parameters, filter value, paginator)"
    if checkpoint.get("run_id") == run_id:
        return None
    age = (now if now is not None else time.time()) - float(checkpoint.get("saved_at") or 0)
    if age > max_age_hours * 3600:
        return f"it is {age / 3600:.1f} h old, older than error_handling.checkpoint_max_age_hours ({max_age_hours:g})"
    return None


def make_checkpoint(fingerprint_: str, run_id: str, reference: Mapping[str, Any], pages: int, records: int, cursor: Optional[Mapping[str, Any]]) -> Optional[dict[str, Any]]:
    """The checkpoint to store, or None when it would carry a secret (a next link echoing a key)."""
    checkpoint = {
        "version": VERSION,
        "fingerprint": fingerprint_,
        "run_id": run_id,
        "saved_at": time.time(),
        "pages": pages,
        "records": records,
        "next": dict(reference),
        "cursor": dict(cursor) if cursor is not None else None,
    }
    text = json.dumps(checkpoint, default=str)
    if REDACTOR.redact(text) != text:
        return None
    return checkpoint


def clear(resource_state: MutableMapping[str, Any]) -> None:
    resource_state.pop(CHECKPOINT_KEY, None)
