"""A `DeclarativeStream` -> a restsync resource: its `HttpRequester` (path, request_parameters,
request_headers), record selector (`DpathExtractor.field_path` -> data_selector), primary key, and
the constructs mapped in their own modules (paginator, partition router, incremental sync).

A new stream-level construct gets its own module with a `map_<construct>(context, stream, ...)`
function, called from `map_stream`.
"""

from __future__ import annotations

from typing import Any

from restsync_dagster.config.airbyte.context import ImportContext
from restsync_dagster.config.airbyte.incremental import map_incremental
from restsync_dagster.config.airbyte.manifest import has_jinja, placeholders, split_url
from restsync_dagster.config.airbyte.paginator import map_paginator
from restsync_dagster.config.airbyte.partition_router import map_partition_router


def map_stream(context: ImportContext, stream: dict[str, Any], requester: dict[str, Any]) -> dict[str, Any]:
    """The resource of one stream: endpoint, data selector, paginator, parent, primary key, incremental."""
    name = str(stream.get("name"))
    retriever = stream.get("retriever", {})
    path = requester.get("path") or split_url(requester.get("url"))[1] or "/"
    endpoint: dict[str, Any] = {"path": "/" + str(path).lstrip("/")}
    if requester.get("http_method", "GET").upper() != "GET":
        context.note(name, f"http_method {requester['http_method']} (restsync reads with GET)")
    for key in ("request_body_json", "request_body_data"):
        if requester.get(key):
            context.note(name, f"requester.{key}")
    params = request_values(context, name, "request_parameters", requester.get("request_parameters"))
    headers = request_values(context, name, "request_headers", requester.get("request_headers"))
    selector = retriever.get("record_selector", {})
    extractor = selector.get("extractor", {})
    field_path = extractor.get("field_path") or []
    if field_path:
        endpoint["data_selector"] = ".".join(str(p) for p in field_path)
    if selector.get("record_filter"):
        context.note(name, "record_selector.record_filter")
    paginator, page_params = map_paginator(context, name, retriever.get("paginator"))
    params.update(page_params)
    if params:
        endpoint["params"] = params
    if headers:
        endpoint["headers"] = headers
    if paginator:
        endpoint["paginator"] = paginator
    columns = map_partition_router(context, name, retriever.get("partition_router"), endpoint, stream.get("transformations") or [])
    resource: dict[str, Any] = {"name": name, "endpoint": endpoint}
    primary_key = stream.get("primary_key")
    if isinstance(primary_key, list):
        flat = [columns.get(str(k[0] if isinstance(k, list) else k), str(k[0] if isinstance(k, list) else k)) for k in primary_key]
        resource["primary_key"] = flat[0] if len(flat) == 1 else flat
    elif primary_key:
        resource["primary_key"] = columns.get(str(primary_key), str(primary_key))
    else:
        context.note(name, "no primary_key: the resource is appended instead of merged")
        resource["write_disposition"] = "append"
    incremental = map_incremental(context, name, stream.get("incremental_sync"))
    if incremental:
        resource["incremental"] = incremental
    for key in ("state_migrations", "file_uploader"):  # schema_loader: dlt infers the schema itself
        if key in stream:
            context.note(name, key)
    return resource


def request_values(context: ImportContext, stream: str, where: str, values: Any) -> dict[str, Any]:
    """A requester's parameters or headers with `{{ config }}` templates as placeholders; other templates noted."""
    if not values:
        return {}
    if not isinstance(values, dict):
        context.note(stream, f"requester.{where} is not a mapping")
        return {}
    result = {}
    for key, value in values.items():
        value = placeholders(value, secret=False, secret_keys=context.spec_secrets)
        if has_jinja(value):
            context.note(stream, f"requester.{where}.{key}: '{value}' (a template restsync cannot evaluate)")
            continue
        result[str(key)] = value
    return result
