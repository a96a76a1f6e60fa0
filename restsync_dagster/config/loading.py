"""Loading configs: one YAML file, a parsed dict, or a whole folder, into `model.ApiConfig`.

Owns the path from text to a validated model: bounded YAML reading, dlt shorthands and seed idioms
normalized (`dlt_dict`, `dialect`), `resource_defaults` merged the dlt way, and every problem
collected into one `ConfigErrors` naming file, resource and field (pydantic's own errors through
`pydantic_errors`, the checks across resources in `resource_graph`). A broken file in a folder is
reported and the others still load.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any, Optional

import yaml
from pydantic import ValidationError

from restsync_dagster.config.dialect import normalize
from restsync_dagster.config.dlt_dict import from_dlt
from restsync_dagster.config.errors import ConfigError, ConfigErrors
from restsync_dagster.config.model import ApiConfig, Resource
from restsync_dagster.config.pydantic_errors import config_errors
from restsync_dagster.config.resource_graph import graph_errors

_API_KEYS = set(ApiConfig.model_fields) - {"source_file"} | {"resource_defaults"}


def load_api_config(path: Path | str) -> ApiConfig:
    """Read, normalize and validate one YAML file; raise ConfigErrors listing every problem."""
    from restsync_dagster.config import (
        yaml_budget,  # size and alias bounds: a small file must not expand to GBs
    )

    path = Path(path)
    try:
        text = yaml_budget.read_config_text(path)
        # libyaml's loader when present: ~15x faster, it matters with hundreds of configs at load
        raw = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ConfigErrors([ConfigError(path, f"is not valid YAML{where}: {getattr(exc, 'problem', exc)}")]) from None
    except yaml_budget.ConfigTooLarge as exc:
        raise ConfigErrors([ConfigError(path, str(exc))]) from None
    except UnicodeDecodeError as exc:
        raise ConfigErrors([ConfigError(path, f"is not UTF-8 text (byte {exc.start})")]) from None
    except OSError as exc:
        raise ConfigErrors([ConfigError(path, f"cannot be read: {exc.strerror}")]) from None
    expanded = yaml_budget.over_budget(raw)  # before any walk that would expand its aliases
    if expanded:
        raise ConfigErrors([ConfigError(path, expanded)])
    return parse_api_config(raw, source_file=path, default_name=path.stem)


def parse_api_config(raw: Any, source_file: Optional[Path | str] = None, default_name: Optional[str] = None) -> ApiConfig:
    """Validate a config dict (YAML already parsed); seed idioms are normalized first."""
    if not isinstance(raw, dict):
        raise ConfigErrors([ConfigError(source_file, "must be a mapping with 'client' and 'resources'")])
    errors: list[ConfigError] = []
    raw = normalize(from_dlt(raw), source_file=source_file, errors=errors)  # dlt shorthands, then seed idioms
    raw.setdefault("name", default_name)
    for key in sorted(set(raw) - _API_KEYS):
        errors.append(ConfigError(source_file, f"unknown key (known: {', '.join(sorted(_API_KEYS))})", field=key))

    defaults = raw.get("resource_defaults") or {}
    resources = _validate_resources(raw.get("resources"), defaults, source_file, errors)
    api_fields = {k: v for k, v in raw.items() if k in _API_KEYS and k not in ("resources", "resource_defaults")}
    try:
        api = ApiConfig.model_validate({**api_fields, "resources": [], "source_file": str(source_file) if source_file else None})
    except ValidationError as exc:
        errors.extend(config_errors(exc, source_file, resource=None))
        api = None
    errors.extend(graph_errors(resources, source_file))
    if errors:
        raise ConfigErrors(errors)
    assert api is not None
    return api.model_copy(update={"resources": tuple(resources)})


def _validate_resources(
    raw_resources: Any, defaults: dict[str, Any], source_file: Any, errors: list[ConfigError]
) -> list[Resource]:
    if not isinstance(raw_resources, list) or not raw_resources:
        errors.append(ConfigError(source_file, "must list at least one resource", field="resources"))
        return []
    resources: list[Resource] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_resources):
        name = raw.get("name") if isinstance(raw, dict) else None
        label = name or f"#{index + 1}"
        if not isinstance(raw, dict):
            errors.append(ConfigError(source_file, "must be a mapping with 'name' and 'endpoint'", resource=label))
            continue
        if name in seen:
            errors.append(ConfigError(source_file, "duplicate resource name", resource=label, field="name"))
            continue
        seen.add(name)
        try:
            resources.append(Resource.model_validate(merge_defaults(defaults, raw)))
        except ValidationError as exc:
            errors.extend(config_errors(exc, source_file, resource=label))
    return resources


def merge_defaults(defaults: dict[str, Any], resource: dict[str, Any]) -> dict[str, Any]:
    """dlt's resource_defaults semantics: deep merge, except a resource's paginator replaces the default's."""
    merged = copy.deepcopy(defaults)
    for key, value in resource.items():
        if key == "endpoint" and isinstance(value, dict) and isinstance(merged.get("endpoint"), dict):
            endpoint = merged["endpoint"]
            for ekey, evalue in value.items():
                if isinstance(evalue, dict) and isinstance(endpoint.get(ekey), dict) and ekey != "paginator":
                    endpoint[ekey] = {**endpoint[ekey], **evalue}
                else:
                    endpoint[ekey] = evalue
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


CONFIGS_ENV = "RESTSYNC_CONFIGS_DIR"


def configs_dir() -> Path:
    """The folder of API configs: $RESTSYNC_CONFIGS_DIR, else `configs/` beside the package or in the cwd."""
    if os.environ.get(CONFIGS_ENV):
        return Path(os.environ[CONFIGS_ENV])
    beside_package = Path(__file__).resolve().parents[2] / "configs"
    return beside_package if beside_package.is_dir() else Path.cwd() / "configs"


def load_config_dir(configs_dir: Path | str) -> tuple[list[ApiConfig], list[ConfigError]]:
    """Load every `*.yaml` in a folder; a broken file is reported and the others still load."""
    apis: list[ApiConfig] = []
    errors: list[ConfigError] = []
    names: dict[str, str] = {}
    for path in sorted(Path(configs_dir).glob("*.y*ml")):
        try:
            api = load_api_config(path)
        except ConfigErrors as exc:
            errors.extend(exc.errors)
            continue
        if api.name in names:
            errors.append(ConfigError(path, f"API name '{api.name}' is already used by {names[api.name]}", field="name"))
            continue
        names[api.name] = str(path)
        apis.append(api)
    return apis, errors
