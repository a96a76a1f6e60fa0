"""Dagster definitions for every API config in the configs folder.

`RESTSYNC_CONFIGS_DIR` points at another folder. A broken config file is logged with every
problem it has and left out, so the other APIs keep loading in the UI.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

from dagster import Definitions
from dagster_dlt import DagsterDltResource

from restsync_dagster.config.errors import ConfigError
from restsync_dagster.config.loading import configs_dir, load_config_dir
from restsync_dagster.config.model import ApiConfig
from restsync_dagster.config.settings import warn_plaintext_secrets
from restsync_dagster.orchestration.assets import build_api_assets
from restsync_dagster.orchestration.automation import (
    api_job,
    api_schedule,
    change_sensor,
    children_follow_parents_sensor,
    full_refresh_schedules,
)
from restsync_dagster.orchestration.broken import broken_config_assets
from restsync_dagster.orchestration.checks import (
    freshness_checks,
    freshness_sensor,
    table_checks,
)
from restsync_dagster.orchestration.history import build_history_assets

log = logging.getLogger("restsync_dagster")

def build_definitions(apis: list[ApiConfig], errors: Sequence[ConfigError] = ()) -> Definitions:
    jobs, schedules, sensors, checks, fresh = [], [], [], [], []
    for api in apis:
        warn_plaintext_secrets(api)
        job = api_job(api)
        jobs.append(job)
        schedules.append(api_schedule(api, job))
        schedules.extend(full_refresh_schedules(api))
        sensor = change_sensor(api, job)
        if sensor is not None:
            sensors.append(sensor)
        checks.append(table_checks(api))
        fresh.extend(freshness_checks(api))
    freshness = freshness_sensor(fresh)
    if freshness is not None:
        sensors.append(freshness)
    follow = children_follow_parents_sensor(apis)
    if follow is not None:
        sensors.append(follow)
    return Definitions(
        # the live multi-asset of each API, then the partitioned history of its backfilled resources
        assets=[*(build_api_assets(api) for api in apis), *(h for api in apis for h in build_history_assets(api)), *broken_config_assets(list(errors))],
        asset_checks=[*checks, *fresh],
        jobs=jobs,
        schedules=schedules,
        sensors=sensors,
        resources={"dlt": DagsterDltResource()},
    )


def load_definitions(folder: Path | None = None) -> Definitions:
    apis, errors = load_config_dir(folder or configs_dir())
    for error in errors:
        log.error("config left out: %s", error)
    return build_definitions(apis, errors)


defs = load_definitions()
