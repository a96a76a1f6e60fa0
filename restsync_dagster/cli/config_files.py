"""The configs a command reads: the YAML files and folders given on its command line, else the configs folder.

Shared by validate, list, run, probe and the demo; a broken file is reported beside the ones that load.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from restsync_dagster.config.errors import ConfigError, ConfigErrors
from restsync_dagster.config.loading import configs_dir, load_api_config, load_config_dir
from restsync_dagster.config.model import ApiConfig


def load_configs(paths: Sequence[str]) -> tuple[list[ApiConfig], list[ConfigError]]:
    """The APIs that loaded and the errors of those that did not (no paths: the configs folder)."""
    if not paths:
        return load_config_dir(configs_dir())
    apis: list[ApiConfig] = []
    errors: list[ConfigError] = []
    for path in paths:
        if Path(path).is_dir():
            found, problems = load_config_dir(path)
            apis += found
            errors += problems
            continue
        try:
            apis.append(load_api_config(path))
        except ConfigErrors as exc:
            errors += exc.errors
    return apis, errors
