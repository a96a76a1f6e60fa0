"""`restsync`: validate and list configs, run a one-shot materialization, start the simulator or the demo.

Exit codes scripts can trust: 0 success, 1 a run or check failed, 2 bad usage or a broken config.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Optional, Sequence

from restsync_dagster.config.errors import (
    ConfigError,
    ConfigErrors,
    MissingSettingError,
    RestsyncError,
)
from restsync_dagster.config.loading import configs_dir, load_api_config, load_config_dir
from restsync_dagster.config.model import ApiConfig

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
DEMO_STOP_SECONDS = 120
INSTANCE_TEMPLATE = Path(__file__).resolve().parents[1] / "instance" / "dagster.yaml"


def _configs(paths: Sequence[str]) -> tuple[list[ApiConfig], list[ConfigError]]:
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
                extra.append(f"incremental={resource.incremental.cursor_path} via ?{resource.incremental.param}=")
            if resource.delta:
                extra.append(f"delta from {resource.delta.path}")
            print(f"  - {resource.name:28} {resource.endpoint.path}  {' '.join(extra)}".rstrip())
    for error in errors:
        print(f"error  {error}", file=sys.stderr)
    return EXIT_USAGE if errors else EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
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
    interactive = sys.stdout.isatty() and not args.quiet
    try:
        instance = _instance()
    except RestsyncError as exc:
        print(f"error  {exc}", file=sys.stderr)
        return EXIT_USAGE
    result, progress = _materialize(api, args.select, args.full_refresh, interactive, instance, args.verbose)
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization  # type: ignore[union-attr]
        rows = materialization.metadata.get("rows_loaded")
        print(f"loaded {materialization.asset_key.to_user_string():40} rows={rows.value if rows else 0}")
    print(f"{api.name}: {progress.line()}")
    failed_checks = _report_checks(result)
    if not result.success:
        for event in result.all_events:
            if event.event_type_value == "STEP_FAILURE":
                print(f"failed {_failure_text(event.event_specific_data)}", file=sys.stderr)
        if not args.verbose:
            print("(restsync run --verbose shows the run's debug log, tracebacks included)", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_FAILED if failed_checks else EXIT_OK


def _failure_text(data: Any) -> str:
    """What a failed step says: our failure's description (runner.py raises one per run, short and
    redacted), else the error's message and the message of its innermost cause, without stacks."""
    user = getattr(data, "user_failure_data", None)
    if user is not None and user.description:
        return user.description.strip()
    error = data.error
    messages = [error.message.strip()]
    while error.cause is not None:
        error = error.cause
    if error is not data.error:
        messages.append(error.message.strip())
    return "\n       ".join(m for m in messages if m)


def _instance() -> Any:
    """The Dagster instance of DAGSTER_HOME, or a temporary one when it is not set.

    A DAGSTER_HOME that is relative, missing or a file is one line saying what to do, not a traceback.
    """
    from dagster import DagsterInstance

    home = os.environ.get("DAGSTER_HOME")
    if not home:
        return DagsterInstance.ephemeral()
    path = Path(home)
    fix = "or unset DAGSTER_HOME to run with a temporary instance"
    if not path.is_absolute():
        raise RestsyncError(f"DAGSTER_HOME={home} is a relative path; set it to an absolute folder ({path.resolve()}), {fix}")
    if not path.exists():
        raise RestsyncError(f"DAGSTER_HOME={home} does not exist; create the folder (mkdir -p {home}), {fix}")
    if not path.is_dir():
        raise RestsyncError(f"DAGSTER_HOME={home} is a file, not a folder; point it at a folder, {fix}")
    try:
        return DagsterInstance.get()
    except Exception as exc:  # noqa: BLE001 - e.g. a broken dagster.yaml: one line naming it
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise RestsyncError(f"DAGSTER_HOME={home}: the Dagster instance did not load ({first}); check {path / 'dagster.yaml'}") from None


def _report_checks(result: Any) -> int:
    """Print failed checks; return how many ERROR-severity checks failed (a WARN does not fail the command)."""
    from dagster import AssetCheckSeverity

    errors = 0
    for evaluation in result.get_asset_check_evaluations():
        if evaluation.passed:
            continue
        severity = evaluation.severity
        errors += severity == AssetCheckSeverity.ERROR
        print(
            f"check  {evaluation.asset_key.to_user_string()} {evaluation.check_name}: failed ({severity.value})",
            file=sys.stderr,
        )
    return errors


def _materialize(
    api: ApiConfig, select: Optional[list[str]], full_refresh: bool, interactive: bool, instance: Any, verbose: bool = False
) -> tuple[Any, Any]:
    """One in-process run of the API's assets (and their checks); a live progress line on a terminal.

    The terminal gets the run's warnings, one line each (and with --verbose, Dagster's whole debug
    log); each failure is printed once the run is over, by the caller."""
    from dagster import AssetKey, AssetSelection, Definitions
    from dagster._loggers import default_loggers
    from dagster_dlt import DagsterDltResource

    from restsync_dagster.cli.progress import (
        Display,
        PageCounting,
        Progress,
        progress_logger,
        warnings_logger,
    )
    from restsync_dagster.orchestration.assets import build_api_assets
    from restsync_dagster.orchestration.checks import table_checks
    from restsync_dagster.orchestration.pools import ensure_pool_slots
    from restsync_dagster.orchestration.runner import FULL_REFRESH_TAG

    names = select or [r.name for r in api.resources]
    progress = Progress(total_resources=len(names))
    defs = Definitions(
        assets=[build_api_assets(api)],
        asset_checks=[table_checks(api)],
        resources={"dlt": DagsterDltResource()},
        loggers={**default_loggers(), "restsync_progress": progress_logger(progress), "restsync_warnings": warnings_logger()},
    )
    keys = [AssetKey([api.name, name]) for name in names]
    job = defs.resolve_implicit_global_asset_job_def().get_subset(
        asset_selection=set(keys),
        asset_check_selection=set(AssetSelection.assets(*keys).resolve_checks(defs.resolve_asset_graph())),
    )
    ensure_pool_slots(instance, [api.name])
    # the progress line (terminal) or the summary lines replace dagster's log lines; warnings still show
    shown = {"console": {"config": {"log_level": "DEBUG"}}} if verbose else {"restsync_warnings": {}}
    run_config = {"loggers": {**shown, "restsync_progress": {}}}
    with PageCounting(progress):
        if interactive:
            with Display(progress, api.name):
                result = _execute(job, instance, run_config, full_refresh, FULL_REFRESH_TAG)
        else:
            result = _execute(job, instance, run_config, full_refresh, FULL_REFRESH_TAG)
    return result, progress


