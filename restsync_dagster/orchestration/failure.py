"""How a failed run of an API leaves its op: one short, redacted paragraph per failed resource.

Dagster stores the exception an op raises, with its chained causes and their messages, in the
event log, the run storage and the compute logs, and shows it whole in the UI and the terminal
(some 250 lines for one refused request, the useful line in the middle). So the op raises a
`RunFailure` (a Dagster `Failure`, which Dagster records as is), built from redacted messages and
raised `from None`: no cause that carries a secret is serialized. The full traceback, redacted,
goes to the run's debug log.
"""

from __future__ import annotations

import traceback
from typing import Iterable, Iterator, Mapping, Optional

from dagster import Failure

from restsync_dagster.config.errors import RestsyncError
from restsync_dagster.config.model import ApiConfig
from restsync_dagster.config.redaction import redact

SUMMARY_LIMIT = 500
DEBUG_HINT = "the run's debug log has the traceback (restsync run --verbose shows it)"


class RunFailure(Failure, RestsyncError):
    """The op's failure: what failed and what to do, redacted, without chained causes."""


def causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception and its causes (explicit or implicit), outermost first."""
    seen: set[int] = set()
    current: Optional[BaseException] = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def exc_summary(exc: BaseException) -> str:
    """The innermost meaningful message, redacted: ours when we raised it (it says what to do), else
    the deepest cause with its type and a pointer to the traceback."""
    chain = list(causes(exc))
    ours = [c for c in chain if isinstance(c, RestsyncError)]
    if ours:
        text = str(ours[0])
    else:
        text = f"{type(chain[-1]).__name__}: {chain[-1]}"
    first = redact(text).strip().splitlines()[0] if text.strip() else type(chain[-1]).__name__
    first = first[:SUMMARY_LIMIT]
    return first if ours else f"{first} ({DEBUG_HINT})"


def debug_traceback(exc: BaseException) -> str:
    """The whole traceback with its causes, redacted, for the run's debug log."""
    return redact("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))


def resources_failed(api: ApiConfig, failed: Mapping[str, BaseException], skipped: Iterable[str], selected: int) -> RunFailure:
    """Resources that failed (one paragraph each) and the children not run because of them."""
    where = str(api.source_file or api.name)
    not_run = sorted(skipped)
    loaded = selected - len(failed) - len(not_run)
    lines = [
        f"{where}: {len(failed)} of {selected} resource(s) of API '{api.name}' failed"
        + (f"; the other {loaded} were loaded." if loaded else ".")
    ]
    for name, error in sorted(failed.items()):
        summary = exc_summary(error)
        lines.append(f"  - {summary}" if f"resource '{name}'" in summary else f"  - resource '{name}': {summary}")
    if not_run:
        lines.append(f"  - not run, as their parent failed: {', '.join(not_run)}")
    return RunFailure(
        description="\n".join(lines),
        metadata={"config_file": where, "failed_resources": ", ".join(sorted(failed)), "not_run": ", ".join(not_run)},
        allow_retries=False,
    )


def run_failed(api: ApiConfig, exc: BaseException) -> RunFailure:
    """A failure no single resource is blamed for (e.g. a setting of the client)."""
    if isinstance(exc, RunFailure):
        return exc
    summary = exc_summary(exc)
    where = str(api.source_file or api.name)
    named = f"API '{api.name}'" in summary  # a request error names its API and resource itself
    text = summary if summary.startswith(where) else f"{where}: {summary}" if named else f"{where}: API '{api.name}': {summary}"
    return RunFailure(description=text, metadata={"config_file": where}, allow_retries=False)
