"""The asset factory: one dagster-dlt multi-asset per API, one asset per resource.

Asset key `[<api>, <resource>]`, group `<api>`, kinds `dlt` + the destination, a description
from the config, a code reference to the YAML, and for a child a dependency on its parent's asset
(dagster-dlt's default translator points a transformer at an external key instead).
"""

import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSpec,
    AutomationCondition,
    MaterializeResult,
)
from dagster._core.definitions.metadata.source_code import (
    CodeReferencesMetadataSet,
    CodeReferencesMetadataValue,
    LocalFileCodeReference,
)
from dagster_dlt import DagsterDltResource, DagsterDltTranslator, dlt_assets
from dagster_dlt.translator import DltResourceTranslatorData

from restsync_dagster.config.model import ApiConfig, Resource
from restsync_dagster.extract.source import shape_source
from restsync_dagster.load.destination import definition_pipeline, destination_kind
from restsync_dagster.load.table_identity import table_identity
from restsync_dagster.orchestration.pools import pool_of
from restsync_dagster.orchestration.runner import RunOptions, run_api


def asset_key(api: str, resource: str) -> AssetKey:
    return AssetKey([api, resource])


def describe(api: ApiConfig, resource: Resource) -> str:
    """What a user needs to know in the UI: where the data comes from and how it is paged."""
    endpoint = resource.endpoint
    paginator = endpoint.paginator.type if endpoint.paginator else "single page"
    lines = [
        resource.description or f"`{resource.name}` of the {api.name} API.",
        "",
        f"- path: `{endpoint.path}`",
        f"- paginator: {paginator}" + (f", data at `{endpoint.data_selector}`" if endpoint.data_selector else ""),
        f"- primary key: {', '.join(resource.primary_key_columns)} ({resource.write_disposition})",
    ]
    if resource.parent:
        lines.append(f"- one request per `{resource.parent}` record (parent asset `{api.name}/{resource.parent}`)")
    if resource.incremental:
        lines.append(f"- incremental on `{' | '.join(resource.incremental.cursor_paths)}` via `?{resource.incremental.param}=`")
    if resource.delta:
        lines.append(f"- delta query from `{resource.delta.path}`: each run reads only changes and deletions")
    if api.source_file:
        lines.append(f"- config: `{Path(api.source_file).name}`")
    return "\n".join(lines)


def _line_of(source_file: Optional[str], resource: str) -> int:
    if not source_file or not Path(source_file).exists():
        return 1
    pattern = re.compile(rf"^\s*-?\s*name:\s*['\"]?{re.escape(resource)}['\"]?\s*$")
    for number, line in enumerate(Path(source_file).read_text(encoding="utf-8").splitlines(), start=1):
        if pattern.match(line):
            return number
    return 1


def _code_reference(api: ApiConfig, resource: Resource) -> CodeReferencesMetadataSet:
    """Link the asset to its resource's lines in the YAML (shown in the UI's asset page)."""
    assert api.source_file is not None
    return CodeReferencesMetadataSet(
        code_references=CodeReferencesMetadataValue(
            code_references=[
                LocalFileCodeReference(
                    file_path=str(Path(api.source_file).resolve()),
                    line_number=_line_of(api.source_file, resource.name),
                    label=f"{Path(api.source_file).name}: {resource.name}",
                )
            ]
        )
    )


@dataclass
class RestsyncTranslator(DagsterDltTranslator):
    """Maps each dlt resource of an API to its asset spec, from the API's config."""

    api: Optional[ApiConfig] = None

    def get_asset_spec(self, data: DltResourceTranslatorData) -> AssetSpec:
        assert self.api is not None
        api = self.api
        resource = api.resource(data.resource.name)
        default = super().get_asset_spec(data)
        metadata: dict[str, Any] = dict(default.metadata)
        if api.source_file:
            with warnings.catch_warnings():  # code references are beta in dagster 1.13; the UI shows them well
                warnings.simplefilter("ignore")
                metadata.update(_code_reference(api, resource))
        metadata.update(table_identity(api.name, resource.name))
        metadata["restsync/path"] = resource.endpoint.path
        metadata["restsync/primary_key"] = ", ".join(resource.primary_key_columns)
        return default.replace_attributes(
            key=asset_key(api.name, resource.name),
            deps=[asset_key(api.name, resource.parent)] if resource.parent else [],
            # children follow parents: a parent materialized without its children requests them
            automation_condition=AutomationCondition.eager() if resource.parent else None,
            group_name=api.name,
            description=describe(api, resource),
            kinds={"dlt", destination_kind()},
            owners=list(resource.owners),
            tags={"restsync/api": api.name, **resource.tags},
            metadata=metadata,
        )


def build_api_assets(api: ApiConfig) -> AssetsDefinition:
    """The multi-asset of one API; every run builds its own dlt source from the config."""
    translator = RestsyncTranslator(api=api)

    @dlt_assets(
        dlt_source=shape_source(api),
        dlt_pipeline=definition_pipeline(api.name),
        name=f"{api.name}_dlt",
        dagster_dlt_translator=translator,
        pool=pool_of(api.name),
    )
    def api_assets(context: AssetExecutionContext, dlt: DagsterDltResource, config: RunOptions) -> Any:
        for event in run_api(context, dlt, api, translator, config):
            yield _identified(event, api.name)

    return api_assets


def _identified(event: Any, api_name: str) -> Any:
    """A materialization names its table as the asset spec does (dagster-dlt writes `duckdb.<dataset>.<table>`)."""
    if not isinstance(event, MaterializeResult) or event.asset_key is None:
        return event
    metadata = {**(event.metadata or {}), **table_identity(api_name, event.asset_key.path[-1])}
    return MaterializeResult(asset_key=event.asset_key, metadata=metadata, check_results=event.check_results, data_version=event.data_version, tags=event.tags)
