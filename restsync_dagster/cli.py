"""`restsync`: validate and list configs, run a one-shot materialization, start the simulator or the demo.

Exit codes scripts can trust: 0 success, 1 a run or check failed, 2 bad usage or a broken config.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Optional, Sequence

from restsync_dagster.config import ApiConfig, load_api_config, load_config_dir
from restsync_dagster.errors import ConfigError, ConfigErrors, RestsyncError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
INSTANCE_TEMPLATE = Path(__file__).resolve().parent / "instance" / "dagster.yaml"


def _configs(paths: Sequence[str]) -> tuple[list[ApiConfig], list[ConfigError]]:
    from restsync_dagster.definitions import configs_dir

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


def cmd_validate(args: argparse.Namespace) -> int:
    apis, errors = _configs(args.configs)
    for api in apis:
        print(f"ok     {api.source_file}: {api.name}, {len(api.resources)} resources")
    for error in errors:
        print(f"error  {error}", file=sys.stderr)
    return EXIT_USAGE if errors else EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    apis, errors = _configs(args.configs)
    for api in apis:
        print(f"{api.name}  ({api.source_file})  base_url={api.client.base_url}")
        for resource in api.resources:
            extra = []
            if resource.parent:
                extra.append(f"parent={resource.parent}")
            if resource.incremental:
                extra.append(f"incremental={resource.incremental.cursor_path} via ?{resource.incremental.param}=")
            print(f"  - {resource.name:28} {resource.endpoint.path}  {' '.join(extra)}".rstrip())
    for error in errors:
        print(f"error  {error}", file=sys.stderr)
    return EXIT_USAGE if errors else EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from dagster import AssetKey, DagsterInstance, materialize
    from dagster_dlt import DagsterDltResource

    from restsync_dagster.assets import build_api_assets

    apis, errors = _configs(args.configs)
    for error in errors:
        print(f"error  {error}", file=sys.stderr)
    api = next((a for a in apis if a.name == args.api), None)
    if api is None:
        print(f"error  no API named '{args.api}' (known: {', '.join(a.name for a in apis)})", file=sys.stderr)
        return EXIT_USAGE
    unknown = [name for name in args.select or [] if name not in {r.name for r in api.resources}]
    if unknown:
        print(f"error  {api.name} has no resource {unknown}", file=sys.stderr)
        return EXIT_USAGE
    selection = [AssetKey([api.name, name]) for name in args.select] if args.select else None
    instance = DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else DagsterInstance.ephemeral()
    result = materialize(
        [build_api_assets(api)],
        resources={"dlt": DagsterDltResource()},
        selection=selection,
        instance=instance,
        tags={"restsync/full_refresh": "true"} if args.full_refresh else None,
        raise_on_error=False,
    )
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization  # type: ignore[union-attr]
        rows = materialization.metadata.get("rows_loaded")
        print(f"loaded {materialization.asset_key.to_user_string():40} rows={rows.value if rows else 0}")
    if not result.success:
        for event in result.all_events:
            if event.event_type_value == "STEP_FAILURE":
                print(f"failed {event.event_specific_data.error.message.strip()}", file=sys.stderr)  # type: ignore[union-attr]
        return EXIT_FAILED
    return EXIT_OK


def cmd_simulate(args: argparse.Namespace) -> int:
    from restsync_dagster.simulator.__main__ import main as simulator_main

    return simulator_main(args.simulator_args)


def cmd_demo(args: argparse.Namespace) -> int:
    """Simulator in this process, `dagster dev` as a child process with the simulator's settings."""
    from restsync_dagster.simulator import Simulator

    if shutil.which("dagster") is None and not (Path(sys.executable).parent / "dagster").exists():
        print("error  the dagster command is missing; install the project first (pip install -e .)", file=sys.stderr)
        return EXIT_USAGE
    sim = Simulator(port=args.sim_port, login_port=args.login_port)
    if args.mutate_every:
        sim.start_mutator(every_seconds=args.mutate_every, fraction=0.01)  # type: ignore[attr-defined]
    sim.start()
    home = Path(args.dagster_home).resolve()
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        shutil.copy(INSTANCE_TEMPLATE, home / "dagster.yaml")
    env = {**os.environ, **sim.env(), "DAGSTER_HOME": str(home)}
    dagster = str(Path(sys.executable).parent / "dagster") if (Path(sys.executable).parent / "dagster").exists() else "dagster"
    command = [dagster, "dev", "-w", str(Path(args.workspace).resolve()), "-h", args.host, "-p", str(args.port)]
    print(f"simulator  {sim.base_url('service_desk').rsplit('/', 1)[0]}  (control plane: /_sim/health)")
    print(f"dagster    http://{args.host}:{args.port}   DAGSTER_HOME={home}")
    child = subprocess.Popen(command, env=env)
    try:
        return child.wait()
    except KeyboardInterrupt:
        child.send_signal(signal.SIGINT)
        return child.wait()
    finally:
        sim.stop()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="restsync", description="REST APIs as Dagster assets, loaded by dlt.")
    sub = parser.add_subparsers(dest="command", required=True)

    validate = sub.add_parser("validate", help="check config files; every error at once, with file, resource and field")
    validate.add_argument("configs", nargs="*", help="YAML files or folders (default: the configs folder)")
    validate.set_defaults(func=cmd_validate)

    listing = sub.add_parser("list", help="APIs, resources, parents and incremental settings")
    listing.add_argument("configs", nargs="*")
    listing.set_defaults(func=cmd_list)

    run = sub.add_parser("run", help="materialize one API's assets now, through Dagster")
    run.add_argument("api")
    run.add_argument("--select", nargs="+", metavar="RESOURCE", help="only these resources")
    run.add_argument("--full-refresh", action="store_true", help="reload from scratch, ignoring incremental cursors")
    run.add_argument("--configs", nargs="*", default=[], help=argparse.SUPPRESS)
    run.set_defaults(func=cmd_run)

    simulate = sub.add_parser("simulate", help="start the local simulator of the five APIs (options: restsync simulate -- --help)")
    simulate.add_argument("simulator_args", nargs=argparse.REMAINDER)
    simulate.set_defaults(func=cmd_simulate)

    demo = sub.add_parser("demo", help="the simulator plus `dagster dev` on DuckDB")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=3000, help="Dagster UI port")
    demo.add_argument("--sim-port", type=int, default=8765)
    demo.add_argument("--login-port", type=int, default=8766)
    demo.add_argument("--mutate-every", type=float, default=0, help="seconds between simulated upstream changes (0: none)")
    demo.add_argument("--dagster-home", default=".dagster_home")
    demo.add_argument("--workspace", default="workspace.yaml")
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `restsync list | head` ends quietly
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except RestsyncError as exc:
        print(f"error  {exc}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
