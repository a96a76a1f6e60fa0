"""The configs a command reads: the YAML files and folders given on its command line, else the configs folder.

Shared by validate, list, run, probe and the demo; a broken file is reported beside the ones that load.
"""

from __future__ import annotations

from pathlib import Path
import sys
from typing import Optional, Sequence

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


def load_named_api(paths: Sequence[str], name: str) -> Optional[ApiConfig]:
    """The API a command names, the other files' errors printed; None (said why) when it is not there."""
    apis, errors = load_configs(paths)
    for error in errors:
        print(f"error  {error}", file=sys.stderr)
    api = next((a for a in apis if a.name == name), None)
    if api is None:
        print(f"error  no API named '{name}' (known: {', '.join(a.name for a in apis)})", file=sys.stderr)
    return api
