"""A config file that does not load still shows in the UI, next to the APIs that do.

Each broken file becomes one placeholder asset `[<file stem>, config_error]` in a group of that name:
its description lists every problem (file, resource, field) and materializing it fails with them.
Only logging the errors would leave the API silently missing from the UI.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from dagster import AssetKey, AssetsDefinition, asset

from restsync_dagster.config.errors import ConfigError, ConfigErrors

PLACEHOLDER = "config_error"


def group_name(source_file: str) -> str:
    """A Dagster group name from a config file name (`service-desk.yaml` -> `service_desk`)."""
    stem = re.sub(r"[^A-Za-z0-9_]", "_", Path(source_file).stem) or "config"  # Dagster takes ASCII only
    return stem if stem[0].isalpha() else f"config_{stem}"


def broken_config_assets(errors: list[ConfigError]) -> list[AssetsDefinition]:
    # by group, not by file: `x.yaml` and `x.yml` (or `a-b` and `a_b`) share one placeholder key
    by_group: dict[str, list[ConfigError]] = defaultdict(list)
    for error in errors:
        by_group[group_name(error.source_file)].append(error)
    return [_placeholder(name, problems) for name, problems in sorted(by_group.items())]


def _placeholder(name: str, problems: list[ConfigError]) -> AssetsDefinition:
    files = ", ".join(f"`{f}`" for f in sorted({problem.source_file for problem in problems}))
    description = "\n".join(
        [f"**This API's config does not load**, so none of its resources are assets. Fix {files}:", ""]
        + [f"- {problem}" for problem in problems]
        + ["", "Check with `restsync validate`, then reload the code location."]
    )

    @asset(key=AssetKey([name, PLACEHOLDER]), group_name=name, description=description, kinds={"restsync"})
    def config_error() -> None:
        raise ConfigErrors(problems)

    return config_error
