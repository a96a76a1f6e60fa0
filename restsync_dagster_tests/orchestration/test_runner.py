"""Which resource a failed dlt job belongs to: the one whose phase is run again without it."""

from __future__ import annotations

from dlt.load.exceptions import LoadClientJobFailed
from dlt.normalize.exceptions import NormalizeJobFailed

from restsync_dagster.orchestration.runner import failed_resource

NAMES = {"tickets", "tickets_archive", "roles"}


def _normalize_failed(job_table: str) -> NormalizeJobFailed:
    return NormalizeJobFailed("1732540000.1", f"{job_table}.a1b2c3.0.typed-jsonl", "contract violated", [])


def test_a_job_of_a_resource_table_names_that_resource() -> None:
    assert failed_resource(_normalize_failed("roles"), NAMES) == "roles"


def test_a_job_of_a_nested_table_names_the_resource_it_was_unnested_from() -> None:
    assert failed_resource(_normalize_failed("tickets__tags"), NAMES) == "tickets"
    assert failed_resource(_normalize_failed("tickets_archive__tags"), NAMES) == "tickets_archive"
    failed_load = LoadClientJobFailed("1732540000.1", "tickets__custom_fields.d4e5.0.parquet", "conversion error", ValueError("x"))
    try:
        raise RuntimeError("load step failed") from failed_load
    except RuntimeError as wrapped:
        assert failed_resource(wrapped, NAMES) == "tickets"


def test_a_table_of_no_selected_resource_names_none() -> None:
    assert failed_resource(_normalize_failed("contacts__tags"), NAMES) is None
    assert failed_resource(_normalize_failed("ticketsx"), NAMES) is None
    assert failed_resource(ValueError("no job here"), NAMES) is None


def test_a_failed_resource_does_not_make_the_others_of_its_phase_fetched_again(sim_env) -> None:  # type: ignore[no-untyped-def]
    """The phase is extracted again without the culprit (it must load nothing); the others' pages come
    from the answers already fetched: every URL of theirs reached the API once."""
    from collections import Counter

    from restsync_dagster_tests.support.faults_helpers import failure_text
    from restsync_dagster_tests.support.helpers import run_assets, shipped, table_rows

    api = shipped("service_desk")
    top_level = [r.name for r in api.resources if r.parent is None]
    sim_env.inject_fault("service_desk", "status", "groups", count=-1, status=403)  # not retried, not ignored
    result = run_assets(api, top_level, raise_on_error=False)
    assert "resource 'groups'" in failure_text(result)
    asked = Counter(
        (e["path"], tuple(sorted(e["query"].items()))) for e in sim_env.request_log if e["resource"] not in ("groups", None)
    )
    assert asked and max(asked.values()) == 1, [key for key, count in asked.items() if count > 1][:5]
    assert len(table_rows("service_desk", "tickets")) == len(sim_env.records("service_desk", "tickets"))
