"""Separate processes sending paced requests to a rate-limited simulator: is the budget shared?"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Callable, Optional

from restsync_dagster.simulator import Simulator
from restsync_dagster_tests.support.paths import PROJECT_ROOT

SENDER = """
import sys, requests
from pathlib import Path
from restsync_dagster.http.ratelimit import budget_for, machine_budget
url, key, rate, requests_each, where = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
if where == "process":
    budget = budget_for("service_desk", rate)
elif where == "destination":
    from restsync_dagster.load.request_budget import shared_budget
    budget = shared_budget("service_desk", rate)
else:
    budget = machine_budget("service_desk", rate, Path(where))
print("ready", flush=True)
sys.stdin.readline()  # all senders start together
with requests.Session() as session:
    for _ in range(requests_each):
        budget.acquire()
        print(session.get(url, auth=(key, "X"), timeout=10).status_code, flush=True)
"""


def send_from_processes(
    sim: Simulator, rate: float, where: str, processes: int = 4, each: int = 12, env: Optional[dict[str, str]] = None,
    env_each: Callable[[int], dict[str, str]] = lambda index: {},
) -> list[int]:
    """`processes` separate processes, each pacing its requests by `where` (its own budget, or the
    machine's book in a folder, or "destination": the shared budget of the destination in `env`),
    process i with `env_each(i)` on top, all sending to the rate-limited simulator at once; the
    statuses it served."""
    env = {**os.environ, **(env or {}), "PYTHONPATH": str(PROJECT_ROOT)}
    url = sim.env()["SOURCES__SERVICE_DESK__BASE_URL"] + "/v1/agents"
    key = sim.env()["SOURCES__SERVICE_DESK__API_KEY"]
    senders = [
        subprocess.Popen([sys.executable, "-c", SENDER, url, key, str(rate), str(each), where], env={**env, **env_each(index)},
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for index in range(processes)
    ]
    for sender in senders:
        assert sender.stdout is not None and sender.stdout.readline().strip() == "ready"
    time.sleep(1.1)  # a full bucket on the simulator
    sim.clear_request_log()
    for sender in senders:
        assert sender.stdin is not None
        sender.stdin.write("go\n")
        sender.stdin.flush()
    for sender in senders:
        sender.communicate(timeout=60)
        assert sender.returncode == 0
    return [entry["status"] for entry in sim.request_log]
