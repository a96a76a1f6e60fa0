"""Start-up: time to load the code location (`dagster definitions validate -m
restsync_dagster.definitions`) in a fresh process, with the five shipped APIs and with generated
sets of APIs x 30 resources in a temp `RESTSYNC_CONFIGS_DIR`; an empty folder gives the fixed cost
(Python, dagster, dlt imports), the rest divided by the asset count shows whether growth is linear.

    .venv/bin/python benchmarks/startup.py [--apis 0 10 25 50] [--resources 30] [--repeat 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Optional

import yaml
from _common import ROOT, table

PAGINATORS = [
    {"type": "header_link"},
    {"type": "json_link", "next_url_path": "_links.next.href"},
    {"type": "offset", "limit": 100},
    {"type": "page_number", "page_param": "page", "base_page": 1},
]


def generated_api(index: int, resources: int) -> dict[str, object]:
    """One API of the generated set: top-level resources, every sixth a child of the one before."""
    items: list[dict[str, object]] = []
    for number in range(resources):
        name = f"resource_{number:02d}"
        if number % 6 == 5:
            parent = f"resource_{number - 1:02d}"
            path = f"/v1/{parent}/{{resources.{parent}.id}}/items"
        else:
            path = f"/v1/{name}"
        resource: dict[str, object] = {"name": name, "endpoint": {"path": path, "paginator": PAGINATORS[number % len(PAGINATORS)]}}
        if number % 3 == 0 and number % 6 != 5:
            resource["incremental"] = {"cursor_path": "updated_at", "param": "updated_since", "initial_value": "2024-01-01T00:00:00Z"}
        items.append(resource)
    return {
        "description": f"Generated API {index} for the start-up benchmark.",
        "client": {"base_url": f"http://127.0.0.1:9/api_{index}", "auth": {"type": "bearer", "token": "${secrets.token}"}},
        "resource_defaults": {"primary_key": "id", "write_disposition": "merge", "endpoint": {"data_selector": "data", "params": {"per_page": 100}}},
        "resources": items,
    }


def write_configs(folder: Path, apis: int, resources: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(apis):
        (folder / f"gen_api_{index:03d}.yaml").write_text(yaml.safe_dump(generated_api(index, resources), sort_keys=False))


def validate_seconds(configs_dir: Optional[Path]) -> float:
    env = dict(os.environ)
    if configs_dir is not None:
        env["RESTSYNC_CONFIGS_DIR"] = str(configs_dir)
    env["DAGSTER_HOME"] = tempfile.mkdtemp(prefix="restsync-startup-home-")
    dagster = Path(os.sys.executable).parent / "dagster"  # type: ignore[attr-defined]
    started = time.perf_counter()
    done = subprocess.run([str(dagster), "definitions", "validate", "-m", "restsync_dagster.definitions"],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    shutil.rmtree(env["DAGSTER_HOME"], ignore_errors=True)
    if done.returncode != 0:
        raise SystemExit(f"dagster definitions validate failed ({configs_dir}):\n{done.stderr[-2000:]}")
    return seconds


def asset_count(configs_dir: Optional[Path]) -> int:
    from restsync_dagster.config.loading import configs_dir as shipped_dir
    from restsync_dagster.config.loading import load_config_dir

    apis, _ = load_config_dir(configs_dir or shipped_dir())
    return sum(len(api.resources) for api in apis)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--apis", type=int, nargs="+", default=[0, 10, 25, 50])
    parser.add_argument("--resources", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="restsync-startup-") as temp:
        cases: list[tuple[str, Optional[Path]]] = [("shipped (5 APIs)", None)]
        for apis in args.apis:
            folder = Path(temp) / f"apis_{apis}"
            write_configs(folder, apis, args.resources)
            cases.append((f"generated {apis} x {args.resources}", folder))
        times: dict[str, list[float]] = {name: [] for name, _ in cases}
        for attempt in range(args.repeat):
            for name, folder in cases if attempt % 2 == 0 else list(reversed(cases)):
                times[name].append(validate_seconds(folder))
                print(f"{name}: {times[name][-1]:.2f} s", flush=True)
        assets = {name: asset_count(folder) for name, folder in cases}
    fixed = min(times[cases[1][0]]) if args.apis and args.apis[0] == 0 else 0.0
    rows = []
    for name, _ in cases:
        best = min(times[name])
        per_asset = f"{(best - fixed) / assets[name] * 1000:.1f}" if assets[name] and fixed else "-"
        goal = "< 10 s, linear" if assets[name] >= 1500 else ""
        rows.append([name, assets[name], ", ".join(f"{t:.2f}" for t in times[name]), f"{best:.2f}", f"{best - fixed:.2f}" if fixed else "-", per_asset, goal])
    table(
        "Start-up: `dagster definitions validate -m restsync_dagster.definitions`, fresh process",
        ["configs", "assets", "runs (s)", "best (s)", "above empty folder (s)", "ms per asset", "goal"],
        rows,
        "startup",
    )


if __name__ == "__main__":
    main()