def _prepare_pools(home: Path) -> None:
    """Allocate every API's pool before dagster dev starts runs that would race to do it (pools.py)."""
    from dagster import DagsterInstance

    from restsync_dagster.orchestration.pools import ensure_pool_slots

    apis, _ = _configs([])
    with DagsterInstance.from_config(str(home)) as instance:
        ensure_pool_slots(instance, [api.name for api in apis])


def _execute(job: Any, instance: Any, run_config: dict[str, Any], full_refresh: bool, tag: str) -> Any:
    return job.execute_in_process(
        run_config=run_config,
        instance=instance,
        tags={tag: "true"} if full_refresh else None,
        raise_on_error=False,
    )


def cmd_probe(args: argparse.Namespace) -> int:
    """Read-only: a few requests per resource with the user's real settings; what held and what to change."""
    from restsync_dagster.extract.probe import as_json, as_text, probe_api

    apis, errors = _configs(args.configs)
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
    from restsync_dagster.config.airbyte.importer import import_file
    from restsync_dagster.config.loading import parse_api_config

    output = Path(args.output) if args.output else None
    name = args.name or (output.stem if output else None)
    imported = import_file(args.manifest, name=name)
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
    for line in imported.unmapped:
        print(f"unmapped  {line}", file=sys.stderr)
    if not imported.unmapped:
        print("every component was mapped", file=sys.stderr)
    return EXIT_OK


def cmd_simulate(args: argparse.Namespace) -> int:
    from restsync_dagster.simulator.__main__ import main as simulator_main

    flavors = [f"--flavor={spec}" for spec in args.flavor]  # `restsync simulate --flavor API:NAME` without `--`
    rest = args.simulator_args[1:] if args.simulator_args[:1] == ["--"] else args.simulator_args
    return simulator_main([*flavors, *rest])


def cmd_demo(args: argparse.Namespace) -> int:
    """Simulator in this process, `dagster dev` as a child process with the simulator's settings."""
    from restsync_dagster.simulator import Simulator

    if shutil.which("dagster") is None and not (Path(sys.executable).parent / "dagster").exists():
        print("error  the dagster command is missing; install the project first (pip install -e .)", file=sys.stderr)
        return EXIT_USAGE
    home = Path(args.dagster_home).resolve()  # prepared before the simulator starts: nothing to stop if it fails
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        shutil.copy(INSTANCE_TEMPLATE, home / "dagster.yaml")
    _prepare_pools(home)
    sim = Simulator(port=args.sim_port, login_port=args.login_port)
    if args.mutate_every:
        sim.start_mutator(every_seconds=args.mutate_every, fraction=0.01)
    sim.start()
    env = {**os.environ, **sim.env(), "DAGSTER_HOME": str(home)}
    dagster = str(Path(sys.executable).parent / "dagster") if (Path(sys.executable).parent / "dagster").exists() else "dagster"
    command = [dagster, "dev", "-w", str(Path(args.workspace).resolve()), "-h", args.host, "-p", str(args.port)]
    print(f"simulator  {sim.base_url('service_desk').rsplit('/', 1)[0]}  (control plane: /_sim/health)")
    print(f"dagster    http://{args.host}:{args.port}   DAGSTER_HOME={home}")
    if (Path.cwd() / "dagster.yaml").exists():
        print("           (dagster dev warns that ./dagster.yaml is not used: DAGSTER_HOME holds its copy)")
    # Stop dagster dev through its shutdown pipe, not SIGINT: a process started in the background
    # ignores SIGINT (and dagster dev maps SIGTERM onto it), so a signal would leave it running.
    shutdown_read, shutdown_write = os.pipe()
    command += ["--shutdown-pipe", str(shutdown_read)]
    # a session of its own: on Ctrl-C the terminal signals only this process, which stops dagster dev
    # through the pipe; if that hangs, the whole group (webserver, daemon, code server) is killed
    child = subprocess.Popen(command, env=env, pass_fds=[shutdown_read], start_new_session=True)
    os.close(shutdown_read)
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops the demo too, not only Ctrl-C
    try:
        return child.wait()
    except KeyboardInterrupt:
        from dagster_shared.ipc import send_ipc_shutdown_message

        for stop_signal in (signal.SIGINT, signal.SIGTERM):  # one request to stop is enough; a second
            signal.signal(stop_signal, signal.SIG_IGN)  # must not leave dagster dev running alone
        send_ipc_shutdown_message(shutdown_write)  # dagster dev stops its webserver, daemon and code server
        try:
            return child.wait(timeout=DEMO_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            return child.wait()
    finally:
        sim.stop()  # only once dagster dev is gone: its sensors poll the simulator until then


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


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
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `restsync list | head` ends quietly
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
