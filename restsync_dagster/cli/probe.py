"""`restsync probe`: the config's assumptions checked against the API, read-only (`extract.probe` does
the requests; this prints its findings as text or JSON and picks the exit code).
"""

from __future__ import annotations

import argparse
import json
import sys

from restsync_dagster.cli.config_files import load_configs
from restsync_dagster.cli.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from restsync_dagster.config.errors import MissingSettingError, RestsyncError


def cmd_probe(args: argparse.Namespace) -> int:
    """Read-only: a few requests per resource with the user's real settings; what held and what to change."""
    from restsync_dagster.extract.probe import as_json, as_text, probe_api

    apis, errors = load_configs(args.configs)
    api = next((a for a in apis if a.name == args.api), None)
    if api is None:
        for error in errors:
            print(f"error  {error}", file=sys.stderr)
        print(f"error  no API named '{args.api}' (known: {', '.join(a.name for a in apis)})", file=sys.stderr)
        return EXIT_USAGE
    try:
        reports = probe_api(api, args.resource or (), max_requests=args.max_requests)
    except RestsyncError as exc:
        print(f"error  {exc}", file=sys.stderr)
        return EXIT_USAGE if isinstance(exc, MissingSettingError) or "has no resource" in str(exc) else EXIT_FAILED
    if args.json:
        print(json.dumps(as_json(reports), indent=2))
    else:
        for line in as_text(api, reports):
            print(line)
    return EXIT_OK if all(report.passed for report in reports) else EXIT_FAILED
