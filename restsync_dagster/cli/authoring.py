"""`restsync new` and `restsync import-airbyte`: writing a new config, from a skeleton or from an
Airbyte manifest (checked by the same validation as any config before it is written).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from restsync_dagster.cli.exit_codes import EXIT_OK, EXIT_USAGE
from restsync_dagster.config.errors import ConfigErrors
from restsync_dagster.config.loading import configs_dir


def cmd_new(args: argparse.Namespace) -> int:
    from restsync_dagster.config.skeleton import write_skeleton

    folder = Path(args.dir) if args.dir else configs_dir()
    try:
        path = write_skeleton(args.api_name, folder)
    except FileExistsError as exc:
        print(f"error  {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"wrote  {path}\nnext   edit base_url, auth and resources, then: restsync validate {path}")
    return EXIT_OK


def cmd_import_airbyte(args: argparse.Namespace) -> int:
    from restsync_dagster.config.airbyte.importer import api_name, import_file
    from restsync_dagster.config.loading import parse_api_config

    output = Path(args.output) if args.output else None
    name = args.name or (api_name(output.stem) if output else None)  # `-o zoho-desk.yaml` -> `zoho_desk`
    from restsync_dagster.config.errors import RestsyncError

    try:
        imported = import_file(args.manifest, name=name)
    except RestsyncError as exc:
        print(f"error  {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        parse_api_config(imported.config, source_file=output or args.manifest)
    except ConfigErrors as exc:
        for error in exc.errors:
            print(f"error  imported config: {error}", file=sys.stderr)
        return EXIT_USAGE
    text = imported.to_yaml(Path(args.manifest).name)
    if output is None:
        sys.stdout.write(text)
    elif output.exists() and not args.force:
        print(f"error  {output} already exists; not overwriting it (use --force)", file=sys.stderr)
        return EXIT_USAGE
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
        print(f"wrote  {output}: {len(imported.config['resources'])} resources", file=sys.stderr)
    groups = imported.groups  # a line shared by several streams once, naming them
    for group in groups:
        label = "approx" if group.kind == "approximate" else "unmapped"
        print(f"{label}  {str(group).replace('approximate: ', '', 1) if label == 'approx' else group}", file=sys.stderr)
    approximate = sum(1 for group in groups if group.kind == "approximate")
    if approximate == len(groups):
        print("every component was mapped" + (f" ({approximate} approximately)" if approximate else ""), file=sys.stderr)
    for line in imported.summary_lines():
        print(f"summary  {line}", file=sys.stderr)
    return EXIT_OK
