"""`restsync simulate` and `restsync demo`: the local simulator alone, or with `dagster dev` beside it.

Owns the demo's Dagster home (the instance template copied, every API's pool allocated before
dagster dev starts) and stopping dagster dev cleanly on Ctrl-C or `kill`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from restsync_dagster.cli.config_files import load_configs
from restsync_dagster.cli.exit_codes import EXIT_USAGE

DEMO_STOP_SECONDS = 120
INSTANCE_TEMPLATE = Path(__file__).resolve().parents[1] / "instance" / "dagster.yaml"


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


def _prepare_pools(home: Path) -> None:
    """Allocate every API's pool before dagster dev starts runs that would race to do it (pools.py)."""
    from dagster import DagsterInstance

    from restsync_dagster.orchestration.pools import ensure_pool_slots, history_slots

    apis, _ = load_configs([])
    with DagsterInstance.from_config(str(home)) as instance:
        ensure_pool_slots(instance, [api.name for api in apis], history_slots(apis))
