"""Layer 1, config: what the user wrote, read and checked, before any request is sent.

Owns the YAML model (`model`, its sub-models `auth_config`, `paginator_config`, `change_tracking`
on `strict_model`; a resource's history windows: `backfill_config`), loading files and folders with located errors (`loading`, `pydantic_errors`,
`resource_graph`), the seed dialect and pasted dlt dicts (`dialect`, `dlt_dict`), settings and
secrets (`settings`, `redaction`), errors that name file, resource and field (`errors`), cursor
values as the user and the APIs write them (`cursor_values`), the YAML bounds, the skeleton and the
Airbyte import (`airbyte/`). Imports nothing else of restsync_dagster: every other layer may import it.
"""
