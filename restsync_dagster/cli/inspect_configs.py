"""`restsync validate` and `restsync list`: what the configs say, read without sending a request.

Both print every broken config as an error line and exit 2 when there is one.
"""

from __future__ import annotations

import argparse
import sys

from restsync_dagster.cli.config_files import load_configs
from restsync_dagster.cli.exit_codes import EXIT_OK, EXIT_USAGE


def cmd_validate(args: argparse.Namespace) -> int:
    apis, errors = load_configs(args.configs)
    for api in apis:
        print(f"ok     {api.source_file}: {api.name}, {len(api.resources)} resources")
    for error in errors:
        print(f"error  {error}", file=sys.stderr)
    return EXIT_USAGE if errors else EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    apis, errors = load_configs(args.configs)
    for api in apis:
        print(f"{api.name}  ({api.source_file})  base_url={api.client.base_url}")
        schedule = api.schedule
        print(
            f"  schedule {api.name}_schedule: '{schedule.cron}' {schedule.timezone}"
            f" ({'running' if schedule.enabled else 'stopped'} by default)"
        )
        if any(r.tracks_changes and r.parent is None for r in api.resources):
            print(
                f"  sensor   {api.name}_changes: probes incremental and delta resources every {api.sensor.minimum_interval_seconds}s"
                f" ({'running' if api.sensor.enabled else 'stopped'} by default)"
            )
        for resource in api.resources:
            extra = []
            if resource.parent:
                extra.append(f"parent={resource.parent}")
            if resource.incremental:
                extra.append(f"incremental={'|'.join(resource.incremental.cursor_paths)} via ?{resource.incremental.param}=")
            if resource.delta:
                extra.append(f"delta from {resource.delta.path}")
            print(f"  - {resource.name:28} {resource.endpoint.path}  {' '.join(extra)}".rstrip())
    for error in errors:
        print(f"error  {error}", file=sys.stderr)
    return EXIT_USAGE if errors else EXIT_OK
