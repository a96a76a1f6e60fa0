"""Helpers the fault, bad-input, secret and incremental tests share: config variants, failure text,
metadata, a run that dies before its load."""

from __future__ import annotations

from typing import Any, Iterable

from dagster._core.execution.execution_result import ExecutionResult

from restsync_dagster.config.model import ApiConfig, ErrorHandling
from restsync_dagster.simulator import Simulator
from restsync_dagster_tests.support.helpers import table_rows

# fast retries for tests: the behaviour under test is which requests are sent, not how long it waits
QUICK = {"backoff_factor": 0.0, "max_retries": 3}


def with_handling(api: ApiConfig, **changes: Any) -> ApiConfig:
    """The API with its (and every resource's own) error handling changed."""
    resources = tuple(
        r.model_copy(update={"error_handling": r.error_handling.model_copy(update=changes)}) if r.error_handling else r
        for r in api.resources
    )
    return api.model_copy(update={"error_handling": api.error_handling.model_copy(update=changes), "resources": resources})


def with_resource(api: ApiConfig, name: str, **updates: Any) -> ApiConfig:
    """The API with one resource's fields replaced (e.g. error_handling, schema_contract)."""
    resources = tuple(r.model_copy(update=updates) if r.name == name else r for r in api.resources)
    return api.model_copy(update={"resources": resources})


def with_client(api: ApiConfig, **changes: Any) -> ApiConfig:
    """The API with client settings changed (e.g. read_ahead_pages)."""
    return api.model_copy(update={"client": api.client.model_copy(update=changes)})


def numbered_pages(records: int, per_page: int = 100) -> int:
    """Pages a page-number listing takes: those with records, then the empty one that ends it."""
    return -(-records // per_page) + 1


def resource_handling(api: ApiConfig, name: str, **changes: Any) -> ApiConfig:
    base = api.error_handling_for(api.resource(name))
    return with_resource(api, name, error_handling=ErrorHandling.model_validate({**base.model_dump(), **changes}))


def failure_text(result: ExecutionResult) -> str:
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert failures, "the run was expected to fail"
    return "\n".join(str(e.event_specific_data.error.to_string()) for e in failures)


def materialization_metadata(result: ExecutionResult, resource: str) -> dict[str, Any]:
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        if materialization.asset_key.path[-1] == resource:
            return {k: getattr(v, "value", v) for k, v in materialization.metadata.items()}
    raise AssertionError(f"no materialization of {resource}")


def log_for(sim: Simulator, api: str, resource: str) -> list[dict[str, Any]]:
    return [e for e in sim.request_log if e["api"] == api and e["resource"] == resource]


def statuses(sim: Simulator, api: str, resource: str) -> list[int]:
    return [e["status"] for e in log_for(sim, api, resource)]


def ids_of(rows: Iterable[tuple]) -> list[str]:
    return sorted(str(row[0]) for row in rows)


def served_ids(sim: Simulator, api: str, resource: str) -> list[str]:
    return sorted(str(r["id"]) for r in sim.records(api, resource))


def loaded_ids(api: str, resource: str) -> list[str]:
    return ids_of(table_rows(api, resource, "id"))


def assert_exact(sim: Simulator, api: str, resource: str) -> None:
    """The table holds exactly the records the simulator serves: none missing, none twice."""
    loaded = loaded_ids(api, resource)
    assert len(loaded) == len(set(loaded)), f"{api}.{resource}: duplicated rows"
    assert loaded == served_ids(sim, api, resource), f"{api}.{resource}: {len(loaded)} loaded, {len(served_ids(sim, api, resource))} served"


def die_before_load(api: ApiConfig, resources: set[str]) -> None:
    """What a run that extracts and normalizes, then dies before loading, leaves behind: its
    cursors (or delta links) moved only in the local state, a normalized package never loaded."""
    from restsync_dagster.extract.plan import resolve_plan
    from restsync_dagster.extract.source import build_source
    from restsync_dagster.load.destination import make_pipeline

    pipeline = make_pipeline(api.name)
    pipeline.sync_destination()
    pipeline.extract(build_source(resolve_plan(api), resources).source)
    pipeline.normalize()
    assert pipeline.list_normalized_load_packages()
