"""`restsync`: the command line parser and the entry point (`main`, the `restsync` script).

Each command's implementation lives in its own module: `inspect_configs` (validate, list), `run`,
`backfill`, `probe`, `authoring` (new, import-airbyte), `demo` (simulate, demo); exit codes in `exit_codes`.
"""

from __future__ import annotations

import argparse
import signal
import sys
from typing import Optional, Sequence

from restsync_dagster.cli.authoring import cmd_import_airbyte, cmd_new
from restsync_dagster.cli.backfill import cmd_backfill
from restsync_dagster.cli.demo import cmd_demo, cmd_simulate
from restsync_dagster.cli.exit_codes import EXIT_FAILED, EXIT_USAGE
from restsync_dagster.cli.inspect_configs import cmd_list, cmd_validate
from restsync_dagster.cli.probe import cmd_probe
from restsync_dagster.cli.run import cmd_run
from restsync_dagster.config.errors import ConfigErrors, RestsyncError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="restsync", description="REST APIs as Dagster assets, loaded by dlt.")
    sub = parser.add_subparsers(dest="command", required=True)

    validate = sub.add_parser("validate", help="check config files; every error at once, with file, resource and field")
    validate.add_argument("configs", nargs="*", help="YAML files or folders (default: the configs folder)")
    validate.set_defaults(func=cmd_validate)

    listing = sub.add_parser("list", help="APIs, resources, parents, incremental settings, schedules and sensors")
    listing.add_argument("configs", nargs="*", help="YAML files or folders (default: the configs folder)")
    listing.set_defaults(func=cmd_list)

    run = sub.add_parser(
        "run",
        help="materialize one API's assets now, through Dagster (with its asset checks)",
        description="One run in this process; exit 0 when it succeeded, 1 when it failed, 2 on a usage or config error. "
        "On a terminal a progress line shows resources done, pages, records and rate; otherwise it prints one line per asset.",
    )
    run.add_argument("api", help="the API's name (restsync list shows them)")
    run.add_argument("--select", nargs="+", metavar="RESOURCE", help="only these resources")
    run.add_argument("--full-refresh", action="store_true", help="reload from scratch, ignoring incremental cursors")
    run.add_argument("--quiet", action="store_true", help="no progress line even on a terminal")
    run.add_argument("--verbose", action="store_true", help="print the run's whole Dagster log at DEBUG, tracebacks included")
    run.add_argument("--configs", nargs="*", default=[], help=argparse.SUPPRESS)
    run.set_defaults(func=cmd_run)

    backfill = sub.add_parser(
        "backfill",
        help="load a backfilled resource's history windows (its partitions) in [--start, --end), each its own run",
        description="Runs, in this process (or N worker processes with --parallel N), each window of the resource's history assets that overlaps [--start, --end) "
        "and is not yet materialized on the Dagster instance of DAGSTER_HOME (a temporary one without it); "
        "exit 0 when every window loaded, 1 when one failed (run it again: only the missing windows run), 2 on a usage or config error.",
    )
    backfill.add_argument("api", help="the API's name (restsync list shows them)")
    backfill.add_argument("resource", help="a resource with a backfill block; its children load with it")
    backfill.add_argument("--start", help="first day (or ISO time) to load; default: backfill.start")
    backfill.add_argument("--end", help="day (or ISO time) to stop before; default: now")
    backfill.add_argument("--include-materialized", action="store_true", help="run the windows already materialized too")
    backfill.add_argument(
        "--parallel", type=int, default=1, metavar="N",
        help="windows at once, each its own run in a worker process (Postgres; at most the backfill block's parallelism)",
    )
    backfill.add_argument("--configs", nargs="*", default=[], help=argparse.SUPPRESS)
    backfill.set_defaults(func=cmd_backfill)

    probe = sub.add_parser("probe", help="check a config's assumptions against the API in a few read-only requests per resource")
    probe.add_argument("api")
    probe.add_argument("--resource", action="append", metavar="R", help="probe only this resource (repeatable)")
    probe.add_argument("--max-requests", type=int, default=3, help="requests per resource at most (default 3)")
    probe.add_argument("--json", action="store_true", help="the findings as JSON")
    probe.add_argument("--configs", nargs="*", default=[], help=argparse.SUPPRESS)
    probe.set_defaults(func=cmd_probe)

    new = sub.add_parser("new", help="write a commented config skeleton to configs/<API_NAME>.yaml (never overwrites)")
    new.add_argument("api_name", metavar="API_NAME", help="lower case letters, digits and '_'")
    new.add_argument("--dir", help="folder to write into (default: the configs folder)")
    new.set_defaults(func=cmd_new)

    airbyte = sub.add_parser(
        "import-airbyte",
        help="convert an Airbyte low-code manifest into a restsync config, listing what it could not map",
    )
    airbyte.add_argument("manifest", metavar="MANIFEST.yaml")
    airbyte.add_argument("-o", "--output", help="config file to write (default: print to stdout)")
    airbyte.add_argument("--name", help="API name (default: the output file's name, else the manifest's)")
    airbyte.add_argument("--force", action="store_true", help="overwrite the output file")
    airbyte.set_defaults(func=cmd_import_airbyte)

    simulate = sub.add_parser("simulate", help="start the local simulator of the five APIs (options: restsync simulate -- --help)")
    simulate.add_argument("--flavor", "--flavour", action="append", default=[], metavar="API:NAME",
                          help="answer as another real vendor would, e.g. ticket_desk:zoho (repeatable)")
    simulate.add_argument("simulator_args", nargs=argparse.REMAINDER)
    simulate.set_defaults(func=cmd_simulate)

    demo = sub.add_parser("demo", help="the simulator plus `dagster dev` on DuckDB")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=3000, help="Dagster UI port")
    demo.add_argument("--sim-port", type=int, default=8765)
    demo.add_argument("--login-port", type=int, default=8766)
    demo.add_argument("--mutate-every", type=float, default=60,
                      help="seconds between simulated upstream changes: 1%% of each resource updated or added (0: none)")
    demo.add_argument("--dagster-home", default=".dagster_home")
    demo.add_argument("--workspace", default="workspace.yaml")
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """The command; SIGPIPE is the default only while it runs (`restsync list | head` ends quietly),
    and put back after, so a caller in the same process (a test, a notebook) keeps Python's: with
    the default, that process dies the next time it writes to a closed socket."""
    previous = signal.signal(signal.SIGPIPE, signal.SIG_DFL) if hasattr(signal, "SIGPIPE") else None
    try:
        return _run(argv)
    finally:
        if previous is not None:
            signal.signal(signal.SIGPIPE, previous)


def _run(argv: Optional[Sequence[str]]) -> int:
    args = build_parser().parse_args(argv)  # argparse exits 2 on bad usage
    try:
        return int(args.func(args))
    except ConfigErrors as exc:
        print(f"error  {exc}", file=sys.stderr)
        return EXIT_USAGE
    except RestsyncError as exc:
        print(f"error  {exc}", file=sys.stderr)
        return EXIT_USAGE if args.command in ("new", "import-airbyte", "validate", "list") else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
