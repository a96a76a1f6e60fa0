"""`restsync run`: one in-process materialization of an API's assets and their checks, through Dagster.

Owns the Dagster instance it runs on (DAGSTER_HOME, else a temporary one), the live progress line on
a terminal (`progress`), and what it prints: rows per asset, failed checks, each failure once.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, Optional

from restsync_dagster.cli.config_files import load_named_api
from restsync_dagster.cli.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from restsync_dagster.config.errors import RestsyncError
from restsync_dagster.config.model import ApiConfig


def cmd_run(args: argparse.Namespace) -> int:
    api = load_named_api(args.configs, args.api)
    if api is None:
        return EXIT_USAGE
    unknown = [name for name in args.select or [] if name not in {r.name for r in api.resources}]
    if unknown:
        print(f"error  {api.name} has no resource {unknown}", file=sys.stderr)
        return EXIT_USAGE
    interactive = sys.stdout.isatty() and not args.quiet
    try:
        instance = cli_instance()
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
                print(f"failed {failure_text(event.event_specific_data)}", file=sys.stderr)
        if not args.verbose:
            print("(restsync run --verbose shows the run's debug log, tracebacks included)", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_FAILED if failed_checks else EXIT_OK


def failure_text(data: Any) -> str:
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


def cli_instance() -> Any:
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


def _execute(job: Any, instance: Any, run_config: dict[str, Any], full_refresh: bool, tag: str) -> Any:
    return job.execute_in_process(
        run_config=run_config,
        instance=instance,
        tags={tag: "true"} if full_refresh else None,
        raise_on_error=False,
    )
