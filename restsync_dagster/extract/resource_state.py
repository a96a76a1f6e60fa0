"""Reading a resource's dlt state out of a pipeline's state, outside the resource's own run.

dlt gives a resource its state (`dlt.current.resource_state()`) only while it extracts; the runner,
the sensor and the asset metadata read it from the pipeline state after a load instead.
"""

from __future__ import annotations

from typing import Any, Mapping


def resource_state_of(pipeline_state: Mapping[str, Any], source_name: str, resource_name: str) -> Mapping[str, Any]:
    """The state dlt keeps for one resource of one source (empty when it never ran)."""
    return pipeline_state.get("sources", {}).get(source_name, {}).get("resources", {}).get(resource_name, {})
