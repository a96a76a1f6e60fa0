"""The Airbyte import (`restsync import-airbyte`): a low-code (declarative) manifest -> a restsync config.

`importer` is the entry (`import_file`, `import_manifest`); `manifest` reads the manifest the CDK
way ($ref, $parameters, the Jinja restsync can translate). Each Airbyte construct is mapped in its
own module, a `map_<construct>(context, ...)` function taking the shared `context.ImportContext`:
`client` and `auth`, `error_handler`, `stream` (the requester and record selector) with `paginator`,
`partition_router` and `incremental`; `defaults` factors what the resources share into
resource_defaults, and `report.Imported` carries the config and every construct left unmapped.
A new construct mapper goes in a module of its own here, called from `stream` (stream-level
constructs) or `importer` (manifest-level ones). Part of layer 1 (config): imports only `config`.
"""
